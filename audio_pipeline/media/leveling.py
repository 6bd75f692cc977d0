"""Levelling in-process: gain to a target loudness and, when the peaks would pass a
ceiling, a look-ahead true-peak limiter, with numpy (no ffmpeg passes).

:func:`level`'s limiter builds its gain envelope from oversampled peaks
(:func:`audio_pipeline.media.loudness.interval_peaks`, linear-in-dB attack and release
ramps), so the processed signal's true peak is at or under the ceiling by
construction; the loudness it leaves is estimated from the K-weighted energy on a fine
grid (:func:`audio_pipeline.media.loudness.k_cells`), not filtered again.
Deterministic for one numpy build.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from . import parallel
from .loudness import (
    F64,
    FULL_SCALE,
    I64,
    SILENCE_LUFS,
    Int16,
    candidate_spans,
    integrated_lufs,
    interval_peaks,
    k_cells,
    subblock,
    true_peak,
    true_peak_dbtp,
)

__all__ = ["Leveled", "level"]

#: Limiter ramps, straight lines in dB: attack (look-ahead) and release rates.
ATTACK_DB_PER_MS = 2.0
RELEASE_DB_PER_MS = 0.12
#: Oversampling of the limiter's own peak map (cheaper than a measurement's 8x; its
#: result is measured at 8x afterwards).
LIMITER_OVERSAMPLING = 4


class _Envelope:
    """Gain reduction (dB, >= 0) around sparse points, evaluated a chunk at a time.

    At sample n it is the largest over points k of ``need[k]`` less a ramp,
    ``attack * (k - n)`` before k and ``release * (n - k)`` after it: at least
    ``need`` at every point, reached and left along straight lines in dB.
    """

    def __init__(self, points: I64, need_db: F64, attack: float, release: float) -> None:
        self.points = points
        self.need = need_db
        self.attack = attack  # dB per index
        self.release = release
        top = float(need_db.max()) if need_db.size else 0.0
        self.before = math.ceil(top / attack) + 1
        self.after = math.ceil(top / release) + 1

    def coarse(self, factor: int) -> _Envelope:
        """The same envelope on a grid ``factor`` times coarser (largest need per cell)."""
        cells = self.points // factor
        if not cells.size:
            return _Envelope(cells, self.need, self.attack * factor, self.release * factor)
        first = np.flatnonzero(np.concatenate([[True], cells[1:] != cells[:-1]]))
        need = np.maximum.reduceat(self.need, first)
        return _Envelope(cells[first], need, self.attack * factor, self.release * factor)

    def gain(self, start: int, stop: int) -> F64:
        """Linear gain (<= 1) for indices start..stop-1."""
        out = np.ones(stop - start)
        lo, hi = start - self.after, stop + self.before
        a, b = np.searchsorted(self.points, [lo, hi])
        if a == b:
            return out
        span = hi - lo
        peak = np.full(span, -np.inf)
        np.maximum.at(peak, self.points[a:b] - lo, self.need[a:b])
        j = np.arange(span, dtype=np.float64)
        reduction = np.maximum.accumulate(peak + self.release * j) - self.release * j
        np.maximum(
            reduction, np.maximum.accumulate((peak - self.attack * j)[::-1])[::-1] + self.attack * j, out=reduction
        )
        cut = reduction[self.after : self.after + stop - start]
        on = cut > 0
        out[on] = 10 ** (cut[on] / -20)
        return out


@dataclass(frozen=True)
class Leveled:
    """:func:`level`'s result: processed PCM and what it measures in-process."""

    pcm: Int16
    gain_db: float
    ceiling_dbtp: float | None  # None: no limiting was needed
    input_lufs: float
    lufs: float  # of ``pcm``: measured, or when limited estimated (within ~0.02 LU)
    true_peak_dbtp: float  # of ``pcm``, measured (8x)


_CHUNK = 1 << 17


def _apply(x: Int16, gain: float, envelope: _Envelope | None) -> Int16:
    y = np.empty(len(x), dtype=np.int16)

    def chunk(start: int, stop: int) -> None:
        g = gain if envelope is None else gain * envelope.gain(start, stop)
        y[start:stop] = np.clip(np.round(x[start:stop] * g), -32768, 32767)

    parallel.in_parallel(chunk, list(parallel.chunks(len(x), _CHUNK)))
    return y


