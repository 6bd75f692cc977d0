"""In-process loudness, true peak and limiter, checked against ffmpeg's ebur128 meter."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from audio_pipeline.media import codec, leveling, loudness, parallel

from .test_ffmpeg import SR, chunked, espeak_speech, synthetic_speech, tone


def _i16(pcm: bytes) -> np.ndarray[Any, np.dtype[np.int16]]:
    return np.frombuffer(pcm, dtype="<i2").astype(np.int16)


def _signals() -> dict[str, tuple[np.ndarray[Any, np.dtype[np.int16]], int]]:
    speech, rate = espeak_speech()
    synthetic = _i16(synthetic_speech(12.0))
    return {
        "espeak": (_i16(speech), rate),
        "synthetic": (synthetic, SR),
        "synthetic-quiet": ((synthetic.astype(np.int32) // 10).astype(np.int16), SR),
        "synthetic-48k": (_i16(synthetic_speech(6.0, sr=48000)), 48000),
        "synthetic-16k": (_i16(synthetic_speech(6.0, sr=16000)), 16000),
    }


@pytest.mark.parametrize("name", ["espeak", "synthetic", "synthetic-quiet", "synthetic-48k", "synthetic-16k"])
def test_matches_ffmpeg_ebur128(name: str) -> None:
    x, rate = _signals()[name]
    ref = codec.measure_pcm(chunked(x.tobytes()), rate)
    assert loudness.loudness_lufs(x, rate) == pytest.approx(ref.integrated_lufs, abs=0.2)
    assert loudness.true_peak_dbtp(x) == pytest.approx(ref.true_peak_dbtp, abs=0.2)


def test_reference_tone_and_silence() -> None:
    amp = 32767 * 10 ** (-20 / 20)
    x = _i16(tone(10.0, 997, amp))
    assert loudness.loudness_lufs(x, SR) == pytest.approx(-23.0, abs=0.05)
    assert loudness.true_peak_dbtp(x) == pytest.approx(-20.0, abs=0.05)
    quiet = np.zeros(SR * 3, dtype=np.int16)
    assert loudness.loudness_lufs(quiet, SR) == loudness.SILENCE_LUFS
    assert loudness.true_peak_dbtp(quiet) == -math.inf
    short = x[: SR // 4]  # under one 400 ms block: nothing to gate
    assert loudness.loudness_lufs(short, SR) == loudness.SILENCE_LUFS


def test_true_peak_finds_inter_sample_peaks() -> None:
    # A sine at a quarter of the rate, sampled 45 degrees off its crests: every
    # sample is at 0.707 of the real peak (-3 dB), which a 4x+ meter sees.
    n = np.arange(SR)
    fade = np.minimum(1.0, np.minimum(n, SR - 1 - n) / 400)  # no clicks at the ends
    x = np.round(20000 * fade * np.sin(np.pi / 2 * n + np.pi / 4)).astype(np.int16)
    sample_peak = 20 * math.log10(float(np.abs(x.astype(np.int32)).max()) / 32768)
    got = loudness.true_peak_dbtp(x)
    assert got == pytest.approx(20 * math.log10(20000 / 32768), abs=0.05)
    assert got - sample_peak == pytest.approx(3.0, abs=0.1)
    ref = codec.measure_pcm(chunked(x.tobytes()), SR)
    assert got == pytest.approx(ref.true_peak_dbtp, abs=0.2)


@pytest.mark.parametrize("name", ["espeak", "synthetic", "synthetic-quiet", "synthetic-48k"])
def test_level_meets_target(name: str) -> None:
    x, rate = _signals()[name]
    result = leveling.level(x, rate, target_lufs=-16.0, ceiling_dbtp=-2.5)
    assert result.pcm.dtype == np.int16 and len(result.pcm) == len(x)
    assert result.lufs == pytest.approx(-16.0, abs=0.1)
    assert result.true_peak_dbtp <= -2.5
    # What ffmpeg's meter reads agrees with what level() says it made.
    ref = codec.measure_pcm(chunked(result.pcm.tobytes()), rate)
    assert ref.integrated_lufs == pytest.approx(-16.0, abs=0.2)
    assert ref.true_peak_dbtp <= -2.5 + 0.1
    assert loudness.loudness_lufs(result.pcm, rate) == pytest.approx(result.lufs, abs=0.05)


def test_level_limits_only_when_needed() -> None:
    speech, rate = _signals()["espeak"]
    limited = leveling.level(speech, rate, ceiling_dbtp=-2.5)
    # Speech peaks ~18 dB over its loudness: -16 LUFS needs the limiter ...
    assert limited.ceiling_dbtp == -2.5
    assert limited.gain_db > -16.0 - limited.input_lufs  # ... which costs loudness, made up by gain
    # ... and a plain gain does when the peaks fit.
    soft = leveling.level(speech, rate, target_lufs=-30.0, ceiling_dbtp=-2.5)
    assert soft.ceiling_dbtp is None
    assert soft.gain_db == pytest.approx(-30.0 - soft.input_lufs)
    factor = 10 ** (soft.gain_db / 20)
    assert np.array_equal(soft.pcm, np.round(speech * factor).astype(np.int16))


def test_level_is_deterministic_and_leaves_silence() -> None:
    x, rate = _signals()["espeak"]
    a = leveling.level(x, rate, ceiling_dbtp=-2.5)
    b = leveling.level(x.copy(), rate, ceiling_dbtp=-2.5)
    assert a.pcm.tobytes() == b.pcm.tobytes()
    assert (a.gain_db, a.lufs, a.true_peak_dbtp) == (b.gain_db, b.lufs, b.true_peak_dbtp)
    quiet = np.zeros(rate * 2, dtype=np.int16)
    same = leveling.level(quiet, rate)
    assert same.gain_db == 0.0 and not same.pcm.any()


def test_limiter_envelope_covers_every_peak() -> None:
    rng = np.random.default_rng(3)
    points = np.sort(rng.choice(100_000, 300, replace=False)).astype(np.int64)
    need = rng.uniform(0.1, 9.0, len(points))
    env = leveling._Envelope(points, need, attack=0.2, release=0.01)
    gain = np.concatenate([env.gain(a, min(a + 7_000, 100_000)) for a in range(0, 100_000, 7_000)])
    reduction = -20 * np.log10(gain)
    assert np.all(reduction[points] >= need - 1e-9)
    # Ramps are bounded: the gain never moves faster than the attack rate in dB.
    assert np.abs(np.diff(reduction)).max() <= 0.2 + 1e-9


def test_true_peak_of_a_stream_matches_the_whole() -> None:
    x, _ = _signals()["espeak"]
    data = x.tobytes()
    whole = loudness.true_peak(x)
    for size in (4097, 65_537, len(data)):  # odd sizes: chunks split samples
        assert loudness.true_peak_of(chunked(data, size)) == pytest.approx(whole, rel=1e-6)
    # With a floor, peaks under it may be estimated, those over it are exact.
    assert loudness.true_peak_of(chunked(data, 9999), floor=whole * 0.9) == pytest.approx(whole, rel=1e-6)
    assert loudness.true_peak_of(iter([])) == 0.0


def test_level_on_two_threads_equals_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """The threaded K-weighting, peak map and gain give exactly the serial result (each
    range writes only its own slice): long enough for several ranges, loud enough to limit."""
    speech, rate = _signals()["espeak"]
    reps = math.ceil(40 * rate / len(speech))
    x = np.concatenate([(speech.astype(np.float64) * (0.6 + 0.1 * (i % 5))).astype(np.int16) for i in range(reps)])
    threaded = leveling.level(x, rate, ceiling_dbtp=-2.5)
    assert threaded.ceiling_dbtp == -2.5  # the limiter ran

    def serial(work: Any, ranges: Any) -> list[Any]:
        return [work(a, b) for a, b in ranges]

    monkeypatch.setattr(parallel, "in_parallel", serial)
    one = leveling.level(x, rate, ceiling_dbtp=-2.5)
    assert np.array_equal(threaded.pcm, one.pcm)
    assert (threaded.gain_db, threaded.lufs, threaded.true_peak_dbtp) == (one.gain_db, one.lufs, one.true_peak_dbtp)
