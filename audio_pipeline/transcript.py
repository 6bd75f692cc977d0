"""Markdown interview transcript -> Transcript. ``parse`` is pure: text in, values out.

The file is read in four passes. Blocks that are never spoken (code, tables,
``<details>``, tables of contents…) are blanked (``mdblocks``). Every line is read on
its own and the speakers decided over the whole file (``attribution``, with the marker
shapes in ``markers``). Then turns are built, stage directions cut out (``mdtext``)
and the result checked for signs that the parser guessed wrong (``Notice`` with level
"warning").
"""

from __future__ import annotations

import codecs
import datetime as _dt
import re
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from . import attribution, mdblocks, yamlsafe
from .attribution import Row, Speakers
from .errors import TranscriptError
from .markers import name_key
from .mdtext import (
    bracket_italic_directions,
    clean_inline,
    is_cjk,
    is_speakable,
    split_directions,
)
from .model import Notice, Section, Transcript, Turn

__all__ = ["clean_inline", "is_speakable", "parse", "read", "to_json"]

_BULLET = re.compile(r"^[ \t]*(?:[-*+]|\d{1,3}[.)])[ \t]+")
_QUOTE = re.compile(r"^[ \t]*(?:>[ \t]?)+")
_LOOKS_LIKE_MARKER = re.compile(
    r"^[ \t>*_\-+\d.)]*(?:\*\*|__)?"
    r"(?P<label>[^\s:：*_]{1,25}(?:[ \t][^\s:：*_\-–—][^\s:：*_]{0,24}){0,3})(?:\*\*|__)?[ \t]*"
    r"(?:[:：]|[ \t]*(?:-{1,2}|–|—)[ \t])"
)
# A file with more paragraphs than this and no speaker at all gets a warning.
_FEW_PARAGRAPHS = 3


def _join_lines(lines: Iterable[str]) -> str:
    """Join soft-wrapped lines: no space between CJK characters, one space otherwise."""
    out = ""
    for line in lines:
        if not line:
            continue
        if out and not (is_cjk(out[-1]) and is_cjk(line[0])):
            out += " "
        out += line
    return out


def _front_matter(lines: list[str], source: str) -> tuple[dict[str, Any], int]:
    """Return (metadata, index of the first body line): YAML between ``---`` lines, or
    TOML between ``+++`` lines (Hugo's form)."""
    if lines and lines[0].strip() == "+++":
        return _toml_front_matter(lines, source)
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


def _toml_front_matter(lines: list[str], source: str) -> tuple[dict[str, Any], int]:
    for i in range(1, len(lines)):
        if lines[i].strip() == "+++":
            try:
                data = tomllib.loads("\n".join(lines[1:i]))
            except tomllib.TOMLDecodeError as exc:
                line = getattr(exc, "lineno", None)
                raise TranscriptError(
                    f"invalid TOML front matter: {exc}", path=source, line=line + 1 if line else 2
                ) from None
            return _plain_meta(data), i + 1
    raise TranscriptError("front matter opened here is never closed with '+++'", path=source, line=1)


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
    """Accumulates sections and turns while the rows are walked."""

    def __init__(self) -> None:
        self.sections: list[tuple[str | None, int, list[Turn]]] = []
        self.speaker: str | None = None
        self.line = 0
        self.time: str | None = None
        self.directions: list[str] = []
        self.paragraphs: list[str] = []
        self.lines: list[str] = []
        self.open = False
        self.read: list[tuple[int, int, bool]] = []  # (line, characters, by the narrator)

    def new_section(self, title: str | None, line: int) -> None:
        self.end_turn()
        self.sections.append((title, line, []))

    def start_turn(self, speaker: str | None, line: int, time: str | None) -> None:
        self.end_turn()
        self.speaker, self.line, self.time, self.open = speaker, line, time, True

    def add_line(self, text: str, line: int, time: str | None = None) -> None:
        if not self.open:
            self.start_turn(None, line, time)
        if self.time is None:
            self.time = time
        if text:
            self.lines.append(text)
            self.read.append((line, len(text), self.speaker is None))

    def end_paragraph(self) -> None:
        joined = _join_lines(self.lines)
        self.lines = []
        if is_speakable(joined):
            self.paragraphs.append(joined)

    def end_turn(self) -> None:
        self.end_paragraph()
        if self.open and self.paragraphs:
            if not self.sections:
                self.sections.append((None, self.line, []))
            turn = Turn(self.speaker, tuple(self.paragraphs), self.line, self.time, tuple(self.directions))
            self.sections[-1][2].append(turn)
        self.paragraphs, self.directions, self.open, self.time = [], [], False, None

    @property
    def section_speaker(self) -> str | None:
        """The speaker of the last turn in this section (None: the narrator)."""
        if self.open:
            return self.speaker
        turns = self.sections[-1][2] if self.sections else []
        return turns[-1].speaker if turns else None


