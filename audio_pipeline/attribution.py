"""Who speaks each line of a transcript. Pure.

``read_rows`` reads every body line on its own (timestamps out, a marker candidate at
its start, turns run together on one line cut apart); ``decide`` then looks at the
whole file to say which candidates are speaker markers: a bold name with a colon is
one; a bold name without a colon once it opens two paragraphs; a plain ``Name:`` once
the name is known; labels in a block of metadata before the first turn, show-notes
lists and editors' notes are not; and it picks the name each speaker is shown by.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from . import markers, mdblocks
from .markers import Candidate, Kind, name_key
from .mdtext import (
    clean_inline,
    is_cjk,
    is_speakable,
    normal_time,
    starts_with_clock,
    strip_separator,
    strip_timestamps,
)

EMPHASIZED = (Kind.COLON, Kind.BOLD, Kind.ALONE)


@dataclass
class Row:
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


def read_rows(body: list[str], first_number: int) -> list[Row]:
    # A bare m:ss opening a line is a timestamp in a file of such lines, not in prose.
    loose = sum(1 for line in body if starts_with_clock(line)) >= 3
    rows: list[Row] = []
    paragraph = 0
    for number, raw in _split_turns(body, first_number):
        named = markers.find_name_clock(raw)
        if named is not None:  # "Maya Okafor  0:03", the turn on the lines below
            candidate, clock = named
            text = strip_timestamps(raw)[0]  # if it is no marker after all, the clock still goes
            rows.append(Row(number, text, normal_time(clock), paragraph, None, candidate))
            continue
        text, time = strip_timestamps(raw, loose)
        row = Row(number, text, time, paragraph)
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
class Speakers:
    """Which candidates are speaker markers, and the name each speaker is shown by."""

    aliases: dict[str, str]  # key -> real name
    accepted: set[str] = field(default_factory=set)
    spellings: dict[str, Counter[str]] = field(default_factory=dict)
    labels: dict[str, set[str]] = field(default_factory=dict)  # whole labels, roles included
    rejected: list[Row] = field(default_factory=list)

    def display(self, key: str) -> str:
        if key in self.aliases:
            return self.aliases[key]
        labels = self.labels.get(key, set())
        if len(labels) == 1 and name_key(next(iter(labels))) != key:
            return next(iter(labels))  # always written with the same role: keep it
        counts = self.spellings[key]
        best = max(counts.values())
        return next(name for name in counts if counts[name] == best)  # first seen wins a tie


def _meta_looking(rows: list[Row]) -> bool:
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


@dataclass
class _Evidence:
    """What :func:`decide` reads off the whole file before it judges a row: the rows of
    each paragraph, which paragraphs look like blocks of metadata, and the names known
    to be speakers (voices.yaml, aliases, a dialogue of plain ``Name:`` lines)."""

    paragraphs: dict[int, list[Row]]
    meta_looking: dict[int, bool]
    known: dict[str, str]
    aliases: dict[str, str]
    dialogue: set[str]

    def is_known(self, c: Candidate) -> bool:
        return c.key in self.known or c.key in self.aliases or c.key in self.dialogue or markers.is_generic(c.name)

    def strong(self, c: Candidate) -> bool:
        return c.kind in EMPHASIZED or self.is_known(c)


def decide(rows: list[Row], known: dict[str, str], aliases: dict[str, str]) -> Speakers:
    speakers = Speakers(aliases)
    cands = [r for r in rows if r.candidate is not None]
    paragraphs: dict[int, list[Row]] = {}
    for row in rows:
        paragraphs.setdefault(row.paragraph, []).append(row)
    meta_looking = {number: _meta_looking(members) for number, members in paragraphs.items()}
    evidence = _Evidence(paragraphs, meta_looking, known, aliases, _dialogue(cands))
    first_turn = _first_turn(evidence, rows, cands)
    later = _drop_show_notes(evidence, _after_preamble(evidence, cands, first_turn))
    bold_keys = _speaker_keys(evidence, later)
    for row in later:
        c = row.candidate
        assert c is not None
        if row.role in ("language", "metadata"):
            continue
        # BROKEN and PLAIN lean on the name being a speaker elsewhere.
        if c.key in bold_keys if c.kind in EMPHASIZED else evidence.is_known(c) or c.key in bold_keys:
            _accept(row, speakers)
        elif row.role != "metadata":
            speakers.rejected.append(row)
    _lone_plain_labels(rows, speakers)
    _surnames(rows, speakers)
    return speakers


def _dialogue(cands: list[Row]) -> set[str]:
    """Plain "Name:" lines: names that open at least two lines each, in a dialogue with
    another such name ("Q:"/"A:") or with bold-marked speakers."""
    emphasized = Counter(r.candidate.key for r in cands if r.candidate and r.candidate.kind in EMPHASIZED)
    plain = Counter(
        r.candidate.key
        for r in cands
        if r.candidate and r.candidate.kind is Kind.PLAIN and markers.looks_like_name(r.candidate.name)
    )
    dialogue = {k for k, n in plain.items() if n >= 2 and not markers.is_language_label(k)}
    if len(dialogue) < 2 and not any(n >= 2 for n in emphasized.values()):
        return set()  # one repeated "Note:" is not a dialogue
    return dialogue


def _first_turn(evidence: _Evidence, rows: list[Row], cands: list[Row]) -> int:
    """The paragraph where the transcript proper starts: the first paragraph (not a
    metadata block) with a marker whose label speaks again later or is known; failing
    that, the first bold marker with a colon outside a metadata block; failing that,
    the first marker."""
    counts_all = Counter(r.candidate.key for r in cands if r.candidate and r.candidate.kind is not Kind.BROKEN)

    def opens_transcript(row: Row, rule: int) -> bool:
        c = row.candidate
        if c is None or markers.is_language_label(c.name) or not evidence.strong(c):
            return False
        if rule == 2:
            return True
        if evidence.meta_looking[row.paragraph]:
            return False
        if rule == 1:
            return c.kind is Kind.COLON
        return (
            counts_all[c.key] >= 2
            or evidence.is_known(c)
            or (_sentence(c.rest) and not markers.is_metadata_label(c.name))
        )

    return next(
        (r.paragraph for rule in (0, 1, 2) for r in cands if opens_transcript(r, rule)),
        max((r.paragraph for r in rows), default=0) + 1,
    )


def _after_preamble(evidence: _Evidence, cands: list[Row], first_turn: int) -> list[Row]:
    """The marked rows from the first turn on. Before it, labels are metadata ("- **嘉宾**：
    Quintus"), unless a whole block of them all speak again later (the transcript simply
    starts there): that block's rows follow the later ones."""
    later = [r for r in cands if r.paragraph >= first_turn]
    later_keys = {r.candidate.key for r in later if r.candidate is not None}
    for number in sorted({r.paragraph for r in cands if r.paragraph < first_turn}):
        block = [r for r in evidence.paragraphs[number] if r.candidate is not None]
        keys = {r.candidate.key for r in block if r.candidate is not None}
        if evidence.meta_looking[number] and keys <= later_keys:
            later.extend(block)
        else:
            for r in block:
                r.role = "metadata"
    return later


