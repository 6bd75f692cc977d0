"""Markdown interview transcript -> Transcript. ``parse`` is pure: text in, values out.

The file is read in four passes. Blocks that are never spoken (code, tables,
``<details>``, tables of contents…) are blanked (``mdblocks``). Every line is read on
its own: timestamps out, a marker candidate at its start (``markers``). The speakers
are decided over the whole file: a bold name with a colon is a speaker; a bold name
without one, once it opens two paragraphs; a plain ``Name:``, once the name is known;
labels in a block of metadata before the first turn are not speakers. Then turns
are built, stage directions cut out (``mdtext``) and the result checked for signs
that the parser guessed wrong (``Notice`` with level "warning").
"""

from __future__ import annotations

import codecs
import datetime as _dt
import re
import tomllib
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import markers, mdblocks, yamlsafe
from .errors import TranscriptError
from .markers import Candidate, Kind, name_key
from .mdtext import (
    bracket_italic_directions,
    clean_inline,
    is_cjk,
    is_speakable,
    normal_time,
    split_directions,
    starts_with_clock,
    strip_separator,
    strip_timestamps,
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
_EMPHASIZED = (Kind.COLON, Kind.BOLD, Kind.ALONE)


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


@dataclass
class _Row:
    """One body line, read on its own."""

    number: int  # 1-based line in the file
    text: str  # timestamps removed
    time: str | None
    paragraph: int  # rows between blank lines share a number
    heading: tuple[int, str] | None = None
    candidate: Candidate | None = None
    role: str = "text"  # text | turn | language | metadata | blank


def _split_turns(body: list[str], first_number: int) -> list[tuple[int, str]]:
    """(line number, text) for every body line; a line that runs several turns together
    ("[Ann:] Hi. [Bob:] Hello.") is cut before each marker of a known label."""
    starts = set()
    for line in body:
        found = markers.find(strip_timestamps(line)[0])
        if found is not None and found.kind is Kind.COLON:
            starts.add(found.key)
    pieces: list[list[str]] = []
    mid: Counter[str] = Counter()
    for line in body:
        parts = markers.MID_LINE.split(line)
        pieces.append(parts)
        for part in parts[1:]:
            found = markers.find(part)
            if found is not None:
                mid[found.key] += 1

    def known(found: markers.Candidate | None, lenient: bool) -> bool:
        if found is None or found.kind is not Kind.COLON:
            return False
        return found.key in starts or mid[found.key] >= 2 or (lenient and markers.looks_like_name(found.name))

    def split(lenient: bool) -> list[tuple[int, str]]:
        out: list[tuple[int, str]] = []
        for offset, parts in enumerate(pieces):
            text = parts[0]
            for part in parts[1:]:
                said = is_speakable(clean_inline(strip_timestamps(text)[0]))  # not "- " or a timestamp
                if said and known(markers.find(part), lenient):
                    out.append((first_number + offset, text))
                    text = part
                else:
                    text += " " + part
            out.append((first_number + offset, text))
        return out

    strict = split(False)
    # A file that runs turns together often: a once-heard name does so too ("Producer:").
    return split(True) if len(strict) - len(body) >= 3 else strict


def _rows(body: list[str], first_number: int) -> list[_Row]:
    # A bare m:ss opening a line is a timestamp in a file of such lines, not in prose.
    loose = sum(1 for line in body if starts_with_clock(line)) >= 3
    rows: list[_Row] = []
    paragraph = 0
    for number, raw in _split_turns(body, first_number):
        named = markers.find_name_clock(raw)
        if named is not None:  # "Maya Okafor  0:03", the turn on the lines below
            candidate, clock = named
            text = strip_timestamps(raw)[0]  # if it is no marker after all, the clock still goes
            rows.append(_Row(number, text, normal_time(clock), paragraph, None, candidate))
            continue
        text, time = strip_timestamps(raw, loose)
        row = _Row(number, text, time, paragraph)
        if not text.strip():
            row.role = "blank"
            paragraph += 1
        elif (head := mdblocks.heading(text)) is not None:
            level, title = head
            title, heading_time = strip_timestamps(title)  # "## 00:00 开场": the bare m:ss too
            if row.time or heading_time:
                title = strip_separator(title)  # "## 0:12:40 – Data quality"
            row.heading = (level, title)
            row.time = row.time or heading_time
            row.role = "heading"
            paragraph += 1
            if level >= 3:  # "### Ruth Calloway" above her turn, when it recurs
                found = markers.valid_name(title)
                if found is not None and not found[1] and markers.looks_like_name(found[0]):
                    row.candidate = markers.Candidate(found[0], "", Kind.ALONE, False, form="heading")
        else:
            row.candidate = markers.find(text)
        row.paragraph = paragraph
        rows.append(row)
    return rows


@dataclass
class _Speakers:
    """Which candidates are speaker markers, and the name each speaker is shown by."""

    known: dict[str, str]  # key -> spelling from voices.yaml
    aliases: dict[str, str]  # key -> real name
    accepted: set[str] = field(default_factory=set)
    spellings: dict[str, Counter[str]] = field(default_factory=dict)
    labels: dict[str, set[str]] = field(default_factory=dict)  # whole labels, roles included
    rejected: list[_Row] = field(default_factory=list)

    def display(self, key: str) -> str:
        if key in self.aliases:
            return self.aliases[key]
        if key in self.known:
            return self.known[key]
        labels = self.labels.get(key, set())
        if len(labels) == 1 and name_key(next(iter(labels))) != key:
            return next(iter(labels))  # always written with the same role: keep it
        counts = self.spellings[key]
        best = max(counts.values())
        return next(name for name in counts if counts[name] == best)  # first seen wins a tie


def _meta_looking(rows: list[_Row]) -> bool:
    """A paragraph of ``label: value`` lines with distinct labels, or a list of them."""
    lines = [r for r in rows if r.role not in ("blank", "heading")]
    labelled = [r for r in lines if r.candidate is not None and r.candidate.kind in (Kind.COLON, Kind.PLAIN)]
    if not labelled or len(labelled) != len(lines):
        return False
    keys = [r.candidate.key for r in labelled if r.candidate is not None]
    if len(set(keys)) != len(keys):
        return False
    if all(r.candidate is not None and r.candidate.listed for r in lines):
        return True
    # An unlisted block: short values ("**主题：** 大模型"), not turns run together.
    return len(lines) >= 2 and not any(r.candidate is not None and _sentence(r.candidate.rest) for r in lines)


def _decide(rows: list[_Row], known: dict[str, str], aliases: dict[str, str]) -> _Speakers:
    speakers = _Speakers(known, aliases)
    cands = [r for r in rows if r.candidate is not None]
    paragraphs: dict[int, list[_Row]] = {}
    for row in rows:
        paragraphs.setdefault(row.paragraph, []).append(row)
    meta_looking = {number: _meta_looking(members) for number, members in paragraphs.items()}

    # Plain "Name:" lines: names that open at least two lines each, in a dialogue with
    # another such name ("Q:"/"A:") or with bold-marked speakers.
    emphasized = Counter(r.candidate.key for r in cands if r.candidate and r.candidate.kind in _EMPHASIZED)
    plain = Counter(
        r.candidate.key
        for r in cands
        if r.candidate and r.candidate.kind is Kind.PLAIN and markers.looks_like_name(r.candidate.name)
    )
    dialogue = {k for k, n in plain.items() if n >= 2 and not markers.is_language_label(k)}
    if len(dialogue) < 2 and not any(n >= 2 for n in emphasized.values()):
        dialogue = set()  # one repeated "Note:" is not a dialogue

    def is_known(c: Candidate) -> bool:
        return c.key in known or c.key in aliases or c.key in dialogue or markers.is_generic(c.name)

    def strong(c: Candidate) -> bool:
        return c.kind in _EMPHASIZED or is_known(c)

    # Where the transcript proper starts: the first paragraph (not a metadata block)
    # with a marker whose label speaks again later or is known; failing that, the first
    # bold marker with a colon outside a metadata block; failing that, the first marker.
    counts_all = Counter(r.candidate.key for r in cands if r.candidate and r.candidate.kind is not Kind.BROKEN)

    def opens_transcript(row: _Row, rule: int) -> bool:
        c = row.candidate
        if c is None or markers.is_language_label(c.name) or not strong(c):
            return False
        if rule == 2:
            return True
        if meta_looking[row.paragraph]:
            return False
        if rule == 1:
            return c.kind is Kind.COLON
        return counts_all[c.key] >= 2 or is_known(c) or (_sentence(c.rest) and not markers.is_metadata_label(c.name))

    first_turn = next(
        (r.paragraph for rule in (0, 1, 2) for r in cands if opens_transcript(r, rule)),
        max((r.paragraph for r in rows), default=0) + 1,
    )

    later = [r for r in cands if r.paragraph >= first_turn]
    later_keys = {r.candidate.key for r in later if r.candidate is not None}
    # Before the first turn: labels are metadata ("- **嘉宾**：Quintus"), unless a whole
    # block of them all speak again later (the transcript simply starts there).
    for number in sorted({r.paragraph for r in cands if r.paragraph < first_turn}):
        block = [r for r in paragraphs[number] if r.candidate is not None]
        keys = {r.candidate.key for r in block if r.candidate is not None}
        if meta_looking[number] and keys <= later_keys:
            later.extend(block)
        else:
            for r in block:
                r.role = "metadata"

    # After it, a list of distinct labels seen nowhere else is show notes, not turns
    # ("- **Paper:** …", "- **Dataset:** …").
    outside_lists = Counter(r.candidate.key for r in later if r.candidate and not meta_looking[r.paragraph])
    for number in sorted({r.paragraph for r in later if meta_looking[r.paragraph] and outside_lists}):
        block = [r for r in paragraphs[number] if r.candidate is not None]
        if all(r.candidate.listed for r in block if r.candidate) and not any(
            r.candidate and (outside_lists[r.candidate.key] or is_known(r.candidate)) for r in block
        ):
            for r in block:
                r.role = "metadata"
    later = [r for r in later if r.role != "metadata"]

    counts = Counter(r.candidate.key for r in later if r.candidate is not None and r.candidate.kind is not Kind.PLAIN)
    # Names on lines of their own ("Maya Okafor  0:03", "### Ruth"): once the file shows
    # that form three times with a name recurring, a name heard once counts too.
    forms: dict[str, Counter[str]] = {}
    for r in later:
        if r.candidate is not None and r.candidate.form:
            forms.setdefault(r.candidate.form, Counter())[r.candidate.key] += 1
    by_form = {f: sum(c.values()) >= 3 and max(c.values()) >= 2 for f, c in forms.items()}
    bold_keys: set[str] = set()
    for row in later:
        c = row.candidate
        assert c is not None
        if markers.is_language_label(c.name) and c.kind in (Kind.COLON, Kind.PLAIN):
            row.role = "language"
            continue
        if markers.is_editorial(c.name) and not is_known(c):
            row.role = "metadata"  # "**Note:** …" is read by the narrator, label and all
            continue
        ok = {
            Kind.COLON: is_known(c) or counts[c.key] >= 2 or markers.looks_like_name(c.name),
            Kind.BOLD: is_known(c) or (counts[c.key] >= 2 and markers.looks_like_name(c.name)),
            Kind.ALONE: is_known(c)
            or ((counts[c.key] >= 2 or by_form.get(c.form, False)) and markers.looks_like_name(c.name)),
        }.get(c.kind)
        if ok:
            bold_keys.add(c.key)
    for row in later:
        c = row.candidate
        assert c is not None
        if row.role in ("language", "metadata"):
            continue
        # BROKEN and PLAIN lean on the name being a speaker elsewhere.
        if c.key in bold_keys if c.kind in _EMPHASIZED else is_known(c) or c.key in bold_keys:
            _accept(row, speakers)
        elif row.role != "metadata":
            speakers.rejected.append(row)
    _lone_plain_labels(rows, speakers)
    _surnames(rows, speakers)
    return speakers


def _accept(row: _Row, speakers: _Speakers) -> None:
    assert row.candidate is not None
    c = row.candidate
    row.role = "turn"
    speakers.accepted.add(c.key)
    speakers.spellings.setdefault(c.key, Counter())[c.name] += 1
    speakers.labels.setdefault(c.key, set()).add(c.label or c.name)


def _lone_plain_labels(rows: list[_Row], speakers: _Speakers) -> None:
    """In a file where nearly every paragraph opens with a marker, a plain label that opens
    a paragraph once ("Carla Diaz: My name is…", "THE WITNESS: …", "居民代表｜…") is a
    speaker too. Chinese labels need the bar: "比如：" opens paragraphs in prose."""
    openers = [r for r in rows if r.role in ("turn", "text") and r.heading is None]
    firsts: dict[int, _Row] = {}
    for row in openers:
        firsts.setdefault(row.paragraph, row)
    if len(firsts) < 5 or sum(r.role == "turn" for r in firsts.values()) < 0.7 * len(firsts):
        return
    for row in list(speakers.rejected):
        c = row.candidate
        if c is None or c.kind is not Kind.PLAIN or firsts.get(row.paragraph) is not row or not is_speakable(c.rest):
            continue  # "After:" above a code block is no turn
        cjk = all(is_cjk(ch) for ch in c.name.replace(" ", ""))
        if markers.is_editorial(c.name) or not markers.looks_like_name(c.name):
            continue
        if cjk and "｜" not in row.text[: len(c.name) + 8]:
            continue
        _accept(row, speakers)
        speakers.rejected.remove(row)


def _surnames(rows: list[_Row], speakers: _Speakers) -> None:
    """Broadcast transcripts name a speaker in full once ("SCOTT SIMON, HOST:"), then by
    surname ("SIMON:"): a full name used once whose last word is a speaker's is that speaker."""
    counts = Counter(r.candidate.key for r in rows if r.role == "turn" and r.candidate is not None)
    for row in rows:
        c = row.candidate
        if row.role != "turn" or c is None or counts[c.key] != 1 or " " not in c.key:
            continue
        surname = c.key.rsplit(" ", 1)[1]
        if counts.get(surname, 0) >= 2:
            merged = markers.Candidate(c.name.rsplit(" ", 1)[1], c.rest, c.kind, c.listed, True, c.label)
            row.candidate = merged
            speakers.spellings[surname][merged.name] += 0  # known spelling, not counted twice
            speakers.accepted.discard(c.key)


def _sentence(text: str) -> bool:
    """Text that reads as speech rather than a metadata value: a sentence's end, or long."""
    text = clean_inline(text)
    return text.rstrip("\"'”’)）").endswith(tuple(".!?。！？…")) or len(text.split()) >= 8 or len(text) >= 40


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
    rows = _rows(body, body_start + 1)
    known = {name_key(n): n for n in known_speakers}
    alias_map = {name_key(k): str(v).strip() for k, v in (aliases or {}).items()}
    speakers = _decide(rows, known, alias_map)

    doc_title = str(meta["title"]).strip() if meta.get("title") not in (None, "") else None
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
            continue
        if row.heading is not None and row.role == "turn" and row.candidate is not None:
            builder.start_turn(speakers.display(row.candidate.key), row.number, row.time)
            continue
        if row.heading is not None:
            level, raw_title = row.heading
            title = clean_inline(raw_title)
            if level == 1 and not (h1_sections and row.number != first_h1):
                if doc_title is None and title:
                    doc_title = title
                builder.end_paragraph()
            elif level <= 2:
                builder.new_section(title, row.number)
            elif is_speakable(title):
                builder.start_turn(None, row.number, row.time)
                builder.add_line(title, row.number)
                builder.end_paragraph()
            continue
        line = row.text
        time = row.time or pending
        pending = None
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
    builder.end_turn()

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


def _warnings(speakers: _Speakers, read: list[tuple[int, int, bool]], rows: list[_Row]) -> list[Notice]:
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


def _repeated_labels(rows: list[_Row], speakers: _Speakers) -> list[Notice]:
    """A label that opens several paragraphs but is no speaker: its lines are read, label
    and all, as part of someone else's turn."""
    opening: dict[int, _Row] = {}
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
