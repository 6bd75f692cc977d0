"""Kokoro on onnxruntime's CUDA provider: only the fallback path can run here (no GPU,
no onnxruntime-gpu), and it must say so once and use the CPU."""

from __future__ import annotations

import pytest

from audio_pipeline.engines import kokoro
from audio_pipeline.errors import ConfigError
from audio_pipeline.model import VoiceSpec


def test_cuda_without_the_provider_falls_back_to_the_cpu_with_a_notice() -> None:
    assert not kokoro.cuda_available()  # this machine: plain onnxruntime
    engine = kokoro.KokoroEngine(device="cuda")
    assert engine.device == "cpu"
    assert engine.notice is not None and "onnxruntime-gpu" in engine.notice
    assert kokoro.KokoroEngine().notice is None  # the CPU was asked for: nothing to say
    # The clip keys do not depend on the device asked for: a mixed cluster shares its cache.
    assert engine.version == kokoro.KokoroEngine().version


@pytest.mark.slow
def test_the_fallback_engine_speaks() -> None:
    engine = kokoro.KokoroEngine(device="cuda")
    pcm = engine.sentence_pcm("你好。", VoiceSpec("kokoro", "jm_kumo"))
    assert pcm.size > kokoro.SAMPLE_RATE // 4


def test_an_unknown_device_is_refused() -> None:
    with pytest.raises(ConfigError, match="'device' must be one of cpu, cuda"):
        kokoro.KokoroEngine(device="tpu")
