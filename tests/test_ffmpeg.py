"""The ffmpeg layer against the real binary: files are read back with real readers."""

from __future__ import annotations

import ctypes
import functools
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from audio_pipeline.media import adts, codec, ffmpeg, mp3
from audio_pipeline.media.types import EncodeError, FfmpegUnavailable

SR = 24000
MP3_FRAME = 576  # samples per MPEG-2 Layer III frame at 24 kHz
AAC_FRAME = 1024


# --------------------------------------------------------------------------- signals


def _pcm(x: np.ndarray[Any, Any]) -> bytes:
    return np.clip(np.round(x), -32768, 32767).astype("<i2").tobytes()


def synthetic_speech(seconds: float, sr: int = SR, seed: int = 7) -> bytes:
    """Voiced 'syllables' (harmonics under formant peaks, gliding pitch), fricative
    noise and pauses: crest factor and spectrum roughly like speech."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    f0 = 150 + 40 * np.sin(2 * np.pi * 0.7 * t) + 20 * np.sin(2 * np.pi * 3.1 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    voiced = np.zeros(n)
    for k in range(1, 30):
        fk = k * 150.0
        gain = sum(math.exp(-(((fk - f) / bw) ** 2)) for f, bw in ((600, 300), (1400, 400), (2600, 500)))
        voiced += (gain + 0.02) / k**0.5 * np.sin(k * phase)
    syllable = np.clip(np.sin(2 * np.pi * 4.0 * t), 0, None) ** 1.5
    pauses = (np.sin(2 * np.pi * 0.3 * t) > -0.6).astype(float)
    noise = rng.standard_normal(n) * (np.sin(2 * np.pi * 4.0 * t + 2.0) > 0.9)
    signal = (voiced * syllable + 0.3 * noise) * pauses
    return _pcm(signal / np.abs(signal).max() * 20000)


def tone(seconds: float, freq: float, amp: float = 8000.0, sr: int = SR) -> bytes:
    t = np.arange(int(round(seconds * sr))) / sr
    return _pcm(amp * np.sin(2 * np.pi * freq * t))


@functools.cache
def espeak_speech() -> tuple[bytes, int]:
    """Mandarin from espeak-ng (the espeakng-loader wheel), 22050 Hz s16 mono."""
    try:
        import espeakng_loader

        lib = ctypes.CDLL(espeakng_loader.get_library_path())
    except (ImportError, OSError) as exc:  # pragma: no cover
        pytest.skip(f"espeak-ng not available: {exc}")
    callback_t = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
    chunks: list[bytes] = []

    def on_audio(wav: Any, count: int, _events: Any) -> int:
        if wav and count > 0:
            chunks.append(ctypes.string_at(wav, count * 2))
        return 0

    keep = callback_t(on_audio)
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    rate = lib.espeak_Initialize(2, 0, espeakng_loader.get_data_path().encode(), 0)
    if rate <= 0:  # pragma: no cover
        pytest.skip("espeak-ng failed to initialise")
    lib.espeak_SetSynthCallback(keep)
    lib.espeak_SetVoiceByName(b"cmn")
    text = (
        "我们今天来聊一聊创业这件事。你当时为什么决定做手机？因为我觉得这个行业还有很多可以改进的地方，所以就去做了。"
    ).encode()
    lib.espeak_Synth.argtypes = [
        ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
        ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
    ]  # fmt: skip
    lib.espeak_Synth(text, len(text) + 1, 0, 1, 0, 1, None, None)  # POS_CHARACTER, UTF-8
    lib.espeak_Synchronize()
    pcm = b"".join(chunks)
    if len(pcm) < rate:  # pragma: no cover
        pytest.skip("espeak-ng produced no audio")
    return pcm, int(rate)


def chunked(data: bytes, size: int = 10_000) -> Iterator[bytes]:
    # Odd chunk size on purpose: chunks need not hold whole samples.
    for i in range(0, len(data), size + 1):
        yield data[i : i + size + 1]


def samples(path: Path) -> int:
    return len(codec.decode(path).raw_data) // 2


def decodes_cleanly(path: Path) -> bool:
    """ffmpeg decodes the whole file without a warning or an error on stderr."""
    return ffmpeg.run(["-i", str(path), "-f", "null", "-"], loglevel="warning")[1] == b""


def no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if p.name.endswith(".part")]


# --------------------------------------------------------------------------- basics


def test_ffmpeg_exe_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ffmpeg.FFMPEG_ENV, raising=False)
    assert Path(ffmpeg.ffmpeg_exe()).is_file()
    monkeypatch.setenv(ffmpeg.FFMPEG_ENV, "/opt/custom/ffmpeg")
    assert ffmpeg.ffmpeg_exe() == "/opt/custom/ffmpeg"


def test_run_returns_stdout_and_reports_errors(tmp_path: Path) -> None:
    out, _ = ffmpeg.run(["-f", "s16le", "-ar", "8000", "-ac", "1", "-i", "pipe:0", "-f", "s16le", "-"],
                        input=b"\x01\x00" * 800)  # fmt: skip
    assert out == b"\x01\x00" * 800
    with pytest.raises(EncodeError) as info:
        ffmpeg.run(["-i", str(tmp_path / "missing.wav"), "-f", "null", "-"], what="probe")
    assert "ffmpeg probe failed" in str(info.value)
    assert "missing.wav" in str(info.value)
    assert "No such file" in str(info.value)
    assert info.value.exit_code == 1
    assert not isinstance(info.value, FfmpegUnavailable)


def test_run_stops_ffmpeg_after_its_timeout() -> None:
    # -re: an endless silent source, read in real time (so the wait costs no CPU).
    with pytest.raises(EncodeError, match="ffmpeg wait took longer than 0.5 s") as info:
        ffmpeg.run(["-re", "-f", "lavfi", "-i", "anullsrc", "-f", "null", "-"], what="wait", timeout=0.5)
    assert not isinstance(info.value, FfmpegUnavailable)


def test_missing_binary(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(ffmpeg.FFMPEG_ENV, str(tmp_path / "no-ffmpeg"))
    with pytest.raises(FfmpegUnavailable, match="cannot run ffmpeg"):
        ffmpeg.run(["-version"])
    with pytest.raises(FfmpegUnavailable, match="cannot run ffmpeg"):
        next(codec.decode_stream(__file__))
    with pytest.raises(FfmpegUnavailable, match="cannot run ffmpeg"):
        codec.encode_mp3(chunked(tone(0.5, 440)), SR, tmp_path / "x.mp3")
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- encode / decode


def test_encode_decode_round_trip(tmp_path: Path) -> None:
    pcm = synthetic_speech(3.0)
    out = codec.encode_mp3(chunked(pcm), SR, tmp_path / "a.mp3", bitrate="64k")
    assert out == tmp_path / "a.mp3"
    seg = codec.decode(out)
    assert (seg.frame_rate, seg.channels, seg.sample_width) == (SR, 1, 2)
    assert abs(len(seg.raw_data) // 2 - len(pcm) // 2) <= 2 * MP3_FRAME
    # The decoded signal is the encoded one, not just the right length.
    a = np.frombuffer(pcm, "<i2").astype(float)
    b = np.frombuffer(seg.raw_data, "<i2").astype(float)[: len(a)]
    assert np.corrcoef(a, b)[0, 1] > 0.95
    assert len(codec.decode(out, rate=16000).raw_data) // 2 == pytest.approx(16000 * 3, abs=MP3_FRAME)
    assert no_temp_files(tmp_path)


def test_mp3_is_exact_and_resamples(tmp_path: Path) -> None:
    pcm = tone(2.5, 440)
    out = codec.encode_mp3(chunked(pcm), SR, tmp_path / "a.mp3")
    assert samples(out) == len(pcm) // 2  # LAME header gives the decoder delay/padding
    info = mp3.mp3_frame_info(out)
    assert (info.sample_rate, info.samples_per_frame, info.samples) == (SR, MP3_FRAME, len(pcm) // 2)
    hi = codec.encode_mp3(chunked(pcm), SR, tmp_path / "b.mp3", out_rate=44100)
    assert codec.decode(hi).frame_rate == 44100
    assert mp3.mp3_frame_info(hi).samples_per_frame == 1152


def test_encode_is_byte_identical(tmp_path: Path) -> None:
    pcm = synthetic_speech(2.0)
    a = codec.encode_mp3(chunked(pcm), SR, tmp_path / "a.mp3")
    b = codec.encode_mp3(chunked(pcm, 4096), SR, tmp_path / "b.mp3")
    assert a.read_bytes() == b.read_bytes()
    blob = a.read_bytes()
    assert b"Lavf6" not in blob and b"Lavc6" not in blob  # no versioned encoder tag


# --------------------------------------------------------------------------- failures


def test_failed_encode_keeps_previous_output(tmp_path: Path) -> None:
    out = tmp_path / "a.mp3"
    out.write_bytes(b"previous")
    with pytest.raises(EncodeError) as info:
        codec.encode_mp3(chunked(tone(1.0, 440)), SR, out, bitrate="lots")
    message = str(info.value)
    assert "exit" in message and "lots" in message
    assert out.read_bytes() == b"previous"
    assert no_temp_files(tmp_path)


def test_failing_source_kills_encode(tmp_path: Path) -> None:
    out = tmp_path / "a.mp3"
    out.write_bytes(b"previous")

    def source() -> Iterator[bytes]:
        yield tone(1.0, 440)
        raise RuntimeError("synthesis failed mid-way")

    with pytest.raises(RuntimeError, match="mid-way"):
        codec.encode_mp3(source(), SR, out)
    assert out.read_bytes() == b"previous"
    assert no_temp_files(tmp_path)


def test_empty_or_odd_pcm(tmp_path: Path) -> None:
    with pytest.raises(EncodeError, match="no PCM"):
        codec.encode_mp3(iter([]), SR, tmp_path / "a.mp3")
    with pytest.raises(EncodeError, match="odd number"):
        codec.encode_mp3(iter([b"\0\0\0"]), SR, tmp_path / "a.mp3")
    assert list(tmp_path.iterdir()) == []


def test_decode_garbage(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp3"
    bad.write_text("not audio at all\n" * 50)
    with pytest.raises(EncodeError) as info:
        codec.decode(bad)
    assert info.value.path == str(bad)
    assert "decode failed" in str(info.value)
    with pytest.raises(EncodeError, match="no such audio file"):
        codec.decode(tmp_path / "missing.mp3")


# --------------------------------------------------------------------------- loudness


def test_measure_reference_tone() -> None:
    # BS.1770: a 997 Hz sine peaking at -20 dBFS in one channel has a mean square of
    # -23.01 dB; the -0.691 offset cancels the K-weighting at 1 kHz: -23.0 LUFS.
    amp = 32767 * 10 ** (-20 / 20)
    got = codec.measure_pcm(chunked(tone(10.0, 997, amp)), SR)
    assert got.integrated_lufs == pytest.approx(-23.0, abs=0.2)
    assert got.true_peak_dbtp == pytest.approx(-20.0, abs=0.2)
    assert got.lra == pytest.approx(0.0, abs=0.2)


def test_silence_measures_as_silence() -> None:
    quiet = codec.measure_pcm(iter([b"\0\0" * SR * 3]), SR)
    assert quiet.integrated_lufs <= -69
    assert quiet.true_peak_dbtp == -math.inf


# --------------------------------------------------------------------------- concat


def _onsets(pcm: np.ndarray[Any, Any], sr: int, count: int) -> list[float]:
    """Start (ms) of each burst in a signal of ``count`` tone bursts separated by gaps."""
    win = sr // 1000  # 1 ms RMS windows
    env = np.sqrt(np.mean(pcm[: len(pcm) // win * win].reshape(-1, win) ** 2, axis=1))
    loud = env > 0.3 * np.median(env[env > env.max() * 0.2])
    starts = [0] + [
        i for i in range(1, len(loud)) if loud[i] and not loud[i - 1] and not loud[max(0, i - 15) : i].any()
    ]
    return [float(s) for s in starts[:count]]


def assert_joined_at(path: Path, duration_ms: float, starts_ms: Sequence[float]) -> None:
    """A joined file decodes to ``duration_ms`` and each of its tone bursts starts within
    2 ms of ``starts_ms`` (1 ms resolution, plus codec pre-echo)."""
    joined = np.frombuffer(codec.decode(path).raw_data, "<i2").astype(float)
    assert len(joined) == round(duration_ms * SR / 1000)
    found = _onsets(joined, SR, len(starts_ms))
    assert len(found) == len(starts_ms)
    for want, got in zip(starts_ms, found, strict=True):
        assert abs(want - got) <= 2.0


# --------------------------------------------------------------------------- MP3 + AAC in one run


def test_encode_pair(tmp_path: Path) -> None:
    pcm = synthetic_speech(3.0)
    n = len(pcm) // 2
    codec.encode_pair(chunked(pcm), SR, tmp_path / "a.mp3", tmp_path / "a.aac")
    assert samples(tmp_path / "a.mp3") == n  # gapless MP3, as encode_mp3() writes
    frames, rate = adts.adts_frames(tmp_path / "a.aac")
    assert rate == SR and frames == math.ceil((n + adts.AAC_PRIMING) / AAC_FRAME)
    assert samples(tmp_path / "a.aac") == frames * AAC_FRAME  # bare ADTS: the priming plays
    # The MP3 gets back the level libmp3lame's bitstream loses: it plays at the PCM's level.
    a = np.frombuffer(pcm, "<i2").astype(float)
    b = np.frombuffer(codec.decode(tmp_path / "a.mp3").raw_data, "<i2").astype(float)
    assert 20 * math.log10(np.sqrt(np.mean(b**2)) / np.sqrt(np.mean(a**2))) == pytest.approx(0.0, abs=0.2)
    c = np.frombuffer(codec.decode(tmp_path / "a.aac").raw_data, "<i2").astype(float)[adts.AAC_PRIMING :]
    assert np.corrcoef(a, c[: len(a)])[0, 1] > 0.95
    # A whole number of frames: no padding frame.
    codec.encode_pair(chunked(pcm), SR, None, tmp_path / "b.aac", aac_samples=40 * AAC_FRAME)
    assert adts.adts_frames(tmp_path / "b.aac") == (41, SR)
    # Same PCM, other chunks: same bytes, whichever outputs are asked for.
    codec.encode_pair(chunked(pcm, 4096), SR, tmp_path / "c.mp3", None)
    assert (tmp_path / "c.mp3").read_bytes() == (tmp_path / "a.mp3").read_bytes()
    codec.encode_pair(chunked(pcm, 777), SR, None, tmp_path / "c.aac")
    assert (tmp_path / "c.aac").read_bytes() == (tmp_path / "a.aac").read_bytes()
    with pytest.raises(ValueError):
        codec.encode_pair(chunked(pcm), SR, None, None)


@pytest.mark.parametrize("fmt", ["mp3", "aac"])
def test_encode_one_checks_while_it_encodes(tmp_path: Path, fmt: str) -> None:
    """One format, the bytes encode_pair writes for it; with ``decoded``, the encoded
    stream is decoded as it is written (tee muxer), to a path with tee's separators."""
    from audio_pipeline.media import loudness

    pcm = synthetic_speech(3.0)
    pair = tmp_path / f"pair.{fmt}"
    codec.encode_pair(chunked(pcm), SR, pair if fmt == "mp3" else None, pair if fmt == "aac" else None)
    plain = tmp_path / f"plain.{fmt}"
    assert codec.encode_one(chunked(pcm, 4096), SR, fmt, plain) is None
    assert plain.read_bytes() == pair.read_bytes()
    folder = tmp_path / "odd | [name]: \\ 中"
    folder.mkdir()
    seen: list[int] = []

    def measure(chunks: Iterator[bytes]) -> float:
        data = b"".join(chunks)
        seen.append(len(data))
        return loudness.true_peak_of([data])

    checked = folder / f"checked.{fmt}"
    checked.write_bytes(b"previous")  # overwritten
    peak = codec.encode_one(chunked(pcm), SR, fmt, checked, decoded=measure)
    assert checked.read_bytes() == plain.read_bytes()
    assert seen and seen[0] >= len(pcm)  # all of it (with the encoder's delay and padding)
    assert peak == pytest.approx(loudness.true_peak_of(codec.decode_stream([plain])), rel=1e-3)
    assert sorted(p.name for p in folder.iterdir()) == [checked.name]


