"""How the core reports progress without printing: a callback the CLI feeds to tqdm."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol


@dataclass(frozen=True)
class Event:
    """``start`` opens a stage of ``total`` steps, ``step`` advances it (``cached``
    steps cost nothing), ``end`` closes it, ``notice`` is one line for the user."""

    kind: Literal["start", "step", "end", "notice"]
    stage: str = ""
    total: int = 0
    cached: bool = False
    message: str = ""


class Reporter(Protocol):
    def __call__(self, event: Event) -> None: ...


def silent(event: Event) -> None:
    """The default reporter: ignores everything."""
