"""Fast clip checks, and the parts of ``check`` that need no recognizer.

Everything here runs without the ``check`` extra: tone clips from the stand-in engine,
heard by a stand-in listener.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from audio_pipeline.cache import CachedClip, ClipCache
from audio_pipeline.check import listen, quality
from audio_pipeline.check.heard import ResultCache
from audio_pipeline.model import AudioSegment, ClipRequest, Job, Synthesis, VoiceSpec

from .fakes import RATE, ToneEngine

TEXT = "今天我们聊聊人工智能的发展。它的速度超出了很多人的预期，我们要认真对待。"


def _request(text: str = TEXT, speed: float = 1.0) -> ClipRequest:
    return ClipRequest(VoiceSpec("espeak", "cmn+m3", speed=speed), ((text,),), "tone/1")


def _tone(request: ClipRequest) -> np.ndarray:
    # ms_per_unit=1: the tone lasts as long as expected_ms says the text needs.
    audio = ToneEngine(ms_per_unit=1.0).synthesize(request).audio
    return np.frombuffer(audio.raw_data, dtype=np.int16).copy()


def _put(tmp_path: Path, request: ClipRequest, samples: np.ndarray, rate: int = RATE) -> CachedClip:
    audio = AudioSegment(data=samples.astype(np.int16).tobytes(), sample_width=2, frame_rate=rate, channels=1)
    return ClipCache(tmp_path / "clips").put(request.key, Synthesis(audio, ()))


# ------------------------------------------------------------------ fast checks


def test_good_tone_clip_passes(tmp_path: Path) -> None:
    request = _request()
    clip = _put(tmp_path, request, _tone(request))
    assert quality.fast_check(request, clip) == []


def test_slow_voice_is_not_called_too_long(tmp_path: Path) -> None:
    request = _request(speed=0.6)  # a slow voice: the text needs 1/0.6 as long
    samples = np.tile(_tone(request), 2)[: int(len(_tone(request)) / 0.6)]
    assert quality.fast_check(request, _put(tmp_path, request, samples)) == []


def test_truncated_clip_is_flagged(tmp_path: Path) -> None:
    request = _request()
    samples = _tone(request)
    clip = _put(tmp_path, request, samples[: int(len(samples) * 0.3)])
    problems = quality.fast_check(request, clip)
    assert len(problems) == 1 and problems[0].startswith("too short")


def test_silent_clip_is_flagged(tmp_path: Path) -> None:
    request = _request()
    clip = _put(tmp_path, request, np.zeros(len(_tone(request)), dtype=np.int16))
    problems = quality.fast_check(request, clip)
    assert [p.split(":")[0] for p in problems] == ["silent"]


def test_near_silent_clip_is_flagged(tmp_path: Path) -> None:
    request = _request()
    quiet = (_tone(request).astype(np.float64) * 0.004).astype(np.int16)  # about -58 dBFS
    problems = quality.fast_check(request, _put(tmp_path, request, quiet))
    assert any(p.startswith("silent") for p in problems)


def test_clipped_clip_is_flagged(tmp_path: Path) -> None:
    request = _request()
    loud = np.clip(_tone(request).astype(np.int32) * 6, -32768, 32767)
    problems = quality.fast_check(request, _put(tmp_path, request, loud))
    assert len(problems) == 1 and problems[0].startswith("clipping")


def test_a_few_full_scale_samples_are_fine(tmp_path: Path) -> None:
    request = _request()
    samples = _tone(request)
    samples[::5000] = 32767
    assert quality.fast_check(request, _put(tmp_path, request, samples)) == []


def test_long_internal_silence_is_flagged(tmp_path: Path) -> None:
    request = _request()
    tone = _tone(request)
    half = len(tone) // 2
    samples = np.concatenate([tone[:half], np.zeros(RATE * 4, dtype=np.int16), tone[half:]])
    problems = quality.fast_check(request, _put(tmp_path, request, samples))
    assert len(problems) == 1 and problems[0].startswith("silence of 4.")


def test_far_too_long_clip_is_flagged(tmp_path: Path) -> None:
    request = _request()
    samples = np.tile(_tone(request), 4)
    problems = quality.fast_check(request, _put(tmp_path, request, samples))
    assert len(problems) == 1 and problems[0].startswith("too long")


def test_short_text_is_not_called_too_short(tmp_path: Path) -> None:
    request = _request("好。")
    samples = _tone(request)[: RATE // 10]
    assert quality.fast_check(request, _put(tmp_path, request, samples)) == []


def test_empty_samples() -> None:
    assert quality.check_samples(_request(), np.zeros(0, dtype=np.int16), RATE) == ["empty: the clip has no audio"]


# ------------------------------------------------------- checking without whisper


class CountingListener:
    model_id = "fake"

    def __init__(self, says: dict[str, str]) -> None:
        self.says = says
        self.calls: list[Path] = []

    def hear(self, path: Path, language: str, expected_units: int | None = None) -> str:
        self.calls.append(path)
        return self.says.get(path.stem, "")


def _job(request: ClipRequest, line: int) -> Job:
    return Job(1, line, line, "罗永浩", request, request.paragraphs)


def test_check_jobs_verdicts_and_result_cache(tmp_path: Path) -> None:
    good, bad, absent = _request(), _request("完全不同的另外一句话，说的是天气。"), _request("没有渲染。")
    cache = ClipCache(tmp_path / "clips")
    for request in (good, bad):
        _put(tmp_path, request, _tone(request))
    listener = CountingListener({good.key: TEXT, bad.key: "今天天气不错"})
    results = ResultCache.beside(cache, listener.model_id)
    assert results.root == tmp_path / "checks" / "fake"
    jobs = [_job(good, 3), _job(bad, 5), _job(absent, 7), _job(good, 9)]
    checks = listen.check_jobs(jobs, cache, listener, results)
    assert [c.verdict for c in checks] == ["pass", "fail", "missing", "pass"]
    assert len(listener.calls) == 2  # the repeated clip is heard once
    row = checks[1].to_json()
    assert row["clip_key"] == bad.key and row["error_rate"] > 0.5 and row["worst"]
    assert checks[2].to_json()["error_rate"] is None
    again = listen.check_jobs(jobs, cache, CountingListener({}), results)
    assert [c.to_json() for c in again] == [c.to_json() for c in checks]
    # A threshold change needs no listening either.
    lenient = CountingListener({})
    assert [c.verdict for c in listen.check_jobs(jobs, cache, lenient, results, threshold=5.0)][1] == "pass"
    assert lenient.calls == []


def test_fast_problem_fails_a_well_heard_clip(tmp_path: Path) -> None:
    request = _request()
    cache = ClipCache(tmp_path / "clips")
    samples = _tone(request)
    _put(tmp_path, request, np.concatenate([samples, np.zeros(RATE * 5, dtype=np.int16), samples[:100]]))
    listener = CountingListener({request.key: TEXT})
    [result] = listen.check_jobs([_job(request, 1)], cache, listener, ResultCache(tmp_path / "r"))
    assert result.verdict == "fail" and result.score and result.score.error_rate == 0.0
    assert result.fast_problems and result.fast_problems[0].startswith("silence of")
