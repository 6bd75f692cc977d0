"""One exception base for everything the pipeline reports to a user.

The CLI turns a ``PipelineError`` into one line and an exit code; anything else
is a bug and keeps its traceback.
"""

from __future__ import annotations


class PipelineError(Exception):
    """Base of every error the user can act on."""

    exit_code = 2

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        self.message = message
        self.path = path
        self.line = line
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = self.path if self.line is None else f"{self.path}:{self.line}"
            where += ": "
        return f"{where}{self.message}"


class TranscriptError(PipelineError):
    """The transcript cannot be read or parsed."""


class ConfigError(PipelineError):
    """voices.yaml (or another setting) is invalid."""


class EngineError(PipelineError):
    """An engine cannot be used at all (missing model, unknown engine)."""


class SynthesisError(PipelineError):
    """One synthesis call failed. ``transient`` says whether a retry may help."""

    exit_code = 1

    def __init__(self, message: str, *, transient: bool = False) -> None:
        self.transient = transient
        super().__init__(message)


class RenderError(PipelineError):
    """A render finished with failed turns, or could not run."""

    exit_code = 1
