"""espeak-ng's voice names (``language[+variant]``) from the data espeakng-loader ships.

Light on purpose: voices.yaml is checked against these names without loading the
library (see :mod:`audio_pipeline.engines.espeak` for the engine).
"""

from __future__ import annotations

import functools
from pathlib import Path

from .spec import EngineSpec


def scan(data: Path) -> tuple[frozenset[str], frozenset[str]]:
    """Languages and variants in the espeak-ng data folder ``data``, lower-cased: espeak-ng
    matches names case-insensitively (``en-us`` is the file ``en-US``)."""
    langs = frozenset(p.name.lower() for p in (data / "lang").rglob("*") if p.is_file())
    variants = frozenset(p.name.lower() for p in (data / "voices" / "!v").iterdir() if p.is_file())
    return langs, variants


@functools.cache
def installed() -> tuple[frozenset[str], frozenset[str]]:
    """:func:`scan` of espeakng-loader's data; empty (any name passes) without it."""
    try:
        import espeakng_loader

        data = Path(espeakng_loader.get_data_path())
    except Exception:  # the package is a dependency; tolerate its absence in validation
        return frozenset(), frozenset()
    return scan(data)


def voice_problem(voice: str) -> str | None:
    """Why ``voice`` names no installed espeak-ng language or variant (None: it does)."""
    langs, variants = installed()
    lang, _, variant = voice.partition("+")
    if langs and lang.lower() not in langs:
        return f"unknown espeak-ng language {lang!r}"
    if variant and variants and variant.lower() not in variants:
        return f"unknown espeak-ng variant {variant!r}"
    return None


SPEC = EngineSpec(settings=("rate", "pitch", "volume"), voice_problem=voice_problem)
