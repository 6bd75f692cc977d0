"""Content-addressed clip store: key -> WAV audio plus a JSON sidecar with its marks.

An entry is the pair ``<key>.wav`` + ``<key>.json``, both written to temporary names
and renamed, WAV first: the sidecar's presence is the commit point, so a kill at any
moment leaves either a whole entry or none. ``get`` checks the entry still decodes
(header, length, frame count against the sidecar) and drops it when it does not.

Clips composed sentence by sentence also leave, per sentence, a small pointer
``sentences/<kk>/<sentence key>.json`` naming the clip and the sentence's samples in
it: :meth:`ClipCache.sentence` serves an unchanged sentence of an edited turn from
there. A pointer is only a hint: it is checked against the clip's own sidecar and
dropped when the clip is gone or does not list that sentence.
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
import numpy.typing as npt

from . import fsutil
from .model import AudioSegment, Mark, SentenceSpan, Synthesis

SILENCE_DB = -50.0
SENTENCES = "sentences"  # the folder of sentence pointers under the cache root


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
    # Where each sentence sits, in samples, for clips composed sentence by sentence.
    sentences: tuple[SentenceSpan, ...] = ()

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
        try:
            marks = tuple(Mark(**m) for m in meta.get("marks", []))
            spans = tuple(SentenceSpan(str(k), int(a), int(b)) for k, a, b in meta.get("sentences", []))
            clip = CachedClip(key, wav_path, meta["duration_ms"], rate, frames, marks, float(meta["level_db"]), spans)
        except (TypeError, ValueError, KeyError):
            self.discard(key)
            return None
        return clip

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
        if synthesis.sentences:
            meta["sentences"] = [[s.key, s.start, s.end] for s in synthesis.sentences]
        fsutil.write_text(meta_path, json.dumps(meta, ensure_ascii=False, sort_keys=True))
        clip = self.get(key)
        assert clip is not None, "a clip just written must read back"
        for span in clip.sentences:  # after the commit point: a pointer never names a half entry
            with contextlib.suppress(OSError):  # a pointer is only a hint: the clip is what counts
                pointer = json.dumps({"clip": key, "start": span.start, "end": span.end})
                fsutil.write_text(self._pointer(span.key), pointer)
        return clip

    def _pointer(self, sentence_key: str) -> Path:
        return self.root / SENTENCES / sentence_key[:2] / f"{sentence_key}.json"

    def sentence(self, sentence_key: str, sample_rate: int) -> npt.NDArray[np.int16] | None:
        """One sentence's samples from a cached clip that has it, or None.

        ``sample_rate`` is the rate the caller needs; a stale or damaged pointer is dropped.
        """
        pointer = self._pointer(sentence_key)
        try:
            target = json.loads(pointer.read_text("utf-8"))
            span = SentenceSpan(sentence_key, int(target["start"]), int(target["end"]))
            clip = self.get(str(target["clip"]))
            if clip is None or clip.sample_rate != sample_rate or span not in clip.sentences:
                raise ValueError("stale pointer")
            with wave.open(str(clip.path), "rb") as wav:
                wav.setpos(span.start)
                data = wav.readframes(span.end - span.start)
            if len(data) != 2 * (span.end - span.start):
                raise ValueError("short read")
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, EOFError, wave.Error):
            with contextlib.suppress(OSError):
                pointer.unlink()
            return None
        return np.frombuffer(data, dtype="<i2").astype(np.int16)

    def discard(self, key: str) -> None:
        """Drop an entry, and the pointers to its sentences (so re-synthesizing it, e.g.
        ``check --fix``, speaks them afresh rather than from a copy elsewhere)."""
        wav_path, meta_path = self._paths(key)
        with contextlib.suppress(OSError, ValueError, TypeError, AttributeError):
            for sentence_key, *_ in json.loads(meta_path.read_text("utf-8")).get("sentences", []):
                with contextlib.suppress(FileNotFoundError):
                    self._pointer(str(sentence_key)).unlink()
        for path in (wav_path, meta_path):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def keys(self) -> Iterator[str]:
        if not self.root.is_dir():
            return
        for meta in self.root.glob("??/*.json"):
            yield meta.stem

    def info(self) -> tuple[int, int]:
        """(entries, bytes on disk), counting sentence pointers and stray temporary files too."""
        entries = sum(1 for _ in self.keys())
        files = [*self.root.glob("??/*"), *(self.root / SENTENCES).glob("??/*")] if self.root.is_dir() else []
        return entries, sum(p.stat().st_size for p in files if p.is_file())

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
        for pointer in sorted((self.root / SENTENCES).glob("??/*")):
            try:
                clip = str(json.loads(pointer.read_text("utf-8"))["clip"]) if not pointer.name.startswith(".") else None
            except (OSError, ValueError, KeyError, TypeError):
                clip = None
            if clip not in keep:
                with contextlib.suppress(FileNotFoundError):  # also dropped by a concurrent lookup
                    size = pointer.stat().st_size
                    pointer.unlink()
                    freed += size
        for folder in (self.root / SENTENCES).glob("??"):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when empty
        return removed, freed
