"""WebVTT and SubRip subtitles from timed, attributed cues.

* VTT: ``WEBVTT`` header, ``HH:MM:SS.mmm`` times, the speaker as a voice span
  (``<v 罗永浩>…``), ``& < >`` escaped as character references (so ``-->``
  can never appear inside a cue).
* SRT: numbered cues, ``HH:MM:SS,mmm`` times, the speaker as a plain
  ``Speaker: text`` prefix (SRT has no voice markup; players show the text).

Blank lines inside a cue's text would end the cue in both formats, so runs of
line breaks collapse to one. Hours grow past two digits if ever needed.
Files are written atomically, UTF-8 without BOM, ``\\n`` line endings.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass

from audio_pipeline.fsutil import write_text

__all__ = ["Cue", "to_vtt", "to_srt", "write_vtt", "write_srt", "format_timestamp"]

StrPath = str | os.PathLike[str]


@dataclass(frozen=True)
class Cue:
    """One subtitle: ``text`` shown from ``start_ms`` to ``end_ms``."""

    start_ms: int
    end_ms: int
    speaker: str | None
    text: str


def format_timestamp(ms: int, sep: str = ".") -> str:
    """``HH:MM:SS.mmm`` (or ``,`` for SRT) from integer milliseconds."""
    ms = int(ms)
    if ms < 0:
        raise ValueError(f"negative time {ms} ms")
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{sep}{millis:03d}"


_BREAKS = re.compile(r"\s*\n\s*")


def _clean(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    return _BREAKS.sub("\n", text)


def _escape_vtt(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _checked(cues: Iterable[Cue]) -> list[Cue]:
    out = list(cues)
    previous_start = 0
    for cue in out:
        if cue.start_ms < 0 or cue.end_ms < cue.start_ms:
            raise ValueError(f"bad cue times {cue.start_ms}..{cue.end_ms} ms: {cue.text[:30]!r}")
        if cue.start_ms < previous_start:
            raise ValueError(f"cues out of order at {cue.start_ms} ms: {cue.text[:30]!r}")
        previous_start = cue.start_ms
    return out


def _speaker(cue: Cue) -> str | None:
    if cue.speaker is None:
        return None
    name = " ".join(cue.speaker.split())
    return name or None


def to_vtt(cues: Iterable[Cue]) -> str:
    """Render cues as a WebVTT document."""
    blocks = ["WEBVTT"]
    for cue in _checked(cues):
        timing = f"{format_timestamp(cue.start_ms)} --> {format_timestamp(cue.end_ms)}"
        body = _escape_vtt(_clean(cue.text))
        name = _speaker(cue)
        if name is not None:
            body = f"<v {_escape_vtt(name)}>{body}"
        blocks.append(f"{timing}\n{body}")
    return "\n\n".join(blocks) + "\n"


def to_srt(cues: Iterable[Cue], *, speaker_sep: str = ": ") -> str:
    """Render cues as SubRip, numbered from 1, ``Speaker: text``."""
    blocks = []
    for number, cue in enumerate(_checked(cues), start=1):
        timing = f"{format_timestamp(cue.start_ms, ',')} --> {format_timestamp(cue.end_ms, ',')}"
        body = _clean(cue.text)
        name = _speaker(cue)
        if name is not None:
            body = f"{name}{speaker_sep}{body}"
        blocks.append(f"{number}\n{timing}\n{body}")
    return "\n\n".join(blocks) + "\n" if blocks else ""


def write_vtt(cues: Iterable[Cue], path: StrPath) -> None:
    """Write :func:`to_vtt` to ``path`` atomically."""
    write_text(path, to_vtt(cues))


def write_srt(cues: Iterable[Cue], path: StrPath) -> None:
    """Write :func:`to_srt` to ``path`` atomically."""
    write_text(path, to_srt(cues))