def _drop_show_notes(evidence: _Evidence, later: list[Row]) -> list[Row]:
    """``later`` less show notes: a list of distinct labels seen nowhere else ("- **Paper:**
    …", "- **Dataset:** …"), whose rows become metadata."""
    meta_looking = evidence.meta_looking
    outside_lists = Counter(r.candidate.key for r in later if r.candidate and not meta_looking[r.paragraph])
    for number in sorted({r.paragraph for r in later if meta_looking[r.paragraph] and outside_lists}):
        block = [r for r in evidence.paragraphs[number] if r.candidate is not None]
        if all(r.candidate.listed for r in block if r.candidate) and not any(
            r.candidate and (outside_lists[r.candidate.key] or evidence.is_known(r.candidate)) for r in block
        ):
            for r in block:
                r.role = "metadata"
    return [r for r in later if r.role != "metadata"]


def _speaker_keys(evidence: _Evidence, later: list[Row]) -> set[str]:
    """The keys whose emphasized markers are speakers: known, recurring, or shaped like a
    name. Language labels and editors' notes are marked as such on the way."""
    counts = Counter(r.candidate.key for r in later if r.candidate is not None and r.candidate.kind is not Kind.PLAIN)
    # Names on lines of their own ("Maya Okafor  0:03", "### Ruth"): once the file shows
    # that form three times with a name recurring, a name heard once counts too.
    forms: dict[str, Counter[str]] = {}
    for r in later:
        if r.candidate is not None and r.candidate.form:
            forms.setdefault(r.candidate.form, Counter())[r.candidate.key] += 1
    by_form = {f: sum(c.values()) >= 3 and max(c.values()) >= 2 for f, c in forms.items()}
    is_known = evidence.is_known
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
    return bold_keys


def _accept(row: Row, speakers: Speakers) -> None:
    assert row.candidate is not None
    c = row.candidate
    row.role = "turn"
    speakers.accepted.add(c.key)
    speakers.spellings.setdefault(c.key, Counter())[c.name] += 1
    speakers.labels.setdefault(c.key, set()).add(c.label or c.name)


def _lone_plain_labels(rows: list[Row], speakers: Speakers) -> None:
    """In a file where nearly every paragraph opens with a marker, a plain label that opens
    a paragraph once ("Carla Diaz: My name is…", "THE WITNESS: …", "居民代表｜…") is a
    speaker too. Chinese labels need the bar: "比如：" opens paragraphs in prose."""
    openers = [r for r in rows if r.role in ("turn", "text") and r.heading is None]
    firsts: dict[int, Row] = {}
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


def _surnames(rows: list[Row], speakers: Speakers) -> None:
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
