"""Clips composed sentence by sentence, and an edited turn reusing its unchanged sentences."""

from __future__ import annotations

import json
import wave
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from audio_pipeline import synth, transcript, voices
from audio_pipeline.cache import SENTENCES, CachedClip, ClipCache
from audio_pipeline.engines import sentences
from audio_pipeline.engines.espeak import EspeakEngine
from audio_pipeline.errors import SynthesisError
from audio_pipeline.model import ClipRequest, Job, VoiceSpec

from .conftest import VOICES
from .fakes import GAP_MS, RATE, SentenceToneEngine, ToneEngine

SPEC = VoiceSpec("espeak", "cmn")


def _request(*paragraphs: tuple[str, ...], spec: VoiceSpec = SPEC, version: str = "sentence-tone/1") -> ClipRequest:
    return ClipRequest(spec, paragraphs, version)


def _samples(clip: CachedClip) -> np.ndarray:
    with wave.open(str(clip.path), "rb") as wav:
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)


def _span(clip: CachedClip, sentence_key: str) -> np.ndarray:
    [span] = [s for s in clip.sentences if s.key == sentence_key]
    return _samples(clip)[span.start : span.end]


def test_compose_joins_sentences_with_exact_gaps_and_spans() -> None:
    request = _request(("一。", "……", "二。"), ("三。",))
    lengths = {"一。": 100, "……": 0, "二。": 250, "三。": 37}
    result = sentences.compose(request, lambda s: np.full(lengths[s], 7, dtype=np.int16), 1000, 10)
    pcm = np.frombuffer(result.audio.raw_data, dtype=np.int16)
    assert len(pcm) == 100 + 10 + 250 + 10 + 37
    assert [(m.paragraph, m.text) for m in result.marks] == [(0, "一。"), (0, "二。"), (1, "三。")]
    assert [(s.start, s.end) for s in result.sentences] == [(0, 100), (110, 360), (370, 407)]
    assert [s.key for s in result.sentences] == [request.sentence_key(t) for t in ("一。", "二。", "三。")]
    for span in result.sentences:
        assert (pcm[span.start : span.end] == 7).all()
    assert not pcm[100:110].any() and not pcm[360:370].any()  # the gaps are silence
    assert [(m.start_ms, m.end_ms) for m in result.marks] == [(0, 100), (110, 360), (370, 407)]
    with pytest.raises(SynthesisError, match="nothing speakable"):
        sentences.compose(_request(("……",)), lambda s: np.zeros(0, dtype=np.int16), 1000, 10)


def test_sentence_key_follows_voice_engine_and_text() -> None:
    base = _request(("一。",))
    key = base.sentence_key("一。")
    assert key != base.key  # a sentence is not a clip
    assert _request(("一。", "二。")).sentence_key("一。") == key  # the neighbours do not matter
    assert key != base.sentence_key("一！")
    assert key != replace(base, spec=replace(SPEC, voice="cmn+f3")).sentence_key("一。")
    assert key != replace(base, spec=replace(SPEC, rate="+10%")).sentence_key("一。")
    assert key != replace(base, engine_version="sentence-tone/2").sentence_key("一。")
    assert key != replace(base, audio_format="wav-s16le-mono-48k").sentence_key("一。")


def test_edited_turn_synthesizes_only_its_changed_sentence(tmp_path: Path) -> None:
    engine = SentenceToneEngine()
    cache = ClipCache(tmp_path)
    before = _request(("我们先说第一件事。", "第二件事比较长，要多说几句。"), ("最后一句。",))
    after = _request(("我们先说第一件事。", "第二件事改过了。"), ("最后一句。",))
    jobs = [Job(1, 0, 3, "A", before, before.paragraphs)]
    clips, failures = synth.synthesize_missing(jobs, engine, cache)
    assert not failures and len(engine.calls) == 3
    old = clips[before.key]

    engine.calls.clear()
    clips, failures = synth.synthesize_missing([replace(jobs[0], request=after)], engine, cache)
    assert not failures and engine.calls == ["第二件事改过了。"]
    new = clips[after.key]
    # The same bytes a fresh synthesis gives: reuse changes where audio comes from, not what it is.
    fresh = np.frombuffer(SentenceToneEngine().synthesize(after).audio.raw_data, dtype=np.int16)
    assert np.array_equal(_samples(new), fresh)
    for kept in ("我们先说第一件事。", "最后一句。"):
        key = after.sentence_key(kept)
        assert np.array_equal(_span(new, key), _span(old, key))
    assert [m.text for m in new.marks] == ["我们先说第一件事。", "第二件事改过了。", "最后一句。"]
    assert new.sentences[1].start - old.sentences[0].end == RATE * GAP_MS // 1000

    # Another voice shares nothing.
    engine.calls.clear()
    other = replace(after, spec=replace(SPEC, voice="cmn+f3"))
    synth.synthesize_missing([replace(jobs[0], request=other)], engine, cache)
    assert len(engine.calls) == 3


