"""Median fundamental frequency of speech: how high a voice sounds, to tell voices apart.

Frame-wise normalized autocorrelation (40 ms frames, 10 ms hop): a frame is voiced when
it is loud enough and its best lag in the 60-400 Hz range correlates above
``VOICED``; the voice's pitch is the median over voiced frames. Pure numpy.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

LOW_HZ = 60.0
HIGH_HZ = 400.0
FRAME_S = 0.040
HOP_S = 0.010
VOICED = 0.6  # normalized autocorrelation peak of a voiced frame


def frame_f0(samples: npt.NDArray[np.floating] | npt.NDArray[np.integer], rate: int) -> npt.NDArray[np.float64]:
    """F0 in Hz of every voiced frame of mono ``samples``."""
    audio = np.asarray(samples, dtype=np.float64)
    if audio.size and np.abs(audio).max() > 1.5:
        audio = audio / 32768.0
    size, hop = int(FRAME_S * rate), int(HOP_S * rate)
    if audio.size < size:
        return np.zeros(0)
    frames = np.lib.stride_tricks.sliding_window_view(audio, size)[::hop]
    frames = frames - frames.mean(axis=1, keepdims=True)
    energy = np.sqrt((frames**2).mean(axis=1))
    loud = energy > max(0.02, 0.1 * float(np.percentile(energy, 95)))
    frames = frames[loud] * np.hanning(size)
    if not len(frames):
        return np.zeros(0)
    spectrum = np.fft.rfft(frames, n=2 * size, axis=1)
    corr = np.fft.irfft(np.abs(spectrum) ** 2, axis=1)[:, :size]
    corr /= np.maximum(corr[:, :1], 1e-12)
    low, high = int(rate / HIGH_HZ), min(size - 1, int(rate / LOW_HZ))
    lags = np.argmax(corr[:, low:high], axis=1) + low
    peaks = corr[np.arange(len(corr)), lags]
    return np.asarray(rate / lags[peaks > VOICED], dtype=np.float64)


def median_f0(samples: npt.NDArray[np.floating] | npt.NDArray[np.integer], rate: int) -> float | None:
    """Median F0 in Hz over the voiced frames, None when nothing is voiced."""
    found = frame_f0(samples, rate)
    return float(np.median(found)) if found.size else None