class _PeakMap:
    """Each sample's neighbourhood true peak (itself and the spans either side, 4x),
    for samples whose value could reach a threshold; computed lazily, widened on demand."""

    def __init__(self, x: Int16) -> None:
        self.x = x
        self.covered = math.inf
        self.points = np.zeros(0, dtype=np.int64)
        self.peaks = np.zeros(0)

    def over(self, threshold: float) -> tuple[I64, F64]:
        """(samples, their neighbourhood peak) for every sample whose peak reaches ``threshold``."""
        if threshold < self.covered:
            self.covered = threshold / 10 ** (2 / 20)  # 2 dB more, so a few gain steps reuse it
            found = parallel.in_parallel(self._over, list(parallel.chunks(len(self.x), 1 << 19)))
            self.points = np.concatenate([f[0] for f in found]) if found else np.zeros(0, dtype=np.int64)
            self.peaks = np.concatenate([f[1] for f in found]) if found else np.zeros(0)
        keep = self.peaks >= threshold
        return self.points[keep], self.peaks[keep]

    def _over(self, a: int, b: int) -> tuple[I64, F64]:
        """Samples a..b-1 whose neighbourhood peak reaches ``self.covered`` (a chunk at a
        time keeps the candidate arrays small)."""
        x = self.x
        starts = candidate_spans(x, self.covered / 2, a - 1, b)  # the spans touching a..b-1
        between = interval_peaks(x, starts, LIMITER_OVERSAMPLING, self.covered)
        ends = np.sort(np.concatenate([starts, starts + 1]), kind="stable")
        first = np.concatenate([[True], ends[1:] != ends[:-1]])
        points = ends[first & (ends >= a) & (ends < b)]
        peaks = np.abs(x[points].astype(np.float64))
        for shift in (0, 1):  # a span's peak binds both of its ends
            ends = starts + shift
            ok = (ends >= a) & (ends < b)
            np.maximum.at(peaks, np.searchsorted(points, ends[ok]), between[ok])
        kept = peaks >= self.covered  # only these can ever need limiting at the gains covered
        return points[kept], peaks[kept]


def _cell(size: int) -> int:
    """A small divisor of the sub-block length: the loudness estimate's grid."""
    return next(d for d in (5, 4, 3, 2, 1) if size % d == 0)


