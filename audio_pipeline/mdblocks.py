"""Blocks of a Markdown transcript that are never spoken. Pure.

``blank_unspoken`` returns the lines with every such block blanked (line numbers stay
the same) and one notice per block: code, tables, ``<details>`` (usually a second copy
of the text), footnote definitions, tables of contents. HTML comments, link
definitions and rules are blanked silently: they are never content.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from . import markers
from .mdtext import strip_timestamps
from .model import Notice

_FENCE = re.compile(r"^[ \t]{0,3}(`{3,}|~{3,})")
_RULE = re.compile(r"^[ \t]{0,3}(?:(?:-[ \t]*){3,}|(?:\*[ \t]*){3,}|(?:_[ \t]*){3,})$")
# "[ref]: https://…" — not "[SPEAKER_00]: text": the target is a URL or a path.
_LINK_DEF = re.compile(
    r"^[ \t]{0,3}\[[^\]^]+\]:[ \t]*<?(?:[a-zA-Z][\w+.-]*:\S|[/#.]|www\.)\S*>?(?:[ \t]+[\"'(].*)?[ \t]*$"
)
_FOOTNOTE_DEF = re.compile(r"^[ \t]{0,3}\[\^[^\]]+\]:")
_DETAILS_OPEN = re.compile(r"<details\b", re.IGNORECASE)
_DETAILS_CLOSE = re.compile(r"</details\s*>", re.IGNORECASE)
_RAW_OPEN = re.compile(r"^[ \t]*<(script|style|table|pre)\b", re.IGNORECASE)
_TABLE_ROW = re.compile(r"^[ \t]*\|.*\|[ \t]*$|^[^|\n]+\|[^|\n]+")
_TABLE_DELIM = re.compile(
    r"^[ \t]*\|?[ \t]*:?-{2,}:?[ \t]*(?:\|[ \t]*:?-{2,}:?[ \t]*)+\|?[ \t]*$|^[ \t]*\|[ \t]*:?-{2,}:?[ \t]*\|"
)
_LIST_ITEM = re.compile(r"^[ \t]*(?:[-*+]|\d{1,3}[.)])[ \t]+(?P<body>.*)$")
_LINK = re.compile(r"\[[^\]]*\]\([^)]*\)")
_HEADING = re.compile(r"^[ \t]{0,3}(?P<hashes>#{1,6})[ \t]+(?P<text>.*?)[ \t]*#*[ \t]*$")
_TOC_TITLE = re.compile(
    r"^(?:table of contents|contents|toc|chapters|chapter list|timestamps|time ?stamps|timeline|"
    r"outline|目录|章节|章节目录|时间轴|时间线|时间戳|本期目录|内容目录)\W*$",
    re.IGNORECASE,
)


# Caption files pasted as a transcript: cue timings, with an id or number above each.
_CUE = re.compile(r"^[ \t]*(?:\d{1,2}:)?\d{1,2}:\d{2}[.,]\d{3}[ \t]*-->[ \t]*(?:\d{1,2}:)?\d{1,2}:\d{2}[.,]\d{3}")


def _blank_caption_ids(lines: list[str]) -> None:
    """WEBVTT headers and cue ids (a number, a UUID) are not speech."""
    cues = [i for i, line in enumerate(lines) if _CUE.match(line)]
    if len(cues) < 2:
        return
    for i, line in enumerate(lines):
        if line.strip().startswith("WEBVTT"):
            lines[i] = ""
    for i in cues:
        above = lines[i - 1].strip() if i else ""
        if above and " " not in above and not _HEADING.match(above):
            lines[i - 1] = ""


_SPEAKER_COLUMN = re.compile(r"^(?:speaker|name|who|person|发言人|说话人|讲者|角色|姓名)$", re.IGNORECASE)
_TEXT_COLUMN = re.compile(
    r"^(?:text|transcript|content|utterance|speech|words|内容|文本|发言|原文|转写)$", re.IGNORECASE
)
_TIME_COLUMN = re.compile(r"^(?:time|timestamp|start|时间|开始)$", re.IGNORECASE)


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _table_as_turns(lines: list[str], start: int, end: int) -> bool:
    """A table with a speaker column and a text column ("| Time | Speaker | Text |", an
    export of a call-analytics tool) is the transcript: each row becomes a turn line,
    ``[time] **Speaker:** text``, on the row's own line. Other tables are not read."""
    header = [clean.strip("*_ ") for clean in _cells(lines[start])]
    who = next((k for k, h in enumerate(header) if _SPEAKER_COLUMN.match(h)), None)
    said = next((k for k, h in enumerate(header) if _TEXT_COLUMN.match(h)), None)
    if who is None or said is None:
        return False
    when = next((k for k, h in enumerate(header) if _TIME_COLUMN.match(h)), None)
    lines[start] = lines[start + 1] = ""
    for j in range(start + 2, end):
        cells = _cells(lines[j])
        name = cells[who] if who < len(cells) else ""
        text = cells[said] if said < len(cells) else ""
        stamp = f"[{cells[when]}] " if when is not None and when < len(cells) and cells[when] else ""
        lines[j] = f"{stamp}**{name}:** {text}" if name else f"{stamp}{text}"
    return True


