"""Plain frozen values passed between the stages."""

from __future__ import annotations

import functools
import hashlib
import json
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from .mdtext import join_text

with warnings.catch_warnings():
    # pydub looks for ffmpeg on PATH at import time; we hand it imageio-ffmpeg's own.
    warnings.simplefilter("ignore", RuntimeWarning)
    from pydub import AudioSegment as AudioSegment  # re-exported: the one audio value type


def _digest(payload: Mapping[str, Any]) -> str:
    blob = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Notice:
    """Something the parser skipped or is unsure of; ``line`` is 1-based (None: the file)."""

    line: int | None
    message: str
    level: str = "notice"  # or "warning": the output is probably not what the user wants


@dataclass(frozen=True)
class Turn:
    """One speaker's turn (or narration when ``speaker`` is None).

    ``paragraphs`` holds the cleaned, speakable text of each source paragraph;
    ``line`` is the 1-based line in the source file where the turn starts; ``time`` the
    first timestamp written in the turn (``HH:MM:SS``); ``directions`` the stage
    directions and transcriber notes taken out of it (``(laughs)``, ``[crosstalk]``).
    """

    speaker: str | None
    paragraphs: tuple[str, ...]
    line: int
    time: str | None = None
    directions: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        return "\n".join(self.paragraphs)


@dataclass(frozen=True)
class Section:
    index: int  # 1-based
    title: str
    line: int
    turns: tuple[Turn, ...]

    @property
    def speakers(self) -> tuple[str, ...]:
        """Named speakers in order of first appearance."""
        seen: dict[str, None] = {}
        for turn in self.turns:
            if turn.speaker is not None:
                seen.setdefault(turn.speaker, None)
        return tuple(seen)


@dataclass(frozen=True)
class Transcript:
    title: str
    source: str
    sections: tuple[Section, ...]
    meta: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False)
    notices: tuple[Notice, ...] = field(default=(), compare=False)

    @property
    def speakers(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for section in self.sections:
            for name in section.speakers:
                seen.setdefault(name, None)
        return tuple(seen)

    @property
    def turns(self) -> tuple[Turn, ...]:
        return tuple(t for s in self.sections for t in s.turns)


@dataclass(frozen=True)
class VoiceSpec:
    """Everything an engine needs to know about a voice.

    ``rate``/``volume`` are signed percentages and ``pitch`` signed Hz, in
    edge-tts's notation; ``speed`` is Kokoro's multiplier. Engines ignore what
    they do not support (voices.yaml refuses such keys for them).
    """

    engine: str
    voice: str
    rate: str = "+0%"
    pitch: str = "+0Hz"
    volume: str = "+0%"
    speed: float = 1.0


@dataclass(frozen=True)
class ClipRequest:
    """What to synthesize. Its ``key`` is the whole truth about the clip."""

    spec: VoiceSpec
    # Prepared text: paragraphs of sentences, after lexicon and cleanup.
    paragraphs: tuple[tuple[str, ...], ...]
    engine_version: str
    audio_format: str = "wav-s16le-mono"
    # The language the text is read in ("zh": Chinese with Latin runs read as English,
    # "en": English throughout). Mandarin was the only language before there was this
    # field, so "zh" stays out of the keys and their clips keep them.
    lang: str = "zh"

    def _identity(self) -> dict[str, Any]:
        identity: dict[str, Any] = {
            "spec": asdict(self.spec),
            "engine_version": self.engine_version,
            "format": self.audio_format,
        }
        if self.lang != "zh":
            identity["lang"] = self.lang
        return identity

    @functools.cached_property
    def key(self) -> str:
        return _digest({**self._identity(), "paragraphs": [list(p) for p in self.paragraphs]})

    def sentence_key(self, sentence: str) -> str:
        """The key of one sentence's audio in this voice: for engines that speak a clip
        sentence by sentence, a sentence shared with an earlier clip (an edited turn's
        unchanged sentences) is taken from that clip instead of synthesized again."""
        return _digest({**self._identity(), "sentence": sentence})

    @property
    def text(self) -> str:
        return "\n".join(join_text(p) for p in self.paragraphs)


# Where a clip sits: a section's turn, its heading (turn None), or the interview
# title (section 0, turn None).
TITLE_SECTION = 0


@dataclass(frozen=True)
class Job:
    """One clip to make, and where it sits in the transcript."""

    section: int
    turn: int | None
    line: int
    speaker: str | None
    request: ClipRequest
    # The sentences as written (``request`` holds them as spoken), for subtitles.
    shown: tuple[tuple[str, ...], ...]

    @property
    def key(self) -> str:
        return self.request.key

    def describe(self) -> str:
        who = self.speaker or "narrator"
        where = "title" if self.section == TITLE_SECTION else f"section {self.section}"
        return f"{where}, {who}"


@dataclass(frozen=True)
class Mark:
    """Where one sentence sits inside a clip, in milliseconds."""

    paragraph: int
    text: str
    start_ms: int
    end_ms: int


@dataclass(frozen=True)
class SentenceSpan:
    """One sentence's audio inside a composed clip, in samples."""

    key: str
    start: int
    end: int


@dataclass(frozen=True)
class Synthesis:
    """An engine's answer: mono 16-bit audio plus sentence marks."""

    audio: AudioSegment
    marks: tuple[Mark, ...]
    # For clips composed sentence by sentence: each mark's exact [start, end) in
    # samples and its sentence key, so the cache can hand the sentence out again.
    sentences: tuple[SentenceSpan, ...] = ()

    @property
    def duration_ms(self) -> int:
        return len(self.audio)


@dataclass(frozen=True)
class Chapter:
    """A chapter: its title and where it starts and ends, in milliseconds."""

    title: str
    start_ms: int
    end_ms: int

    def __post_init__(self) -> None:
        if self.start_ms < 0 or self.end_ms < self.start_ms:
            raise ValueError(f"bad chapter times {self.start_ms}..{self.end_ms} ms")


@dataclass(frozen=True)
class EpisodeTags:
    """The tags one episode file carries."""

    title: str
    album: str
    artist: str
    track: tuple[int, int]
    date: str | None


@dataclass(frozen=True)
class Pauses:
    """Silences the assembler puts between clips (voices.yaml's ``pauses``), in ms."""

    paragraph_ms: int = 350
    speaker_change_ms: int = 700
    after_heading_ms: int = 900
    between_sections_ms: int = 1500
