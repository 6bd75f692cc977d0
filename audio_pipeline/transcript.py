"""Markdown interview transcript -> Transcript. ``parse`` is pure: text in, values out."""

from __future__ import annotations

import datetime as _dt
import html
import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from . import yamlsafe
from .errors import TranscriptError
from .model import Section, Transcript, Turn

MAX_NAME = 40
_COLON = "[:：]"
_TIME = (
    r"(?:\[\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d+)?\]"
    r"|\(\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d+)?\)"
    r"|（\d{1,2}:\d{2}(?::\d{2})?）)"
)
# Optional list bullet or quote marker, then a bold name with its colon inside or
# right after the closing stars, with an optional timestamp on either side.
_BOLD_MARKER = re.compile(
    rf"^[ \t]*(?:[-*+][ \t]+|>[ \t]*)?(?:{_TIME}[ \t]*)?"
    rf"\*\*[ \t]*(?P<name>[^*\n]+?)[ \t]*(?:{_TIME}[ \t]*)?(?P<inner>{_COLON})?[ \t]*\*\*"
    rf"[ \t]*(?:{_TIME}[ \t]*)?(?P<outer>{_COLON})?[ \t]*(?:{_TIME}[ \t]*)?"
)
_PLAIN_MARKER = re.compile(
    rf"^[ \t]*(?:[-*+][ \t]+|>[ \t]*)?(?:{_TIME}[ \t]*)?(?P<name>[^:：\s*#>\[\]()][^:：*\n]*?)"
    rf"[ \t]*(?:{_TIME}[ \t]*)?{_COLON}[ \t]*(?:{_TIME}[ \t]*)?"
)
_SENTENCE_PUNCT = set("。！？!?，,；;、…")
_HEADING = re.compile(r"^[ \t]{0,3}(?P<hashes>#{1,6})[ \t]+(?P<text>.*?)[ \t]*#*[ \t]*$")
_RULE = re.compile(r"^[ \t]{0,3}(?:(?:-[ \t]*){3,}|(?:\*[ \t]*){3,}|(?:_[ \t]*){3,})$")
_FENCE = re.compile(r"^[ \t]{0,3}(```|~~~)")
_LINK_DEF = re.compile(r"^[ \t]{0,3}\[[^\]]+\]:\s*\S+")
_FOOTNOTE_DEF = re.compile(r"^[ \t]{0,3}\[\^[^\]]+\]:")

_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)|!\[[^\]]*\]\[[^\]]*\]")
_FOOTNOTE_REF = re.compile(r"\[\^[^\]]+\]")
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)|\[([^\]]*)\]\[[^\]]*\]")
_AUTOLINK = re.compile(r"<(?:https?|mailto|ftp):[^>\s]*>")
_HTML_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>")
_CODE = re.compile(r"`+([^`]*)`+")
_STRONG = re.compile(r"\*\*|__(?=\S)|(?<=\S)__")
_EM_STAR = re.compile(r"(?<![*\w])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![*\w])")
_EM_UNDERSCORE = re.compile(r"(?<![_\w])_(?=\S)([^_\n]+?)(?<=\S)_(?![_\w])")
_STRIKE = re.compile(r"~~(.+?)~~")
_BULLET = re.compile(r"^[ \t]*(?:[-*+]|\d{1,3}[.)])[ \t]+")
_QUOTE = re.compile(r"^[ \t]*(?:>[ \t]?)+")
_CJK = re.compile(r"[\u2e80-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef]")


def is_speakable(text: str) -> bool:
    """True when ``text`` holds at least one letter or digit."""
    return any(unicodedata.category(ch)[0] in "LN" for ch in text)


def clean_inline(text: str) -> str:
    """Strip inline Markdown, keeping what a listener should hear."""
    text = _IMAGE.sub("", text)
    text = _FOOTNOTE_REF.sub("", text)
    text = _LINK.sub(lambda m: m.group(1) if m.group(1) is not None else m.group(2), text)
    text = _AUTOLINK.sub("", text)
    text = _HTML_TAG.sub("", text)
    text = _CODE.sub(r"\1", text)
    text = _STRIKE.sub(r"\1", text)
    text = _STRONG.sub("", text)
    text = _EM_STAR.sub(r"\1", text)
    text = _EM_UNDERSCORE.sub(r"\1", text)
    text = html.unescape(text)
    return re.sub(r"[ \t\u00a0\u3000]+", " ", text).strip()


