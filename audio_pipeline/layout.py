"""Where every clip, pause and sentence sits on a section's timeline. Pure: no I/O.

Positions are in frames at the render's sample rate so nothing drifts; cues and
chapters are converted to milliseconds at the end.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .cache import CachedClip
from .mdtext import join_text
from .model import Job, Pauses


@dataclass(frozen=True)
class Piece:
    """Frames ``start``..``end`` of clip ``key``, or ``end`` frames of silence when key is None."""

    key: str | None
    start: int
    end: int

    @property
    def frames(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class PlacedCue:
    start_ms: int
    end_ms: int
    speaker: str | None
    text: str


@dataclass(frozen=True)
class PlacedTurn:
    """One clip on the timeline: a turn (``turn`` is its index) or a heading (None)."""

    turn: int | None
    speaker: str | None
    line: int
    key: str
    start_ms: int
    end_ms: int
    text: str


@dataclass(frozen=True)
class Timeline:
    sample_rate: int
    pieces: tuple[Piece, ...]
    turns: tuple[PlacedTurn, ...]
    cues: tuple[PlacedCue, ...]

    @property
    def frames(self) -> int:
        return sum(p.frames for p in self.pieces)

    @property
    def duration_ms(self) -> int:
        return round(self.frames * 1000 / self.sample_rate)

    @property
    def closing_silence(self) -> int:
        """Frames of silence the timeline ends with (its last piece, when silent)."""
        last = self.pieces[-1] if self.pieces else None
        return last.frames if last is not None and last.key is None else 0

    def with_frames(self, frames: int) -> Timeline:
        """The same timeline made ``frames`` long by lengthening or shortening its closing
        silence (a shortened one keeps at least one frame: nothing spoken is cut)."""
        change = frames - self.frames
        if change == 0:
            return self
        if self.closing_silence + change < 1:
            raise ValueError(f"cannot shorten the closing silence by {-change} frames")
        if self.closing_silence:
            pieces = (*self.pieces[:-1], Piece(None, 0, self.closing_silence + change))
        else:
            pieces = (*self.pieces, Piece(None, 0, change))
        return Timeline(self.sample_rate, pieces, self.turns, self.cues)


class _Builder:
    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.pos = 0
        self.pieces: list[Piece] = []
        self.turns: list[PlacedTurn] = []
        self.cues: list[PlacedCue] = []

    def ms(self, frames: int) -> int:
        return round(frames * 1000 / self.rate)

    def frames(self, ms: int) -> int:
        return round(ms * self.rate / 1000)

    def silence(self, ms: int) -> None:
        n = self.frames(ms)
        if n > 0:
            self.pieces.append(Piece(None, 0, n))
            self.pos += n

    def place(self, job: Job, clip: CachedClip, paragraph_ms: int) -> None:
        """Lay a clip down, opening a pause of ``paragraph_ms`` between its paragraphs."""
        start = self.pos
        last_end: dict[int, int] = {}
        for mark in clip.marks:
            last_end[mark.paragraph] = max(last_end.get(mark.paragraph, 0), self.frames(mark.end_ms))
        paragraphs = sorted(last_end)
        cuts = sorted({min(last_end[p], clip.frames) for p in paragraphs[:-1]})
        gap = self.frames(paragraph_ms)
        prev = 0
        for cut in cuts:
            if cut > prev:
                self.pieces.append(Piece(clip.key, prev, cut))
                self.pos += cut - prev
            self.silence(paragraph_ms)
            prev = cut
        self.pieces.append(Piece(clip.key, prev, clip.frames))
        self.pos += clip.frames - prev

        def shifted(frame: int) -> int:
            return start + frame + gap * sum(1 for c in cuts if c < frame)

        shown = _shown_texts(job, clip)
        for mark, text in zip(clip.marks, shown, strict=True):
            begin = shifted(min(self.frames(mark.start_ms), clip.frames))
            end = shifted(min(self.frames(mark.end_ms), clip.frames))
            if end > begin:
                self.cues.append(PlacedCue(self.ms(begin), self.ms(end), job.speaker, text))
        written = "\n".join(join_text(p) for p in job.shown)
        self.turns.append(
            PlacedTurn(job.turn, job.speaker, job.line, clip.key, self.ms(start), self.ms(self.pos), written)
        )


def _shown_texts(job: Job, clip: CachedClip) -> list[str]:
    """The written text for each mark (lexicon undone). Marks are matched to the
    sentences we sent in order; a mark the engine worded its own way (edge-tts may
    split sentences differently) keeps the engine's text."""
    pairs = [
        (say, see)
        for p_say, p_see in zip(job.request.paragraphs, job.shown, strict=True)
        for say, see in zip(p_say, p_see, strict=True)
    ]
    out: list[str] = []
    i = 0
    for mark in clip.marks:
        j = next((k for k in range(i, len(pairs)) if pairs[k][0] == mark.text), None)
        if j is None:
            out.append(mark.text)
        else:
            out.append(pairs[j][1])
            i = j + 1
    return out


def lay_out(jobs: Sequence[Job], clips: Mapping[str, CachedClip], pauses: Pauses, *, tail_ms: int = 600) -> Timeline:
    """A section's timeline: heading, then turns with pauses at speaker changes.

    ``jobs`` are the section's clips in order (its heading first when it is read).
    """
    if not jobs:
        raise ValueError("a section needs at least one clip")
    rate = clips[jobs[0].key].sample_rate
    b = _Builder(rate)
    previous: Job | None = None
    for job in jobs:
        clip = clips[job.key]
        if clip.sample_rate != rate:
            raise ValueError(f"clip {job.key[:12]} is {clip.sample_rate} Hz, the section {rate} Hz")
        if previous is not None:
            if previous.turn is None:
                b.silence(pauses.after_heading_ms)
            elif previous.speaker != job.speaker:
                b.silence(pauses.speaker_change_ms)
            else:
                b.silence(pauses.paragraph_ms)
        b.place(job, clip, pauses.paragraph_ms)
        previous = job
    b.silence(tail_ms)
    return Timeline(rate, tuple(b.pieces), tuple(b.turns), tuple(b.cues))