def level(
    x: Int16,
    rate: int,
    *,
    target_lufs: float = -16.0,
    ceiling_dbtp: float = -1.0,
    max_gain_db: float = 30.0,
    tolerance_lu: float = 0.1,
    max_rounds: int = 4,
) -> Leveled:
    """Bring ``x`` to ``target_lufs`` with its true peak at or under ``ceiling_dbtp``.

    Gain first (at most ``max_gain_db``); if the gained true peak would pass the
    ceiling, a look-ahead limiter takes the peaks down, which also takes some
    loudness away, so the gain is raised again (secant steps on an estimate: the
    K-weighted energy on a 5-sample grid times the squared gain: no new filtering,
    within ~0.02 LU of a measurement on speech; up to 12 dB more) until within
    ``tolerance_lu`` of the target. The result's true peak is then measured (8x)
    and the limiter tightened if interpolation let a peak through. Silence (or
    under 400 ms of audio) is returned unchanged.
    """
    size = subblock(rate)
    cell = _cell(size)
    cells = k_cells(x, rate, cell)  # K-weighted energy on a fine grid, for the estimate below
    energies = cells.reshape(-1, size // cell).sum(axis=1, dtype=np.float64)
    before = integrated_lufs(energies, rate)
    if before <= SILENCE_LUFS + 1:
        return Leveled(x.copy(), 0.0, None, before, before, true_peak_dbtp(x))
    gain_db = max(-max_gain_db, min(max_gain_db, target_lufs - before))
    ceiling = 10 ** (ceiling_dbtp / 20) * FULL_SCALE
    sample_peak = float(max(int(x.max()), -int(x.min())))
    gain = 10 ** (gain_db / 20)
    if sample_peak * gain <= ceiling and true_peak(x) * gain <= ceiling:
        y = _apply(x, gain, None)
        return Leveled(y, gain_db, None, before, before + gain_db, true_peak_dbtp(y))
    limiter = _Limiter(x, rate, cells, energies, cell, top_gain_db=gain_db + 12.0, tolerance_lu=tolerance_lu)
    return limiter.rounds(gain_db, before, target_lufs, ceiling_dbtp, max_rounds)


class _Limiter:
    """:func:`level` once the limiter is needed: the gain (and its envelope) whose limited
    result is estimated at the target, found again, a little lower, while the measured
    true peak passes the ceiling. ``top_gain_db`` leaves room to make up what the
    limiter takes."""

    def __init__(
        self,
        x: Int16,
        rate: int,
        cells: npt.NDArray[np.floating[Any]],
        energies: F64,
        cell: int,
        *,
        top_gain_db: float,
        tolerance_lu: float,
    ) -> None:
        self.x, self.rate = x, rate
        self.cells, self.energies = cells, energies  # K-weighted energy per cell, per sub-block
        self.cell = cell
        self.per_block = subblock(rate) // cell
        self.peaks = _PeakMap(x)
        self.top_gain_db = top_gain_db
        self.tolerance_lu = tolerance_lu

    def envelope(self, g_db: float, limit: float) -> _Envelope:
        points, values = self.peaks.over(limit / 10 ** (g_db / 20))
        need = 20 * np.log10(values * 10 ** (g_db / 20) / limit)
        attack, release = ATTACK_DB_PER_MS * 1000 / self.rate, RELEASE_DB_PER_MS * 1000 / self.rate
        return _Envelope(points, need, attack, release)

    def estimate(self, g_db: float, envelope: _Envelope) -> float:
        # The gain moves over milliseconds, so it nearly commutes with K-weighting:
        # the limited signal's K-weighted energy is the cells' energy times gain^2.
        coarse = envelope.coarse(self.cell)
        per_block, cells = self.per_block, self.cells
        kept = np.empty_like(self.energies)
        for start, stop in parallel.chunks(len(cells), per_block * 256):
            g = coarse.gain(start, stop)
            kept[start // per_block : stop // per_block] = (cells[start:stop] * g * g).reshape(-1, per_block).sum(1)
        return integrated_lufs(kept, self.rate) + g_db

    def solve(self, goal: float, limit: float, g_db: float) -> tuple[float, _Envelope, float]:
        """Gain (dB) whose limited result is estimated at ``goal``, its envelope and estimate."""
        tried: list[tuple[float, float]] = []
        while True:
            g_db = min(g_db, self.top_gain_db)
            envelope = self.envelope(g_db, limit)
            got = self.estimate(g_db, envelope)
            error = goal - got
            if abs(error) <= self.tolerance_lu / 4 or len(tried) >= 8 or (error > 0 and g_db >= self.top_gain_db):
                return g_db, envelope, got
            tried.append((g_db, got))
            slope = 1.0
            if len(tried) >= 2:
                (g0, l0), (g1, l1) = tried[-2], tried[-1]
                if g1 != g0:
                    # Limiting flattens the curve; keep the step sane.
                    slope = min(1.0, max(0.1, (l1 - l0) / (g1 - g0)))
            g_db += error / slope

    def rounds(
        self, gain_db: float, before: float, target_lufs: float, ceiling_dbtp: float, max_rounds: int
    ) -> Leveled:
        """Up to ``max_rounds`` limited results, the limit lowered after one whose measured
        true peak passed the ceiling; the best of them (:func:`_better`)."""
        limit_db = ceiling_dbtp - 0.05  # the limiter's peak map is 4x; the check is 8x
        best: Leveled | None = None
        for _ in range(max_rounds):
            g_db, envelope, estimated = self.solve(target_lufs, 10 ** (limit_db / 20) * FULL_SCALE, gain_db)
            y = _apply(self.x, 10 ** (g_db / 20), envelope)
            result = Leveled(y, round(g_db, 4), ceiling_dbtp, before, estimated, _db(true_peak(y)))
            if best is None or _better(result, best, target_lufs, ceiling_dbtp):
                best = result
            if result.true_peak_dbtp <= ceiling_dbtp:
                break
            # The gain moved within the interpolation filter's reach: limit a bit lower.
            limit_db -= result.true_peak_dbtp - ceiling_dbtp + 0.05
            gain_db = g_db
        assert best is not None
        return best


def _db(value: float) -> float:
    return 20 * math.log10(value / FULL_SCALE) if value > 0 else -math.inf


def _better(a: Leveled, b: Leveled, target: float, ceiling: float) -> bool:
    """Within the ceiling beats over it; then nearer the target; over it, the lower peak."""
    a_ok, b_ok = a.true_peak_dbtp <= ceiling, b.true_peak_dbtp <= ceiling
    if a_ok != b_ok:
        return a_ok
    if a_ok:
        return abs(a.lufs - target) < abs(b.lufs - target)
    return a.true_peak_dbtp < b.true_peak_dbtp
