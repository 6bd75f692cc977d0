"""check on clips too short for the recognizer: "unsure", not failed (a stub listener)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from audio_pipeline.cache import ClipCache
from audio_pipeline.check import listen
from audio_pipeline.check.heard import ResultCache
from audio_pipeline.model import AudioSegment, ClipRequest, Job, Synthesis, VoiceSpec


class Stub:
    model_id = "stub"

    def __init__(self, heard: dict[str, str]) -> None:
        self.heard = heard

    def hear(self, path: Path, language: str, expected_units: int | None = None) -> str:
        return self.heard[path.stem]


def test_short_clip_heard_wrong_is_unsure_but_a_long_one_fails(tmp_path: Path) -> None:
    cache = ClipCache(tmp_path / "clips")
    audio = AudioSegment(data=np.zeros(24000, dtype="<i2").tobytes(), sample_width=2, frame_rate=24000, channels=1)
    jobs = []
    heard = {}
    for text, said in (("二、结尾", "R2A"), ("今天我们来聊一聊人工智能。", "今天天气很好"), ("一、开场", "一开场")):
        request = ClipRequest(VoiceSpec("kokoro", "zf_xiaoxiao"), ((text,),), "v")
        clip = cache.put(request.key, Synthesis(audio, ()))
        heard[clip.path.stem] = said
        jobs.append(Job(1, None, 1, None, request, request.paragraphs))
    checks = listen.check_jobs(jobs, cache, Stub(heard), ResultCache(tmp_path / "heard"), fast=lambda request, clip: [])
    assert [c.verdict for c in checks] == ["unsure", "fail", "pass"]
    assert not checks[0].failed and checks[1].failed
