"""Fast clip checks, and the parts of ``check`` that need no recognizer.

Everything here runs without the ``check`` extra: tone clips from the stand-in engine,
the scoring (pypinyin comes with misaki[zh]) and the result cache.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from audio_pipeline.cache import CachedClip, ClipCache
from audio_pipeline.check import listen, quality
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


# --------------------------------------------------------------------- scoring


def test_units_compare_pinyin_and_latin_words() -> None:
    simplified = listen.units("图书馆这个东西", "zh")
    traditional = listen.units("圖書館這個東西", "zh")
    assert [u.token for u in simplified] == [u.token for u in traditional] == [
        "tu", "shu", "guan", "zhe", "ge", "dong", "xi"
    ]
    # A heard heteronym matches any of its readings: 音乐 (yue) heard as 音樂 (le by default).
    assert listen.score("他在成长，喜欢音乐。", "他在成長喜歡音樂").error_rate == 0.0
    assert listen.score("他在成长。", "他在成场").error_rate == 0.25  # zhang, not chang
    mixed = listen.units("我们用了OpenAI的模型", "zh")
    assert [u.token for u in mixed] == ["wo", "men", "yong", "le", "openai", "de", "mo", "xing"]
    assert [u.latin for u in mixed].count(True) == 1


def test_numbers_read_as_spoken() -> None:
    same = [
        ("GPT-3.5发布", "GPT三点五发布"),
        ("2022年", "二零二二年"),
        ("增长50%", "增长百分之五十"),
        ("约200亿", "约两百亿"),
    ]
    for written, spoken in same:
        assert listen.score(written, spoken).error_rate == 0.0, (written, spoken)


def test_score_error_rate_and_worst_spans() -> None:
    result = listen.score(
        "今天我们聊聊人工智能。我们用了OpenAI的GPT模型，效果很好。",
        "今天,我們聊聊人工圈我們用了OpenAI的GPD模型效果很好",
    )
    assert result.length == 23 and result.distance == 3
    assert result.error_rate == round(3 / 23, 4)
    assert result.worst[0].expected == "智能" and result.worst[0].heard == "圈"
    assert ("GPT", "GPD") in [(s.expected, s.heard) for s in result.worst]
    assert result.failed_words == ("GPT",) and result.words == ("OpenAI", "GPT")


def test_score_english_words() -> None:
    result = listen.score("Hello world, this is a test.", "hello word this is test")
    assert result.error_rate == round(2 / 6, 4)
    assert {(s.expected, s.heard) for s in result.worst} == {("world", "word"), ("a", "")}


def test_score_nothing_heard_and_nothing_expected() -> None:
    assert listen.score("你好世界", "").error_rate == 1.0
    assert listen.score("", "").error_rate == 0.0
    assert listen.score("", "嗯").error_rate == 1.0


def test_align_runs() -> None:
    distance, runs = listen.align(list("abcdef"), list("abxdef"))
    assert distance == 1 and runs == [(2, 3, 2, 3)]
    distance, runs = listen.align(list("abc"), [])
    assert distance == 3 and runs == [(0, 3, 0, 0)]


def test_language_of() -> None:
    assert listen.language_of("我们用了OpenAI的GPT模型") == "zh"
    assert listen.language_of("Hello there, my friend, 你好") == "en"
    assert listen.language_of("1234") == "en"


def test_suggest_lexicon_keeps_words_that_keep_failing() -> None:
    a = listen.score("我们用OpenAI和Claude。", "我们用欧喷和Claude。")
    b = listen.score("Claude和DOTA。", "克劳德和DOTA。")
    c = listen.score("Claude很好。", "Claude很好。")
    # OpenAI: failed in its only occurrence; Claude: failed once in three; DOTA: never.
    assert listen.suggest_lexicon([a, b, c]) == ["OpenAI"]
    d = listen.score("Claude来了。", "克劳德来了。")
    assert listen.suggest_lexicon([a, b, c, d]) == ["Claude", "OpenAI"]
    assert listen.suggest_lexicon([a, b, c, d], known=["claude"]) == ["OpenAI"]


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
    results = listen.ResultCache.beside(cache, listener.model_id)
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
    [result] = listen.check_jobs([_job(request, 1)], cache, listener, listen.ResultCache(tmp_path / "r"))
    assert result.verdict == "fail" and result.score and result.score.error_rate == 0.0
    assert result.fast_problems and result.fast_problems[0].startswith("silence of")


def test_result_cache_roundtrip(tmp_path: Path) -> None:
    results = listen.ResultCache(tmp_path)
    results.put("ab" * 32, "zh", "你好", 1.5)
    assert results.get("ab" * 32, "zh") == "你好"
    assert results.get("ab" * 32, "en") is None
    (tmp_path / "ab" / ("cd" * 32 + ".json")).write_text("{not json", "utf-8")
    assert results.get("cd" * 32, "zh") is None
    results.discard("ab" * 32)
    assert results.get("ab" * 32, "zh") is None
