"""How the core reports progress without printing: a callback the CLI feeds to tqdm."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol


@dataclass(frozen=True)
class Event:
    """``start`` opens a stage of ``total`` steps, ``step`` advances it by ``amount``
    (``cached`` steps cost nothing; a step's ``total``, when given, revises the stage's
    total), ``end`` closes it, ``notice`` is one line for the user, ``episode`` says an
    episode file (``message``) of section ``total`` is ready to play.

    The "audio" stage counts seconds of audio (``unit`` "s"): estimated from the text
    before synthesis, corrected as clips finish, so its rate and ETA are honest whether
    a clip lasts one second or sixty."""

    kind: Literal["start", "step", "end", "notice", "episode"]
    stage: str = ""
    total: float = 0
    cached: bool = False
    message: str = ""
    amount: float = 1
    unit: str = ""


class Reporter(Protocol):
    def __call__(self, event: Event) -> None: ...


def silent(event: Event) -> None:
    """The default reporter: ignores everything."""
