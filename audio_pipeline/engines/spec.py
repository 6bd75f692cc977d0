"""What voices.yaml may give an engine, known without importing the engine itself."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class EngineSpec:
    """One engine's rules for its voices in voices.yaml, declared beside the engine in a
    module light enough to import for validation alone."""

    # The per-voice settings the engine understands besides ``voice`` (voices.py checks
    # each setting's format, which is the same for every engine).
    settings: tuple[str, ...]
    # What is wrong with a voice name, in words; None when it is fine (or can only be
    # checked when the engine loads it).
    voice_problem: Callable[[str], str | None]