def _content(text: str) -> str:
    return clean_inline(bracket_italic_directions(_QUOTE.sub("", _BULLET.sub("", _QUOTE.sub("", text)))))


def parse(
    text: str,
    source: str = "<transcript>",
    known_speakers: Iterable[str] = (),
    aliases: Mapping[str, str] | None = None,
) -> Transcript:
    """Parse a Markdown transcript. ``source`` names the file in errors and the fallback title.

    ``known_speakers``: names from voices.yaml (their spelling wins, and a plain
    ``Name:`` line is a marker for them). ``aliases``: label -> real name, applied
    before anything else sees the speakers (``Speaker 0`` -> ``Prof. Lee``).
    """
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    lines = text.split("\n")
    meta, body_start = _front_matter(lines, source)
    body, notices = mdblocks.blank_unspoken(lines[body_start:], body_start + 1)
    rows = attribution.read_rows(body, body_start + 1)
    known = {name_key(n): n for n in known_speakers}
    alias_map = {name_key(k): str(v).strip() for k, v in (aliases or {}).items()}
    speakers = attribution.decide(rows, known, alias_map)

    doc_title = str(meta["title"]).strip() if meta.get("title") not in (None, "") else None
    builder, doc_title = _build(rows, speakers, doc_title)
    title = doc_title or Path(source).stem
    sections: list[Section] = []
    for sec_title, start, turns in builder.sections:
        if not turns:
            if sec_title is not None:
                notices.append(Notice(start, f"section {sec_title!r} has nothing to read: no episode"))
            continue
        sections.append(Section(len(sections) + 1, sec_title or title, start, tuple(turns)))
    if not any(s.turns for s in sections):
        raise TranscriptError("nothing speakable in the transcript", path=source)
    notices.extend(_warnings(speakers, builder.read, rows))
    notices.sort(key=lambda n: n.line or 0)
    return Transcript(title=title, source=source, sections=tuple(sections), meta=meta, notices=tuple(notices))


def _build(rows: list[Row], speakers: Speakers, doc_title: str | None) -> tuple[_Builder, str | None]:
    """Walk the rows into sections and turns; return them and the document's title (the
    front matter's, else its first "# " heading)."""
    # Several "# " headings and no "## ": the later ones (all of them, under a front-matter
    # title) are the chapters.
    h1 = [r.number for r in rows if r.heading is not None and r.heading[0] == 1]
    h1_sections = len(h1) > 1 and not any(r.heading is not None and r.heading[0] == 2 for r in rows)
    first_h1 = h1[0] if h1 and doc_title is None else -1
    builder = _Builder()
    pending: str | None = None  # a timestamp on a line of its own, for the turn below it
    for row in rows:
        if row.role == "blank":
            builder.end_paragraph()
            pending = row.time or pending
        elif row.heading is not None and row.role == "turn" and row.candidate is not None:
            builder.start_turn(speakers.display(row.candidate.key), row.number, row.time)
        elif row.heading is not None:
            heading_title = _heading(builder, row, chapter=h1_sections and row.number != first_h1)
            if doc_title is None and heading_title:
                doc_title = heading_title
        else:
            _body_line(builder, row, row.time or pending, speakers)
            pending = None
    builder.end_turn()
    return builder, doc_title


def _heading(builder: _Builder, row: Row, *, chapter: bool) -> str | None:
    """A heading row: the document's title (returned) when it is a "# " heading and not a
    ``chapter``; else a new section ("# " chapters, "## "), else a line of its own read by
    the narrator."""
    assert row.heading is not None
    level, raw_title = row.heading
    title = clean_inline(raw_title)
    if level == 1 and not chapter:
        builder.end_paragraph()
        return title
    if level <= 2:
        builder.new_section(title, row.number)
    elif is_speakable(title):
        builder.start_turn(None, row.number, row.time)
        builder.add_line(title, row.number)
        builder.end_paragraph()
    return None


def _body_line(builder: _Builder, row: Row, time: str | None, speakers: Speakers) -> None:
    """A line of text: a new turn when it opens with a speaker's marker, its stage
    directions cut out, list items and metadata lines sentences of their own."""
    line = row.text
    c = row.candidate
    if row.role == "metadata" and builder.open and builder.speaker is not None:
        builder.start_turn(None, row.number, time)  # a note after a turn is the narrator's
    if c is not None and row.role == "turn":
        builder.start_turn(speakers.display(c.key), row.number, time)
        line = c.rest
    elif c is not None and row.role == "language":
        builder.start_turn(builder.section_speaker, row.number, time)
        line = c.rest
    listed = row.role == "metadata" or _BULLET.match(line) is not None
    if listed:
        builder.end_paragraph()  # list items and metadata lines are sentences of their own
    pieces = split_directions(_content(line))
    if pieces.directions and not builder.open:
        builder.start_turn(None, row.number, time)
    builder.directions.extend(pieces.directions)
    for segment in pieces.segments:
        if segment is None:
            builder.end_paragraph()  # a stage direction is a short pause
        else:
            builder.add_line(segment, row.number, time)
    if listed:
        builder.end_paragraph()