def _join_lines(lines: Iterable[str]) -> str:
    """Join soft-wrapped lines: no space between CJK characters, one space otherwise."""
    out = ""
    for line in lines:
        if not line:
            continue
        if out and not (_CJK.match(out[-1]) and _CJK.match(line[0])):
            out += " "
        out += line
    return out


def _strip_comments(lines: list[str]) -> list[str]:
    """Blank out HTML comments (which may span lines) and fenced code, keeping line count."""
    out: list[str] = []
    in_comment = False
    fence: str | None = None
    for line in lines:
        if fence is not None:
            out.append("")
            if line.strip().startswith(fence):
                fence = None
            continue
        if not in_comment:
            m = _FENCE.match(line)
            if m:
                fence = m.group(1)
                out.append("")
                continue
        result = ""
        rest = line
        while rest:
            if in_comment:
                end = rest.find("-->")
                if end < 0:
                    rest = ""
                else:
                    rest = rest[end + 3 :]
                    in_comment = False
            else:
                start = rest.find("<!--")
                if start < 0:
                    result += rest
                    rest = ""
                else:
                    result += rest[:start]
                    rest = rest[start + 4 :]
                    in_comment = True
        out.append(result)
    return out


def _marker_name(raw: str) -> str | None:
    name = clean_inline(raw).strip()
    if not name or len(name) > MAX_NAME or any(ch in _SENTENCE_PUNCT for ch in name):
        return None
    if not is_speakable(name):
        return None
    return name


def _bold_marker(line: str) -> tuple[str, str] | None:
    """(name, rest of line) when ``line`` opens with a bold speaker marker."""
    m = _BOLD_MARKER.match(line)
    if not m or (m.group("inner") is None) == (m.group("outer") is None):
        return None
    name = _marker_name(m.group("name"))
    return (name, line[m.end() :]) if name else None


def _plain_marker(line: str, known: set[str]) -> tuple[str, str] | None:
    m = _PLAIN_MARKER.match(line)
    if not m:
        return None
    name = clean_inline(m.group("name")).strip()
    return (name, line[m.end() :]) if name in known else None


def _front_matter(lines: list[str], source: str) -> tuple[dict[str, Any], int]:
    """Return (metadata, index of the first body line)."""
    if not lines or lines[0].strip() != "---":
        return {}, 0
    for i in range(1, len(lines)):
        if lines[i].strip() in ("---", "..."):
            doc = yamlsafe.load("\n".join(lines[1:i]), source, first_line=2, error=TranscriptError)
            if doc.data is None:
                return {}, i + 1
            if not isinstance(doc.data, dict):
                raise TranscriptError("front matter must be a mapping of keys", path=source, line=2)
            return _plain_meta(doc.data), i + 1
    raise TranscriptError("front matter opened here is never closed with '---'", path=source, line=1)


