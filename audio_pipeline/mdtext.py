"""Inline text of a transcript line: timestamps, stage directions, Markdown. Pure functions.

What a listener should hear is what is left after three passes: timestamps go (the
first is kept as the turn's time), stage directions and transcriber notes go (each is
recorded and becomes a short pause), inline Markdown is reduced to its words.
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass

# -- timestamps -------------------------------------------------------------------

# 12:34, 0:12:34, 00:12:34.5, 00:00:07:190 (ASR tools write milliseconds after a colon),
# 00:00:04;12 (broadcast timecode: frames after a semicolon).
_FRACTION = r"(?:[.,]\d{1,3}|[:;]\d{2,3})"
_CLOCK = rf"\d{{1,2}}(?::\d{{2}}){{1,2}}{_FRACTION}?"
_CLOCK3 = rf"\d{{1,2}}:\d{{2}}:\d{{2}}{_FRACTION}?"
_RANGE_SEP = r"[ \t]*(?:-{1,2}>?|–|—|~|→|to)[ \t]*"
_SPAN = rf"{_CLOCK}(?:{_RANGE_SEP}{_CLOCK})?"
_OPEN, _CLOSE = r"(?:\\?\[|\(|（|【)", r"(?:\\?\]|\)|）|】)"
_TIMESTAMP = re.compile(
    # a timestamp wrapped in markup that would be left empty: `[00:00:05]`, *[00:12:47]*,
    # **[00:12:34]**, <span class="ts">00:01:20</span>
    rf"(?P<w>`{{1,3}}|\*{{1,3}}|_{{1,3}})[ \t]*(?:{_OPEN}[ \t]*)?(?P<wt>{_CLOCK})(?:{_RANGE_SEP}{_CLOCK})?"
    rf"(?:[ \t]*{_CLOSE})?[ \t]*(?P=w)"
    rf"|<(?P<tag>[a-zA-Z][\w-]*)[^<>]*>[ \t]*(?:{_OPEN}[ \t]*)?(?P<ht>{_CLOCK})(?:{_RANGE_SEP}{_CLOCK})?"
    rf"(?:[ \t]*{_CLOSE})?[ \t]*</(?P=tag)>"
    # a timestamp link (YouTube-style chapters), bracketed or bare spans
    rf"|\[[ \t]*(?P<l>{_CLOCK})[ \t]*\]\([^)\s]*\)"
    rf"|{_OPEN}[ \t]*(?P<b>{_CLOCK})(?:{_RANGE_SEP}{_CLOCK})?[ \t]*{_CLOSE}"
    rf"|(?<![\d:.,])(?P<t>{_CLOCK3})(?:{_RANGE_SEP}{_CLOCK})?(?![\d:])"
)
# A bare m:ss where a line (or its marker) starts: a timestamp when the line holds
# nothing else, or in a file where such lines are common ("0:04 so today we…"), not in
# prose ("11:45 is usually when it calms down").
_LEADING_CLOCK = re.compile(
    rf"^(?P<lead>[ \t]*(?:[-*+][ \t]+|\d{{1,3}}[.)][ \t]+|>[ \t]*)?(?:\*\*|__|\*|_)?[ \t]*)"
    rf"(?P<t>{_SPAN})(?=[ \t*_]|$)"
)
# What may follow a leading clock in prose and still make it a timestamp: a marker.
_MARKER_AFTER = re.compile(r"[ \t]*(?:$|\*\*|__|\[|\(|<|[-–—|·][ \t])")
_SEPARATOR = re.compile(r"^[ \t]*[-–—:|·][ \t]+")


def normal_time(clock: str) -> str:
    """'0:12:34.5' -> '00:12:34'; '12:34' -> '00:12:34'; '00:00:07:190' -> '00:00:07'."""
    clock = re.sub(_FRACTION + "$", "", clock) if clock.count(":") == 3 or re.search(r"[.,;]", clock) else clock
    numbers = [int(p) for p in clock.split(":")]
    while len(numbers) < 3:
        numbers.insert(0, 0)
    h, m, s = numbers[-3:]
    return f"{h:02d}:{m:02d}:{s:02d}"


def strip_separator(text: str) -> str:
    """"– Data quality" -> "Data quality": what separated a removed timestamp from a title."""
    return _SEPARATOR.sub("", text)


def starts_with_clock(line: str) -> bool:
    return _LEADING_CLOCK.match(line) is not None


def strip_timestamps(line: str, loose: bool = True) -> tuple[str, str | None]:
    """Remove every timestamp from ``line``; return the rest and the first one, normalized.
    ``loose``: a bare m:ss opening the line is a timestamp even before prose."""
    first: str | None = None
    m = _LEADING_CLOCK.match(line)
    if m and (loose or _MARKER_AFTER.match(line, m.end())):
        first = normal_time(re.split(_RANGE_SEP, m.group("t"))[0])
        rest = line[m.end() :]
        line = m.group("lead") + _SEPARATOR.sub("", rest) if m.group("lead").strip() == "" else m.group("lead") + rest

    def drop(match: re.Match[str]) -> str:
        nonlocal first
        clock = next(g for g in (match.group(k) for k in ("wt", "ht", "l", "b", "t")) if g)
        if first is None:
            first = normal_time(clock)
        return " "

    stripped = _TIMESTAMP.sub(drop, line)
    if stripped != line and first is not None and not m:
        stripped = _SEPARATOR.sub("", stripped) if stripped.strip() != "" and _SEPARATOR.match(stripped) else stripped
    return stripped, first


# -- stage directions ----------------------------------------------------------------

_EN_DIRECTION = re.compile(
    r"^(?:both |all |everyone |audience |crowd |group |long |brief |short |soft |nervous |light |loud |"
    r"\w+ (?=laughs|chuckles|sighs|coughs|applauds|claps))?"
    r"(?:laugh|chuckl|giggl|applau|clap|music|intro\b|outro|theme music|jingle|cross-?talk|overlap|"
    r"inaudible|unintelligible|indiscernible|incomprehensible|silence|pause|sigh|cough|"
    r"clears? (?:his |her |their )?throat|"
    r"background|ad break|advert|sponsor|cheer|groan|gasp|sound ?effect|sfx|static|beep|bleep|"
    r"crying|cries|sniff|whisper|smil|nod|snap|phone|door|technical|audio|video|recording|break\b|"
    r"end of|transcript|interrupt|overtalk|noise|no audio|blank audio|sound of|upbeat|soft music|mumbl|"
    r"indistinct|unclear|foreign language|speaking (?:in )?\w+$|off[ -]mic|sic$|ph$|through (?:an )?interpreter|"
    r"interpret|translat|chatter|siren|"
    # other languages' transcripts: French, Spanish, German, Italian, Portuguese, Japanese
    r"rires?\b|musique|applaudissements|risas?\b|aplausos|música|lacht|lachen|musik\b|applaus|risate|"
    r"applausi|musica\b|palmas|笑い|拍手|音楽)",
    re.IGNORECASE,
)
_ZH_DIRECTION = re.compile(
    r"笑|掌声|鼓掌|音乐|片头|片尾|停顿|沉默|叹气|咳嗽|听不清|杂音|插话|广告|间奏|音效|静音|背景音|拍手"
)
# Bracketed runs: [..] (not a link, footnote or checkbox), 【..】, (..) and （..）.
_BRACKETED = re.compile(
    r"(?P<music>♪[^♪\n]{0,200}♪|[♪♫]+)"
    r"|\\?\[(?!\^)(?P<sq>[^\[\]\n]{1,120}?)\\?\](?![(\[:])"
    r"|【(?P<cjk>[^【】\n]{1,60})】"
    r"|(?<![\w])\((?P<par>[^()\n]{1,120})\)"
    r"|（(?P<fpar>[^（）\n]{1,60})）"
)


def _is_direction(inner: str, kind: str, whole: bool) -> bool:
    if kind == "music":
        return True  # ♪ lyrics ♪
    inner = inner.strip(" \t*_")
    if not inner or inner.lower() in ("x", " "):
        return False
    if _EN_DIRECTION.match(inner):
        return True
    if _ZH_DIRECTION.search(inner) and len(inner) <= 12:
        return True
    if whole and len(inner) <= 40 and not re.search(r"[：=＝。！？]|[:.!?]\s", inner):
        return True  # a line that is nothing but a short bracketed note (not a legend or an editor's note)
    letters = [ch for ch in inner if ch.isalpha()]
    if kind == "sq" and len(letters) >= 3 and all(ch.isupper() for ch in letters if ch.isascii()) and inner.isascii():
        return True  # [MUSIC], [LAUGHTER]
    return kind == "cjk" and len(inner) <= 8


_DANGLING = "，,、。.;；:：!！?？ \t"


@dataclass(frozen=True)
class Pieces:
    """A line's text cut where stage directions stood: ``segments`` holds the text
    pieces in order with None where a direction was (a short pause)."""

    segments: tuple[str | None, ...]
    directions: tuple[str, ...]


_ITALIC = re.compile(r"(?<![*\w])([*_])([^*_\n]{1,40}?)\1(?![*\w])")


def bracket_italic_directions(text: str) -> str:
    """"*laughs*" -> "(laughs)" before emphasis is removed, so it is seen as a direction."""

    def mark(m: re.Match[str]) -> str:
        inner = m.group(2).strip()
        if len(inner.split()) <= 4 and (_EN_DIRECTION.match(inner) or _ZH_DIRECTION.fullmatch(inner)):
            return f"({inner})"
        return m.group(0)

    return _ITALIC.sub(mark, text)


def split_directions(text: str) -> Pieces:
    """Cut stage directions and transcriber notes out of ``text`` (already free of markup).
    A bracketed aside that is not a direction ("[the company]") keeps its words."""
    whole = _BRACKETED.fullmatch(text.strip()) is not None
    segments: list[str | None] = []
    directions: list[str] = []
    out = ""
    last = 0
    for m in _BRACKETED.finditer(text):
        kind = m.lastgroup or "par"
        inner = m.group(kind)
        if _is_direction(inner, kind, whole):
            out += text[last : m.start()]
            segments.extend([out.strip(" \t"), None])
            directions.append(re.sub(r"\s+(?=[\]\)）】])", "", m.group(0).replace("\\", "")))
            out = ""
        elif kind == "sq":
            out += text[last : m.start()] + inner
        else:
            out += text[last : m.end()]
        last = m.end()
    segments.append((out + text[last:]).strip(" \t"))
    # After a direction, a dangling comma or stop belongs to nothing: "大家好（笑），欢迎".
    segments = [s.lstrip(_DANGLING) if s and i and segments[i - 1] is None else s for i, s in enumerate(segments)]
    return Pieces(tuple(s for s in segments if s is None or s), tuple(directions))


# -- inline Markdown -------------------------------------------------------------

_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|<>~:])")
_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)|!\[[^\]]*\]\[[^\]]*\]")
_FOOTNOTE_REF = re.compile(r"\[\^[^\]]+\]")
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)|\[([^\]]*)\]\[[^\]]*\]")
_AUTOLINK = re.compile(r"<(?:https?|mailto|ftp):[^>\s]*>")
_HTML_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>")
_CODE = re.compile(r"`+([^`]*)`+")
_STRONG = re.compile(r"\*\*|__(?=\S)|(?<=\S)__")
_EM_STAR = re.compile(r"(?<![*\w])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![*\w])")
_EM_UNDERSCORE = re.compile(r"(?<![_\w])_(?=\S)([^_\n]+?)(?<=\S)_(?![_\w])")
_STRAY_STAR = re.compile(r"(?<=\S)\*+|\*+(?=\S)")
_STRIKE = re.compile(r"~~(.+?)~~")
# Escaped characters are parked in the private-use area while markup is removed, so
# "\*" stays a star and "\[" never starts a link.
_PARK = 0xE000


def is_speakable(text: str) -> bool:
    """True when ``text`` holds at least one letter or digit."""
    return any(unicodedata.category(ch)[0] in "LN" for ch in text)


def clean_inline(text: str) -> str:
    """Strip inline Markdown, keeping what a listener should hear."""
    text = _ESCAPE.sub(lambda m: chr(_PARK + ord(m.group(1))), text)
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
    text = _STRAY_STAR.sub("", text)  # "**Ann* text": a broken closing leaves a star behind
    text = html.unescape(text)
    text = "".join(chr(ord(ch) - _PARK) if _PARK <= ord(ch) < _PARK + 128 else ch for ch in text)
    text = re.sub(r"[ \t\u00a0\u3000]+", " ", text).strip()
    return re.sub(r"(?<=[：，；、。]) ", "", text)  # "主题： 大模型" once the bold is gone


_CJK = re.compile(r"[\u2e80-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef]")


def is_cjk(ch: str) -> bool:
    return bool(_CJK.match(ch))


def join_text(pieces: list[str] | tuple[str, ...]) -> str:
    """Join pieces of running text: nothing between CJK characters, one space otherwise
    ("meetup." + "Three" -> "meetup. Three"; "我们。" + "他们" -> "我们。他们")."""
    out = ""
    for piece in pieces:
        if not piece:
            continue
        if out and not out[-1].isspace() and not piece[0].isspace() and not (is_cjk(out[-1]) or is_cjk(piece[0])):
            out += " "
        out += piece
    return out