def _warnings(speakers: Speakers, read: list[tuple[int, int, bool]], rows: list[Row]) -> list[Notice]:
    """Signs that the parser missed the speaker markers. Metadata lines before the
    first turn are narration by design and do not count."""
    by_number = {r.number: r for r in rows}
    body = [(n, size, narrated) for n, size, narrated in read if by_number[n].role != "metadata"]
    paragraphs = len({by_number[n].paragraph for n, _, _ in body})
    spoken = sum(size for _, size, _ in body)
    narrated = sum(size for _, size, by_narrator in body if by_narrator)
    suspect = next((r.number for r in speakers.rejected), None)
    if suspect is None:
        suspect = next((n for n, _, by in body if by and _LOOKS_LIKE_MARKER.match(by_number[n].text)), None)
    hint = f"; line {suspect} looks like an unrecognised speaker marker" if suspect is not None else ""
    if not speakers.accepted and paragraphs > _FEW_PARAGRAPHS:
        message = f"no speaker markers recognised: all {paragraphs} paragraphs are read by the narrator{hint}"
        return [Notice(suspect, message, "warning")]
    if speakers.accepted and spoken and narrated * 2 > spoken:
        share = round(100 * narrated / spoken)
        message = f"{share}% of the text is read by the narrator although it has speakers{hint}"
        return [Notice(suspect, message, "warning")]
    return _repeated_labels(rows, speakers)


def _repeated_labels(rows: list[Row], speakers: Speakers) -> list[Notice]:
    """A label that opens several paragraphs but is no speaker: its lines are read, label
    and all, as part of someone else's turn."""
    opening: dict[int, Row] = {}
    for row in rows:
        if row.role == "text":
            opening.setdefault(row.paragraph, row)
    found: dict[str, list[int]] = {}
    for row in opening.values():
        m = _LOOKS_LIKE_MARKER.match(row.text)
        if m:
            label = name_key(clean_inline(m.group("label")))
            if label and label not in speakers.accepted:
                found.setdefault(label, []).append(row.number)
    out = []
    for label, lines in found.items():
        if len(lines) >= 2:
            message = (
                f"{len(lines)} paragraphs open with {label!r} like a speaker marker, but it is not one; "
                f"write it as **Name:** or list the name under speakers in voices.yaml"
            )
            out.append(Notice(lines[0], message, "warning"))
    return out


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


_UNICODE_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16: its BOM starts the same way
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def decode(data: bytes, source: str) -> str:
    """Bytes of a transcript -> text: UTF-8 (with or without BOMs) or UTF-16/32 with a BOM."""
    for bom, codec in _UNICODE_BOMS:
        if data.startswith(bom):
            try:
                return data.decode(codec)
            except UnicodeDecodeError as exc:
                raise TranscriptError(
                    f"not {codec.upper()} text despite its byte-order mark ({exc.reason})", path=source
                ) from None
    # A stray NUL inside text is dropped by parse(); NULs in what is not UTF-8, or
    # many of them, mean a binary file.
    head = data[:8192]
    nuls = head.count(b"\x00")
    if nuls and (nuls > len(head) // 100 or not _is_utf8(data)):
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise TranscriptError("binary file (NUL byte), not a text transcript", path=source, line=line)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise TranscriptError(
            f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})",
            path=source,
            line=line,
        ) from None


def read(path: str | Path, known_speakers: Iterable[str] = (), aliases: Mapping[str, str] | None = None) -> Transcript:
    """Read and parse a transcript file, turning decoding trouble into one clear error."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TranscriptError(f"cannot read: {exc.strerror or exc}", path=str(path)) from None
    return parse(decode(data, str(path)), str(path), known_speakers, aliases)


def to_json(transcript: Transcript) -> dict[str, Any]:
    return {
        "title": transcript.title,
        "meta": dict(transcript.meta),
        "sections": [
            {
                "index": s.index,
                "title": s.title,
                "line": s.line,
                "turns": [
                    {
                        "speaker": t.speaker,
                        "text": t.text,
                        "line": t.line,
                        "time": t.time,
                        "directions": list(t.directions),
                    }
                    for t in s.turns
                ],
            }
            for s in transcript.sections
        ],
    }


def speaker_counts(transcript: Transcript) -> dict[str, int]:
    """Turns per speaker, in order of first appearance."""
    counts: dict[str, int] = {}
    for turn in transcript.turns:
        if turn.speaker is not None:
            counts[turn.speaker] = counts.get(turn.speaker, 0) + 1
    return counts
