"""Kokoro's native voices (the voice pack `make setup` installs), for real on short text:
a Mandarin and an English sentence read back by the recognizer, and the seed's two men
told apart by pitch. Skipped when the pack or the recognizer is not installed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from audio_pipeline import engines, pitch
from audio_pipeline.check import recognizer, scoring
from audio_pipeline.model import ClipRequest, VoiceSpec

from .conftest import VOICE_PACK

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(VOICE_PACK is None, reason="the voice pack is not installed (make setup installs it)"),
]

MANDARIN = "今天我们来聊一聊人工智能的发展。"
ENGLISH = "The weather was lovely, so we walked to the market together."


@pytest.fixture(scope="module")
def whisper() -> recognizer.WhisperListener:
    pytest.importorskip("faster_whisper")
    return recognizer.WhisperListener()


def _speak(voice: str, text: str, code: str) -> tuple[np.ndarray, int]:
    engine = engines.create("kokoro")
    spec = VoiceSpec("kokoro", voice)
    request = ClipRequest(spec, ((text,),), engine.version_for(spec), lang=code)
    result = engine.synthesize(request)
    return np.frombuffer(result.audio.raw_data, dtype=np.int16), result.audio.frame_rate


def _heard(listener: recognizer.WhisperListener, tmp_path: Path, samples: np.ndarray, rate: int, code: str) -> str:
    import wave

    path = tmp_path / "clip.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.astype("<i2").tobytes())
    return listener.hear(path, code)


def test_mandarin_native_voice_is_understood(tmp_path: Path, whisper: recognizer.WhisperListener) -> None:
    samples, rate = _speak("zm_yunjian", MANDARIN, "zh")
    heard = _heard(whisper, tmp_path, samples, rate, "zh")
    assert scoring.score(MANDARIN, heard, language="zh").error_rate <= 0.1, heard


def test_english_voice_reads_english_through_and_through(tmp_path: Path, whisper: recognizer.WhisperListener) -> None:
    samples, rate = _speak("af_heart", ENGLISH, "en")
    heard = _heard(whisper, tmp_path, samples, rate, "en")
    assert scoring.score(ENGLISH, heard, language="en").error_rate <= 0.1, heard
    # A British voice reads with British phonemes (a different clip, same words).
    british, _ = _speak("bm_george", ENGLISH, "en")
    heard = _heard(whisper, tmp_path, british, rate, "en")
    assert scoring.score(ENGLISH, heard, language="en").error_rate <= 0.1, heard


def test_the_seeds_two_men_sound_apart() -> None:
    """罗永浩 and 闫俊杰's voices in the shipped voices.yaml: median F0 >= 15 % apart."""
    from audio_pipeline import voices

    from .conftest import VOICES

    zh = voices.load(VOICES).engine("kokoro").languages["zh"]
    luo, yan = zh.speakers["罗永浩"].voice, zh.speakers["闫俊杰"].voice
    f0 = [pitch.median_f0(*_speak(voice, MANDARIN + "我觉得这件事情非常重要。", "zh")) for voice in (luo, yan)]
    assert all(f is not None for f in f0)
    low, high = sorted(f for f in f0 if f is not None)
    assert high / low >= 1.15, f0