def _plain_meta(value: Any) -> Any:
    """Dates become ISO strings so metadata is JSON-ready and hashable as text."""
    if isinstance(value, dict):
        return {str(k): _plain_meta(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain_meta(v) for v in value]
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()
    return value


class _Builder:
    """Accumulates sections and turns while the lines are scanned."""

    def __init__(self) -> None:
        self.sections: list[tuple[str | None, int, list[Turn]]] = []
        self.turn_speaker: str | None = None
        self.turn_line = 0
        self.paragraphs: list[str] = []
        self.lines: list[str] = []
        self.open = False

    def new_section(self, title: str | None, line: int) -> None:
        self.end_turn()
        self.sections.append((title, line, []))

    def start_turn(self, speaker: str | None, line: int) -> None:
        self.end_turn()
        self.turn_speaker, self.turn_line, self.open = speaker, line, True

    def add_line(self, text: str, line: int) -> None:
        if not self.open:
            self.start_turn(None, line)
        if not self.paragraphs and not self.lines and not text:
            return
        self.lines.append(text)

    def end_paragraph(self) -> None:
        joined = _join_lines(self.lines)
        self.lines = []
        if is_speakable(joined):
            self.paragraphs.append(joined)

    def end_turn(self) -> None:
        self.end_paragraph()
        if self.open and self.paragraphs:
            if not self.sections:
                self.sections.append((None, self.turn_line, []))
            self.sections[-1][2].append(Turn(self.turn_speaker, tuple(self.paragraphs), self.turn_line))
        self.paragraphs, self.open = [], False


def parse(text: str, source: str = "<transcript>", known_speakers: Iterable[str] = ()) -> Transcript:
    """Parse a Markdown transcript. ``source`` names the file in errors and the fallback title."""
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    lines = text.split("\n")
    meta, body_start = _front_matter(lines, source)
    body = _strip_comments(lines[body_start:])

    # Bold markers anywhere make a name known, so `Name:` lines elsewhere count too.
    known = set(known_speakers)
    for line in body:
        found = _bold_marker(line)
        if found:
            known.add(found[0])

    doc_title = str(meta["title"]).strip() if meta.get("title") not in (None, "") else None
    builder = _Builder()
    for offset, raw in enumerate(body):
        number = body_start + offset + 1
        if not raw.strip():  # spaces, tabs, U+00A0 and friends
            builder.end_paragraph()
            continue
        if _RULE.match(raw) or _LINK_DEF.match(raw) or _FOOTNOTE_DEF.match(raw):
            builder.end_paragraph()
            continue
        heading = _HEADING.match(raw)
        if heading:
            level = len(heading.group("hashes"))
            title = clean_inline(heading.group("text"))
            if level == 1:
                if doc_title is None and title:
                    doc_title = title
                builder.end_paragraph()
            elif level == 2:
                builder.new_section(title, number)
            elif is_speakable(title):
                builder.start_turn(None, number)
                builder.add_line(title, number)
                builder.end_paragraph()
            continue
        found = _bold_marker(raw) or _plain_marker(raw, known)
        if found:
            builder.start_turn(found[0], number)
            raw = found[1]
        content = clean_inline(_QUOTE.sub("", _BULLET.sub("", _QUOTE.sub("", raw))))
        if content:
            builder.add_line(content, number)
    builder.end_turn()

    title = doc_title or Path(source).stem
    sections: list[Section] = []
    for sec_title, start, turns in builder.sections:
        if sec_title is None and not turns:
            continue
        sections.append(Section(len(sections) + 1, sec_title or title, start, tuple(turns)))
    if not any(s.turns for s in sections):
        raise TranscriptError("nothing speakable in the transcript", path=source)
    return Transcript(title=title, source=source, sections=tuple(sections), meta=meta)


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def read(path: str | Path, known_speakers: Iterable[str] = ()) -> Transcript:
    """Read and parse a transcript file, turning decoding trouble into one clear error."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TranscriptError(f"cannot read: {exc.strerror or exc}", path=str(path)) from None
    # A stray NUL inside text is dropped by parse(); NULs in what is not UTF-8, or
    # many of them, mean a binary file.
    head = data[:8192]
    nuls = head.count(b"\x00")
    if nuls and (nuls > len(head) // 100 or not _is_utf8(data)):
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise TranscriptError("binary file (NUL byte), not a text transcript", path=str(path), line=line)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise TranscriptError(
            f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})",
            path=str(path),
            line=line,
        ) from None
    return parse(text, str(path), known_speakers)


def to_json(transcript: Transcript) -> dict[str, Any]:
    return {
        "title": transcript.title,
        "meta": dict(transcript.meta),
        "sections": [
            {
                "index": s.index,
                "title": s.title,
                "line": s.line,
                "turns": [{"speaker": t.speaker, "text": t.text, "line": t.line} for t in s.turns],
            }
            for s in transcript.sections
        ],
    }
