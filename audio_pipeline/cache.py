"""Content-addressed clip store: key -> WAV audio plus a JSON sidecar with its marks.

An entry is the pair ``<key>.wav`` + ``<key>.json``, both written to temporary names
and renamed, WAV first: the sidecar's presence is the commit point, so a kill at any
moment leaves either a whole entry or none. ``get`` checks the entry still decodes
(header, length, frame count against the sidecar) and drops it when it does not.
"""

from __future__ import annotations

import contextlib
import json
import math
import wave
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import fsutil
from .model import AudioSegment, Mark, Synthesis

SILENCE_DB = -50.0


@dataclass(frozen=True)
class CachedClip:
    key: str
    path: Path
    duration_ms: int
    sample_rate: int
    frames: int
    marks: tuple[Mark, ...]
    # Speech level (RMS of frames above a gate, dBFS): used to match voices' loudness.
    level_db: float

    def load(self) -> AudioSegment:
        with wave.open(str(self.path), "rb") as wav:
            data = wav.readframes(wav.getnframes())
        return AudioSegment(data=data, sample_width=2, frame_rate=self.sample_rate, channels=1)


def speech_level_db(samples: np.ndarray, sample_rate: int) -> float:
    """RMS over 50 ms frames louder than a -50 dBFS gate, so pauses don't lower the level."""
    x = samples.astype(np.float64) / 32768.0
    size = max(1, sample_rate // 20)
    n = len(x) // size
    if n == 0:
        return SILENCE_DB if len(x) == 0 else 20 * math.log10(max(float(np.sqrt(np.mean(x**2))), 1e-9))
    frames = x[: n * size].reshape(n, size)
    power = np.mean(frames**2, axis=1)
    gate = 10 ** (SILENCE_DB / 10)
    active = power[power > gate]
    if active.size == 0:
        return SILENCE_DB
    return float(10 * math.log10(float(np.mean(active))))


class ClipCache:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _paths(self, key: str) -> tuple[Path, Path]:
        folder = self.root / key[:2]
        return folder / f"{key}.wav", folder / f"{key}.json"

    def get(self, key: str) -> CachedClip | None:
        wav_path, meta_path = self._paths(key)
        try:
            meta = json.loads(meta_path.read_text("utf-8"))
            with wave.open(str(wav_path), "rb") as wav:
                frames, rate, width, channels = (
                    wav.getnframes(),
                    wav.getframerate(),
                    wav.getsampwidth(),
                    wav.getnchannels(),
                )
            size = wav_path.stat().st_size
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, EOFError, wave.Error):
            self.discard(key)
            return None
        if (
            frames <= 0
            or width != 2
            or channels != 1
            or frames != meta.get("frames")
            or rate != meta.get("sample_rate")
            or size < 44 + frames * 2
        ):
            self.discard(key)
            return None
        marks = tuple(Mark(**m) for m in meta.get("marks", []))
        return CachedClip(key, wav_path, meta["duration_ms"], rate, frames, marks, float(meta["level_db"]))

    def put(self, key: str, synthesis: Synthesis) -> CachedClip:
        audio = synthesis.audio.set_channels(1).set_sample_width(2)
        samples = np.frombuffer(audio.raw_data, dtype=np.int16)
        wav_path, meta_path = self._paths(key)
        with fsutil.atomic_path(wav_path) as tmp, wave.open(str(tmp), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(audio.frame_rate)
            wav.writeframes(audio.raw_data)
        meta = {
            "key": key,
            "sample_rate": audio.frame_rate,
            "frames": len(samples),
            "duration_ms": round(len(samples) * 1000 / audio.frame_rate),
            "level_db": round(speech_level_db(samples, audio.frame_rate), 3),
            "marks": [m.__dict__ for m in synthesis.marks],
        }
        fsutil.write_text(meta_path, json.dumps(meta, ensure_ascii=False, sort_keys=True))
        clip = self.get(key)
        assert clip is not None, "a clip just written must read back"
        return clip

    def discard(self, key: str) -> None:
        for path in self._paths(key):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def keys(self) -> Iterator[str]:
        if not self.root.is_dir():
            return
        for meta in self.root.glob("??/*.json"):
            yield meta.stem

    def info(self) -> tuple[int, int]:
        """(entries, bytes on disk), counting stray temporary files too."""
        entries = sum(1 for _ in self.keys())
        size = sum(p.stat().st_size for p in self.root.glob("??/*") if p.is_file()) if self.root.is_dir() else 0
        return entries, size

    def prune(self, keep: Iterable[str]) -> tuple[int, int]:
        """Drop every entry not in ``keep`` and any leftover temporary file."""
        keep = set(keep)
        removed = freed = 0
        if not self.root.is_dir():
            return 0, 0
        for path in sorted(self.root.glob("??/*")):
            key = path.name.split(".")[0]
            stray = path.name.startswith(".") or path.suffix == ".part"
            if stray or key not in keep:
                freed += path.stat().st_size
                path.unlink()
                if path.suffix == ".json" and not stray:
                    removed += 1
        return removed, freed
