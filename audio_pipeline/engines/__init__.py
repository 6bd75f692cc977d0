"""Engines by name. Modules are imported lazily: kokoro pulls in onnxruntime."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from ..errors import EngineError
from .base import Engine

ENGINES: dict[str, str] = {
    "kokoro": "audio_pipeline.engines.kokoro:KokoroEngine",
    "edge": "audio_pipeline.engines.edge:EdgeEngine",
    "espeak": "audio_pipeline.engines.espeak:EspeakEngine",
}
DEFAULT_OFFLINE = "kokoro"


def create(name: str, options: Mapping[str, Any] | None = None) -> Engine:
    """Build engine ``name`` with engine-level ``options`` from voices.yaml."""
    try:
        target = ENGINES[name]
    except KeyError:
        known = ", ".join(sorted(ENGINES))
        raise EngineError(f"unknown engine {name!r} (known: {known})") from None
    module_name, _, cls_name = target.partition(":")
    cls = getattr(importlib.import_module(module_name), cls_name)
    engine: Engine = cls(**dict(options or {}))
    return engine