def test_encode_one_failures(tmp_path: Path) -> None:
    """An encoder failure, a failing check and a failing source all raise, with no
    process left behind (the test would hang on a stuck pipe)."""
    pcm = synthetic_speech(1.0)
    def total(chunks: Iterator[bytes]) -> int:
        return sum(map(len, chunks))

    with pytest.raises(EncodeError, match="exit"):
        codec.encode_one(chunked(pcm), SR, "mp3", tmp_path / "a.mp3", bitrate="lots", decoded=total)

    def broken(chunks: Iterator[bytes]) -> int:
        next(chunks)
        raise ValueError("check failed")

    with pytest.raises(ValueError, match="check failed"):
        codec.encode_one(chunked(pcm), SR, "aac", tmp_path / "b.aac", decoded=broken)

    def source() -> Iterator[bytes]:
        yield pcm
        raise RuntimeError("synthesis failed mid-way")

    with pytest.raises(RuntimeError, match="mid-way"):
        codec.encode_one(source(), SR, "mp3", tmp_path / "c.mp3", decoded=total)
    with pytest.raises(ValueError):
        codec.encode_one(chunked(pcm), SR, "ogg", tmp_path / "d.ogg")


def test_decode_stream(tmp_path: Path) -> None:
    a = codec.encode_mp3(chunked(tone(1.0, 440)), SR, tmp_path / "a.mp3")
    b = tmp_path / "b.aac"
    codec.encode_pair(chunked(tone(0.5, 660)), SR, None, b)
    one = b"".join(codec.decode_stream(a, size=1000))
    assert one == codec.decode(a).raw_data
    both = b"".join(codec.decode_stream([a, b]))
    assert both == one + codec.decode(b).raw_data
    stream = codec.decode_stream(a, size=100)
    next(stream)
    stream.close()  # stops ffmpeg early, quietly
    bad = tmp_path / "bad.mp3"
    bad.write_text("not audio at all\n" * 50)
    with pytest.raises(EncodeError, match="decode failed"):
        b"".join(codec.decode_stream(bad))
    with pytest.raises(EncodeError, match="no such audio file"):
        next(codec.decode_stream(tmp_path / "missing.mp3"))
