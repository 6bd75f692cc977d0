"""The espeak-ng engine, for real (it takes milliseconds)."""

from __future__ import annotations

import threading

import pytest

from audio_pipeline.engines import create
from audio_pipeline.engines.base import expected_ms
from audio_pipeline.engines.espeak import EspeakEngine, espeak_parameters, prepare_text
from audio_pipeline.errors import ConfigError
from audio_pipeline.model import ClipRequest, Synthesis, VoiceSpec

ZH = "我们从一开始就明确，真正的通用人工智能必然是动态输入与动态输出的融合体。"
MIXED = "OpenAI的GPT-3.5发布了。"


@pytest.fixture(scope="module")
def engine() -> EspeakEngine:
    return EspeakEngine()


def request(
    engine: EspeakEngine, *paragraphs: tuple[str, ...], voice: str = "cmn", **spec: str
) -> ClipRequest:
    return ClipRequest(VoiceSpec("espeak", voice, **spec), tuple(paragraphs), engine.version)


def check_clip(result: Synthesis, text: str) -> None:
    audio = result.audio
    assert audio.channels == 1 and audio.sample_width == 2 and audio.frame_rate == 22050
    need = expected_ms(text)
    assert 0.4 * need <= len(audio) <= 3 * need, (len(audio), need)
    assert audio.rms > 300  # silence is 0; speech here is in the thousands
    previous_end = 0
    for mark in result.marks:
        assert previous_end <= mark.start_ms < mark.end_ms <= len(audio)
        previous_end = mark.end_ms


def test_chinese(engine: EspeakEngine) -> None:
    result = engine.synthesize(request(engine, (ZH,)))
    check_clip(result, ZH)
    assert [m.text for m in result.marks] == [ZH]


def test_mixed_and_marks_per_sentence(engine: EspeakEngine) -> None:
    req = request(engine, (MIXED, ZH), ("第二段。",))
    result = engine.synthesize(req)
    check_clip(result, req.text)
    assert [(m.paragraph, m.text) for m in result.marks] == [(0, MIXED), (0, ZH), (1, "第二段。")]


def test_unspeakable_sentence_has_no_mark(engine: EspeakEngine) -> None:
    result = engine.synthesize(request(engine, ("……", "你好。")))
    assert [m.text for m in result.marks] == ["你好。"]


def test_voices_differ(engine: EspeakEngine) -> None:
    clips = {
        voice: engine.synthesize(request(engine, ("你好，世界。",), voice=voice)).audio.raw_data
        for voice in ("cmn", "cmn+m3", "cmn+f3")
    }
    assert len(set(clips.values())) == 3


def test_english_voice(engine: EspeakEngine) -> None:
    text = "The model was released today."
    check_clip(engine.synthesize(request(engine, (text,), voice="en-us+m1")), text)


def test_rate_pitch_volume(engine: EspeakEngine) -> None:
    base = engine.synthesize(request(engine, (ZH,)))
    fast = engine.synthesize(request(engine, (ZH,), rate="+30%"))
    assert len(fast.audio) < 0.85 * len(base.audio)
    high = engine.synthesize(request(engine, (ZH,), pitch="+20Hz"))
    assert high.audio.raw_data != base.audio.raw_data
    quiet = engine.synthesize(request(engine, (ZH,), volume="-50%"))
    assert quiet.audio.rms < 0.7 * base.audio.rms


def test_parameter_mapping() -> None:
    assert espeak_parameters(VoiceSpec("espeak", "cmn")) == (175, 50, 100)
    assert espeak_parameters(VoiceSpec("espeak", "cmn", rate="+10%")) == (193, 50, 100)
    assert espeak_parameters(VoiceSpec("espeak", "cmn", pitch="+5Hz"))[1] == 53
    assert espeak_parameters(VoiceSpec("espeak", "cmn", pitch="-20Hz"))[1] == 37
    assert espeak_parameters(VoiceSpec("espeak", "cmn", pitch="+500Hz"))[1] == 99
    assert espeak_parameters(VoiceSpec("espeak", "cmn", volume="-100%"))[2] == 0
    wpm, _, _ = espeak_parameters(VoiceSpec("espeak", "cmn", rate="-90%"))
    assert wpm == 80  # espeak's floor
    with pytest.raises(ConfigError):
        espeak_parameters(VoiceSpec("espeak", "cmn", rate="fast"))


def test_numbers_spelled_out_for_mandarin() -> None:
    assert prepare_text("GPT-3.5和10-20人", "cmn") == "GPT 三点五和十到二十人"
    assert prepare_text("1/3", "cmn") == "三分之一"
    assert prepare_text("10-20 people", "en-us") == "10-20 people"
    assert prepare_text("ＧＰＴ４和百分之五十", "cmn") == "GPT四和百分之五十"  # full-width digits count
    assert prepare_text("完全超出了所有人的预期。", "cmn") == "完全超出了所有人的预期。"  # no digits: as is


@pytest.mark.parametrize("voice", ["xx", "cmn+nosuchvariant", ""])
def test_bad_voice(engine: EspeakEngine, voice: str) -> None:
    with pytest.raises(ConfigError):
        engine.synthesize(request(engine, ("你好。",), voice=voice))


def test_options() -> None:
    with pytest.raises(ConfigError):
        EspeakEngine(threads=2)
    engine = create("espeak", {})
    assert engine.name == "espeak" and engine.default_jobs == 1
    assert engine.version.startswith("espeak-ng-1.52")


def test_threads_are_serialized(engine: EspeakEngine) -> None:
    # espeak-ng's output varies by a few samples from call to call (generator state),
    # so compare lengths: a voice or rate mixed up between threads changes them a lot.
    voices = {"cmn+f3": "+0%", "cmn+m3": "+40%"}
    reference = {
        v: len(engine.synthesize(request(engine, (ZH,), voice=v, rate=r)).audio)
        for v, r in voices.items()
    }
    results: list[tuple[str, int]] = []
    errors: list[BaseException] = []

    def work(voice: str) -> None:
        try:
            clip = engine.synthesize(request(engine, (ZH,), voice=voice, rate=voices[voice]))
            results.append((voice, len(clip.audio)))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(v,)) for v in list(voices) * 4]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 8
    for voice, length in results:
        assert abs(length - reference[voice]) < 0.05 * reference[voice]