def test_stale_or_damaged_pointers_fall_back_to_synthesis(tmp_path: Path) -> None:
    engine = SentenceToneEngine()
    cache = ClipCache(tmp_path)
    first = _request(("甲。", "乙。", "丙。"))
    clip = cache.put(first.key, engine.synthesize(first))
    keys = [first.sentence_key(t) for t in ("甲。", "乙。", "丙。")]
    pointers = [tmp_path / SENTENCES / k[:2] / f"{k}.json" for k in keys]
    assert all(p.is_file() for p in pointers)
    assert np.array_equal(cache.sentence(keys[0], RATE), _span(clip, keys[0]))
    assert cache.sentence(keys[0], RATE * 2) is None  # wrong rate: not served (and dropped)
    assert not pointers[0].exists()

    pointers[1].write_text("not json")
    assert cache.sentence(keys[1], RATE) is None and not pointers[1].exists()

    # A pointer whose span the clip does not list (tampered) is refused.
    target = json.loads(pointers[2].read_text())
    pointers[2].write_text(json.dumps({**target, "start": target["start"] + 1}))
    assert cache.sentence(keys[2], RATE) is None and not pointers[2].exists()

    # The clip itself damaged: the pointer goes with it, and synthesis still works.
    second = _request(("丁。", "戊。"))
    damaged = cache.put(second.key, engine.synthesize(second))
    damaged.path.write_bytes(damaged.path.read_bytes()[:100])
    engine.calls.clear()
    edited = _request(("丁。", "己。"))
    clips, failures = synth.synthesize_missing([Job(1, 0, 1, None, edited, edited.paragraphs)], engine, cache)
    assert not failures and engine.calls == ["丁。", "己。"]
    assert cache.sentence(edited.sentence_key("丁。"), RATE) is not None  # the new clip's pointer


def test_engines_that_do_not_compose_are_left_alone(tmp_path: Path) -> None:
    cache = ClipCache(tmp_path)
    request = _request(("甲。", "乙。"), version="tone/1")
    synth.synthesize_missing([Job(1, 0, 1, None, request, request.paragraphs)], ToneEngine(), cache)
    assert cache.get(request.key) is not None and cache.get(request.key).sentences == ()  # type: ignore[union-attr]
    assert not (tmp_path / SENTENCES).exists()


def test_prune_drops_pointers_with_their_clips(tmp_path: Path) -> None:
    engine = SentenceToneEngine()
    cache = ClipCache(tmp_path)
    kept, dropped = _request(("留下。",)), _request(("删掉。",))
    cache.put(kept.key, engine.synthesize(kept))
    cache.put(dropped.key, engine.synthesize(dropped))
    stray = tmp_path / SENTENCES / "ab" / ".x.json.part"
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_text("x")
    size_before = cache.info()[1]
    removed, freed = cache.prune({kept.key})
    assert removed == 1 and freed > 0 and cache.info()[1] == size_before - freed
    assert cache.sentence(kept.sentence_key("留下。"), RATE) is not None
    gone = dropped.sentence_key("删掉。")
    assert not (tmp_path / SENTENCES / gone[:2] / f"{gone}.json").exists()
    assert not stray.exists()


