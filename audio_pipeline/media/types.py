"""What the media modules share: the path type, the errors they raise, the result of
a join and what they need of a chapter."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Protocol

from ..errors import PipelineError

StrPath = str | os.PathLike[str]


def path_str(path: StrPath | None) -> str | None:
    """A path as an error names it (None stays None)."""
    return None if path is None else os.fspath(path)


class EncodeError(PipelineError):
    """ffmpeg could not be run, or it failed on a decode/encode/measure job; or an
    audio file is not what it should be."""

    exit_code = 1


class FfmpegUnavailable(EncodeError):
    """ffmpeg cannot be found or started at all: no retry of the job will help."""


@dataclass(frozen=True)
class ConcatResult:
    """Where each input's audio starts in the joined file, as a decoder plays it."""

    starts_ms: tuple[float, ...]
    duration_ms: float


class ChapterLike(Protocol):
    """A chapter as the M4B join writes it (the pipeline's ``model.Chapter`` is one):
    read-only, so frozen dataclasses match."""

    @property
    def title(self) -> str: ...

    @property
    def start_ms(self) -> int: ...

    @property
    def end_ms(self) -> int: ...
