"""The engines by name: how to build each one, what voices.yaml may give it, and which
one ``auto`` means.

An engine is registered with its class (for the built-in ones a ``"module:Class"`` path,
imported on first use: kokoro pulls in onnxruntime, edge aiohttp and edge-tts) and an
:class:`EngineSpec` from a light module beside it, so voices.yaml is checked without
importing any engine. Tests register stand-ins the same way (:func:`register`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import EngineError
from . import edge_voices, espeak_voices, kokoro_voices
from .base import Engine
from .spec import EngineSpec

AUTO = "auto"  # not an engine: resolve() picks one for the run
ONLINE = "edge"
DEFAULT_OFFLINE = "kokoro"

# Builds an engine from its ``options`` in voices.yaml (keyword arguments).
Factory = Callable[..., Engine]


@dataclass(frozen=True)
class _Entry:
    spec: EngineSpec
    # The factory, or where to import it from ("module:Class") when first needed.
    factory: Factory | str


_REGISTRY: dict[str, _Entry] = {}


def register(name: str, factory: Factory | str, spec: EngineSpec) -> None:
    """Make engine ``name`` known to voices.yaml, the CLI and :func:`create`. A name is
    registered once (:func:`unregister` frees it)."""
    if name == AUTO or name in _REGISTRY:
        raise ValueError(f"engine name {name!r} is taken")
    _REGISTRY[name] = _Entry(spec, factory)


def unregister(name: str) -> None:
    del _REGISTRY[name]


def names() -> tuple[str, ...]:
    """The registered engines, in the order of registration (voices.yaml's messages list
    them so)."""
    return tuple(_REGISTRY)


def _entry(name: str) -> _Entry:
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise EngineError(f"unknown engine {name!r} (known: {known})") from None


def spec(name: str) -> EngineSpec:
    """What voices.yaml may give engine ``name``; EngineError when it is not registered."""
    return _entry(name).spec


def create(name: str, options: Mapping[str, Any] | None = None) -> Engine:
    """Build engine ``name`` with engine-level ``options`` from voices.yaml."""
    factory = _entry(name).factory
    if isinstance(factory, str):
        module_name, _, cls_name = factory.partition(":")
        factory = getattr(importlib.import_module(module_name), cls_name)
    engine: Engine = factory(**dict(options or {}))
    return engine


@dataclass(frozen=True)
class Resolved:
    """The engine a run uses, and what to tell the user about the choice (None: nothing)."""

    name: str
    notice: str | None = None


def resolve(
    name: str,
    *,
    recorded: str | None = None,
    timeout: float = 3.0,
    preflight: Callable[[float], str | None] | None = None,
) -> Resolved:
    """The engine for a run asked for ``name``: that engine, unless it is ``auto``.

    ``auto`` is, in this order: the engine that made the last render (``recorded``, when
    it is registered: what ``check`` listens to); edge when its service answers a short
    pre-flight within ``timeout`` seconds; else the offline default, for the whole run
    (never a mix). ``preflight`` replaces edge's (it returns None or why not).
    """
    if name != AUTO:
        return Resolved(name)
    if recorded is not None and recorded in _REGISTRY:
        return Resolved(recorded, f"checking the clips of the last render (engine {recorded})")
    reason = (preflight or _edge_preflight)(timeout)
    if reason is None:
        return Resolved(ONLINE)
    return Resolved(DEFAULT_OFFLINE, f"edge-tts unavailable ({reason}); rendering everything with {DEFAULT_OFFLINE}")


def _edge_preflight(timeout: float) -> str | None:
    from .edge import preflight  # edge-tts and aiohttp load only when "auto" asks

    return preflight(timeout=timeout)


register("kokoro", "audio_pipeline.engines.kokoro:KokoroEngine", kokoro_voices.SPEC)
register("edge", "audio_pipeline.engines.edge:EdgeEngine", edge_voices.SPEC)
register("espeak", "audio_pipeline.engines.espeak:EspeakEngine", espeak_voices.SPEC)