def test_espeak_edit_reuses_unchanged_sentences(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real engine: only the changed sentence reaches espeak-ng."""
    from audio_pipeline.engines import espeak

    engine = EspeakEngine()
    spoken: list[str] = []
    real = espeak._Espeak.synth

    def counting(self: espeak._Espeak, text: str) -> np.ndarray:
        spoken.append(text)
        return real(self, text)

    monkeypatch.setattr(espeak._Espeak, "synth", counting)
    cache = ClipCache(tmp_path)
    before = ClipRequest(SPEC, (("今天我们聊一聊创业。", "你当时为什么决定做手机？"),), engine.version)
    after = ClipRequest(SPEC, (("今天我们聊一聊创业。", "你后来为什么不做手机了？"),), engine.version)
    old = synth.synthesize_missing([Job(1, 0, 1, "A", before, before.paragraphs)], engine, cache)[0]
    assert len(spoken) == 2
    spoken.clear()
    new = synth.synthesize_missing([Job(1, 0, 1, "A", after, after.paragraphs)], engine, cache)[0]
    assert spoken == ["你后来为什么不做手机了？"]
    key = after.sentence_key("今天我们聊一聊创业。")
    old_clip, new_clip = old[before.key], new[after.key]
    assert np.array_equal(_span(new_clip, key), _span(old_clip, key))
    assert _span(new_clip, key).size > engine.sample_rate // 2  # real speech, not a stub
    assert len(new_clip.marks) == 2 and new_clip.sample_rate == engine.sample_rate


def test_render_after_an_edit_reuses_sentences(tmp_path: Path) -> None:
    """Through the planner: an edited turn in a real transcript costs only its new sentence."""
    vmap = voices.load(VOICES)
    source = tmp_path / "t.md"
    source.write_text("# 访谈\n\n## 一\n\n**甲：** 第一句。第二句。第三句。\n\n**乙：** 回答。\n", "utf-8")
    engine = SentenceToneEngine()
    cache = ClipCache(tmp_path / "cache")
    jobs = synth.jobs_for(transcript.read(source, vmap.speakers), vmap, "espeak", engine.version)
    synth.synthesize_missing(jobs, engine, cache)
    source.write_text(source.read_text("utf-8").replace("第二句。", "第二句改了。"), "utf-8")
    engine.calls.clear()
    jobs = synth.jobs_for(transcript.read(source, vmap.speakers), vmap, "espeak", engine.version)
    clips, failures = synth.synthesize_missing(jobs, engine, cache)
    assert not failures and len(clips) == len(jobs)
    assert engine.calls == ["第二句改了。"]


def test_discarding_a_clip_drops_its_sentence_pointers(tmp_path: Path) -> None:
    """`check --fix` discards a clip to hear it afresh: its sentences must not come back
    from a pointer (to it or to another clip with the same sentence)."""
    engine = SentenceToneEngine()
    cache = ClipCache(tmp_path)
    first, second = _request(("共同的一句。", "甲。")), _request(("共同的一句。", "乙。"))
    cache.put(first.key, engine.synthesize(first))
    cache.put(second.key, engine.synthesize(second))
    shared = first.sentence_key("共同的一句。")
    assert cache.sentence(shared, RATE) is not None
    cache.discard(second.key)
    assert cache.sentence(shared, RATE) is None and cache.sentence(first.sentence_key("甲。"), RATE) is not None


def test_a_pointer_that_cannot_be_written_does_not_fail_the_clip(tmp_path: Path) -> None:
    cache = ClipCache(tmp_path)
    (tmp_path / SENTENCES).write_text("not a folder")  # every pointer write fails
    request = _request(("甲。", "乙。"))
    clip = cache.put(request.key, SentenceToneEngine().synthesize(request))
    assert cache.get(request.key) == clip and len(clip.sentences) == 2
    assert cache.sentence(request.sentence_key("甲。"), RATE) is None


def test_a_retry_asks_the_engine_itself() -> None:
    """Reused pieces would give the same result again: after the first try, the engine
    synthesizes the clip afresh."""
    from audio_pipeline.engines.base import synthesize_with_retry

    engine = SentenceToneEngine()
    request = _request(("甲。", "乙。"))
    tries: list[int] = []

    def first_try(_: ClipRequest) -> Any:
        tries.append(1)
        raise SynthesisError("hiccup", transient=True)

    result = synthesize_with_retry(engine, request, synthesize=first_try, sleep=lambda _: None)
    assert tries == [1] and engine.calls == ["甲。", "乙。"] and len(result.marks) == 2


def test_a_clip_gone_during_assembly_is_a_clear_error(tmp_path: Path) -> None:
    from audio_pipeline import assemble
    from audio_pipeline.errors import RenderError

    cache = ClipCache(tmp_path)
    request = _request(("甲。",))
    clip = cache.put(request.key, SentenceToneEngine().synthesize(request))
    clip.path.unlink()
    with pytest.raises(RenderError, match="vanished from the cache"):
        assemble._samples(clip)