def heading(line: str) -> tuple[int, str] | None:
    m = _HEADING.match(line)
    return (len(m.group("hashes")), m.group("text")) if m else None


def _strip_comments(lines: list[str]) -> list[str]:
    """Blank out HTML comments, which may span lines."""
    out: list[str] = []
    in_comment = False
    for line in lines:
        result, rest = "", line
        while rest:
            if in_comment:
                end = rest.find("-->")
                rest, in_comment = ("", True) if end < 0 else (rest[end + 3 :], False)
            else:
                start = rest.find("<!--")
                if start < 0:
                    result, rest = result + rest, ""
                else:
                    result, rest, in_comment = result + rest[:start], rest[start + 4 :], True
        out.append(result)
    return out


def _tocish(body: str) -> bool:
    """A list item that is mostly a link or starts with a timestamp."""
    rest, time = strip_timestamps(body)
    found = markers.find(rest)
    if found is not None and (found.kind is markers.Kind.COLON or markers.is_generic(found.name)):
        return False  # a turn in a bulleted transcript
    links = _LINK.findall(rest)
    if time is None and not links:
        return False
    words = _LINK.sub("", rest).split()
    return len(words) <= 12


class _Scan:
    def __init__(self, lines: list[str], first: int) -> None:
        self.lines = lines
        self.first = first
        self.notices: list[Notice] = []

    def blank(self, start: int, end: int, what: str | None) -> int:
        for i in range(start, end):
            self.lines[i] = ""
        if what:
            self.notices.append(Notice(self.first + start, f"{what} not read"))
        return end

    def until(self, start: int, done: re.Pattern[str], opener: re.Pattern[str] | None = None) -> int:
        """Index after the line closing a block opened at ``start`` (nesting counted)."""
        depth = 0
        for i in range(start, len(self.lines)):
            line = self.lines[i]
            if opener is not None:
                depth += len(opener.findall(line))
            depth -= len(done.findall(line))
            if (opener is None and i > start and done.search(line)) or (opener is not None and depth <= 0):
                return i + 1
        return len(self.lines)


_SETEXT = re.compile(r"^[ \t]{0,3}(=+|-+)[ \t]*$")


def _setext_headings(lines: list[str]) -> None:
    """"Title" over "=====" is a "# " heading, over "-----" a "## " one (one-line paragraphs)."""
    for i in range(1, len(lines)):
        m = _SETEXT.match(lines[i])
        above = lines[i - 1]
        if not m or not above.strip() or (i >= 2 and lines[i - 2].strip()):
            continue
        if heading(above) or _LIST_ITEM.match(above) or _FENCE.match(above):
            continue
        if above.lstrip().startswith((">", "|", "<")):
            continue
        if m.group(1)[0] == "-" and len(m.group(1)) < 2:
            continue
        lines[i - 1] = ("# " if m.group(1)[0] == "=" else "## ") + above.strip()
        lines[i] = ""


