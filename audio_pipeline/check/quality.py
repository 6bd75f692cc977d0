"""Fast checks on a clip's samples: no recognizer, just numpy, a few milliseconds a clip.

They catch what a listener would notice without understanding a word: a clip cut off
or padded far beyond what its text needs, a clip with no voice in it, a long hole in
the middle, and hard clipping. Each problem is one human-readable line; an empty list
means the clip looks fine. Listening back with the recognizer (``listen.py``) is the
slow, thorough check.

Thresholds (all measured against what ``engines.base.expected_ms`` says the text needs
at the voice's speed, "need"):

- too short: duration < ``SHORT_RATIO`` x need, when need >= ``MIN_NEED_MS`` (a clip
  that short has been cut off; the retry loop already refuses < 0.35 x need, this
  catches milder cuts). Measured on the seed (sections 1-2, 23 clips each): kokoro
  clips last 0.99-1.31 x need (median 1.17), espeak 1.07-1.28 x (median 1.13), so 0.5
  and 2.5 leave wide margins both ways.
- too long: duration > ``LONG_RATIO`` x need + ``LONG_SLACK_MS`` (babbling, a repeated
  chunk, or silence padding).
- silent: no 50 ms frame above -50 dBFS, or the speech level (``clip.level_db``) below
  ``QUIET_DB``.
- long silence: a run of 50 ms frames quieter than ``min(-50 dBFS, level - 30 dB)``
  longer than ``MAX_SILENCE_MS`` anywhere in the clip (engines trim their ends, and
  pauses between paragraphs are added later by the assembler, not inside clips).
- clipping: more than ``CLIP_SHARE`` of the samples at full scale (|s| >= 32767).
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ..cache import SILENCE_DB, CachedClip, speech_level_db
from ..engines.base import expected_ms
from ..model import ClipRequest

SHORT_RATIO = 0.5
MIN_NEED_MS = 1200
LONG_RATIO = 2.5
LONG_SLACK_MS = 2000
QUIET_DB = -40.0
MAX_SILENCE_MS = 3000
SILENCE_MARGIN_DB = 30.0
CLIP_SHARE = 0.001
FULL_SCALE = 32767
FRAME_MS = 50

Int16Array = npt.NDArray[np.int16]


def read_samples(path: Path) -> tuple[Int16Array, int]:
    """Mono 16-bit samples and sample rate of a cached clip's WAV."""
    with wave.open(str(path), "rb") as wav:
        rate = wav.getframerate()
        data = wav.readframes(wav.getnframes())
    return np.frombuffer(data, dtype=np.int16), rate


def need_ms(request: ClipRequest) -> float:
    """How long the request's text should take at the voice's speed."""
    return expected_ms(request.text) / max(request.spec.speed, 0.25)


def frame_db(samples: Int16Array, rate: int, frame_ms: int = FRAME_MS) -> npt.NDArray[np.float64]:
    """Power of each whole ``frame_ms`` frame in dBFS (-120 for digital silence)."""
    size = max(1, rate * frame_ms // 1000)
    n = len(samples) // size
    if n == 0:
        return np.zeros(0)
    x = samples[: n * size].astype(np.float64).reshape(n, size) / 32768.0
    power = np.mean(x**2, axis=1)
    result: npt.NDArray[np.float64] = 10 * np.log10(np.maximum(power, 1e-12))
    return result


def longest_silence(samples: Int16Array, rate: int, level_db: float) -> tuple[int, int]:
    """(start_ms, length_ms) of the longest run of frames quieter than the gate."""
    db = frame_db(samples, rate)
    if db.size == 0:
        return 0, 0
    gate = min(SILENCE_DB, level_db - SILENCE_MARGIN_DB)
    quiet = np.concatenate(([0], (db < gate).astype(np.int8), [0]))
    edges = np.flatnonzero(np.diff(quiet))
    if edges.size == 0:
        return 0, 0
    starts, ends = edges[0::2], edges[1::2]
    lengths = ends - starts
    best = int(np.argmax(lengths))
    return int(starts[best]) * FRAME_MS, int(lengths[best]) * FRAME_MS


def check_samples(request: ClipRequest, samples: Int16Array, rate: int, level_db: float | None = None) -> list[str]:
    """The fast checks on raw samples (``fast_check`` reads them from the cache)."""
    if samples.size == 0 or rate <= 0:
        return ["empty: the clip has no audio"]
    problems: list[str] = []
    duration = samples.size * 1000 / rate
    need = need_ms(request)
    level = speech_level_db(samples, rate) if level_db is None else level_db
    peak = int(np.max(np.abs(samples.astype(np.int32))))

    silent = peak == 0 or level <= SILENCE_DB or level < QUIET_DB
    if silent:
        problems.append(f"silent: speech level {level:.0f} dBFS (a voice is above {QUIET_DB:.0f})")
    if need >= MIN_NEED_MS and duration < SHORT_RATIO * need:
        problems.append(f"too short: {duration / 1000:.1f} s where the text needs about {need / 1000:.1f} s (cut off?)")
    elif duration > LONG_RATIO * need + LONG_SLACK_MS:
        problems.append(f"too long: {duration / 1000:.1f} s where the text needs about {need / 1000:.1f} s")
    if not silent:
        start, length = longest_silence(samples, rate, level)
        if length > MAX_SILENCE_MS:
            problems.append(f"silence of {length / 1000:.1f} s at {start / 1000:.1f} s")
    clipped = int(np.count_nonzero((samples >= FULL_SCALE) | (samples <= -FULL_SCALE)))
    if clipped > CLIP_SHARE * samples.size:
        problems.append(f"clipping: {clipped / samples.size:.1%} of samples at full scale")
    return problems


def fast_check(request: ClipRequest, clip: CachedClip) -> list[str]:
    """Problems a listener would notice in ``clip`` without understanding it; [] if none."""
    try:
        samples, rate = read_samples(clip.path)
    except (OSError, EOFError, wave.Error) as exc:
        return [f"unreadable: {exc}"]
    return check_samples(request, samples, rate, clip.level_db)