def _code(scan: _Scan, i: int) -> int | None:
    fence = _FENCE.match(scan.lines[i])
    if not fence:
        return None
    lines, mark = scan.lines, fence.group(1)
    end = next(
        (j + 1 for j in range(i + 1, len(lines)) if lines[j].strip().startswith(mark[0] * len(mark))),
        len(lines),
    )
    return scan.blank(i, end, "code block")


def _details(scan: _Scan, i: int) -> int | None:
    if not _DETAILS_OPEN.search(scan.lines[i]):
        return None
    return scan.blank(i, scan.until(i, _DETAILS_CLOSE, _DETAILS_OPEN), "<details> block")


def _raw_html(scan: _Scan, i: int) -> int | None:
    raw = _RAW_OPEN.match(scan.lines[i])
    if not raw:
        return None
    close = re.compile(rf"</{raw.group(1)}\s*>", re.IGNORECASE)
    end = i + 1 if close.search(scan.lines[i]) else scan.until(i, close)
    return scan.blank(i, end, f"HTML <{raw.group(1).lower()}> block")


def _table(scan: _Scan, i: int) -> int | None:
    lines = scan.lines
    if not (_TABLE_ROW.match(lines[i]) and i + 1 < len(lines) and _TABLE_DELIM.match(lines[i + 1])):
        return None
    end = i + 2
    while end < len(lines) and lines[end].strip() and "|" in lines[end]:
        end += 1
    # A table that is the transcript has its rows turned into turns; others go.
    return end if _table_as_turns(lines, i, end) else scan.blank(i, end, "table")


def _footnote(scan: _Scan, i: int) -> int | None:
    lines = scan.lines
    if not _FOOTNOTE_DEF.match(lines[i]):
        return None
    end = i + 1
    while end < len(lines) and lines[end].startswith(("    ", "\t")) and lines[end].strip():
        end += 1
    return scan.blank(i, end, "footnote")


def _rule_or_link(scan: _Scan, i: int) -> int | None:
    """Rules and link definitions: never content, blanked without a notice."""
    if not (_RULE.match(scan.lines[i]) or _LINK_DEF.match(scan.lines[i])):
        return None
    scan.lines[i] = ""
    return i + 1


def _toc_section(scan: _Scan, i: int) -> int | None:
    """A heading like "Contents" and everything under it, to the next heading of its level."""
    lines = scan.lines
    head = heading(lines[i])
    if not (head and _TOC_TITLE.match(strip_timestamps(head[1])[0].strip(" *_"))):
        return None
    end = i + 1
    while end < len(lines) and not ((h := heading(lines[end])) and h[0] <= head[0]):
        end += 1
    return scan.blank(i, end, "table of contents")


def _list(scan: _Scan, i: int) -> int | None:
    """A list: blanked when most of its items are links or timestamps (a table of contents)."""
    lines = scan.lines
    if not _LIST_ITEM.match(lines[i]):
        return None
    end = i
    items: list[str] = []
    while end < len(lines) and (m := _LIST_ITEM.match(lines[end])):
        items.append(m.group("body"))
        end += 1
    if len(items) >= 2 and sum(map(_tocish, items)) * 10 >= len(items) * 6:
        return scan.blank(i, end, "table of contents")
    return end


#: The blocks looked for at each line, in this order: each gives the index after the block
#: it found there (blanked, or read as it is), or None.
_BLOCKS: tuple[Callable[[_Scan, int], int | None], ...] = (
    _code, _details, _raw_html, _table, _footnote, _rule_or_link, _toc_section, _list,
)  # fmt: skip


def blank_unspoken(lines: list[str], first_number: int) -> tuple[list[str], list[Notice]]:
    """``first_number``: the file line number of ``lines[0]``."""
    scan = _Scan(_strip_comments(list(lines)), first_number)
    lines = scan.lines
    _blank_caption_ids(lines)
    _setext_headings(lines)
    i = 0
    while i < len(lines):
        i = next((end for block in _BLOCKS if (end := block(scan, i)) is not None), i + 1)
    return lines, scan.notices
