from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from audio_pipeline import synth, transcript, voices
from audio_pipeline.cache import ClipCache
from audio_pipeline.model import ClipRequest, VoiceSpec

from .conftest import VOICES
from .fakes import ToneEngine

SPEC = VoiceSpec("kokoro", "jm_kumo")
BASE = ClipRequest(SPEC, (("你好。", "世界。"),), "kokoro/1")


@pytest.mark.parametrize(
    ("change", "changes_key"),
    [
        (lambda r: replace(r, spec=replace(SPEC, voice="jf_alpha")), True),
        (lambda r: replace(r, spec=replace(SPEC, speed=1.1)), True),
        (lambda r: replace(r, spec=replace(SPEC, rate="+5%")), True),
        (lambda r: replace(r, spec=replace(SPEC, pitch="+5Hz")), True),
        (lambda r: replace(r, spec=replace(SPEC, volume="+5%")), True),
        (lambda r: replace(r, spec=replace(SPEC, engine="espeak")), True),
        (lambda r: replace(r, engine_version="kokoro/2"), True),
        (lambda r: replace(r, audio_format="wav-s16le-mono-48k"), True),
        (lambda r: replace(r, paragraphs=(("你好！", "世界。"),)), True),
        (lambda r: replace(r, paragraphs=(("你好。",), ("世界。",))), True),  # paragraph break
        (lambda r: replace(r), False),
        (lambda r: ClipRequest(VoiceSpec("kokoro", "jm_kumo"), (("你好。", "世界。"),), "kokoro/1"), False),
    ],
)
def test_key_covers_everything_that_shapes_the_clip(change, changes_key: bool) -> None:  # type: ignore[no-untyped-def]
    assert (change(BASE).key != BASE.key) is changes_key


def _jobs(text: str) -> dict[tuple[int, int | None], str]:
    vmap = voices.load(VOICES)
    parsed = transcript.parse(text, "t.md", vmap.speakers)
    return {(j.section, j.turn): j.key for j in synth.jobs_for(parsed, vmap, "kokoro", "v1")}


def test_editing_one_turn_changes_only_its_key_and_titles_do_not_touch_turns() -> None:
    base = "---\ntitle: T\n---\n## One\n\n**罗永浩**：你好。\n\n**闫俊杰**：好的。\n\n## Two\n\n**罗永浩**：再见。\n"
    before = _jobs(base)
    edited = _jobs(base.replace("好的。", "好的，谢谢。"))
    assert {k for k in before if before[k] != edited[k]} == {(1, 1)}
    retitled = _jobs(base.replace("## Two", "## Second"))
    assert {k for k in before if before[k] != retitled[k]} == {(2, None)}  # only the heading clip
    lexicon_changed = _jobs(base.replace("你好", "MiniMax"))
    assert lexicon_changed[(1, 0)] != before[(1, 0)]


def test_put_get_roundtrip_and_corruption_detected(tmp_path: Path) -> None:
    cache = ClipCache(tmp_path)
    result = ToneEngine().synthesize(BASE)
    clip = cache.put(BASE.key, result)
    again = cache.get(BASE.key)
    assert again == clip and clip.duration_ms > 0 and clip.marks == result.marks
    assert abs(clip.level_db - -13.5) < 1.0  # a 0.3-amplitude sine: 20*log10(0.3/sqrt(2))
    assert cache.info()[0] == 1
    # Truncate the audio: detected and dropped, never served.
    data = clip.path.read_bytes()
    clip.path.write_bytes(data[: len(data) // 2])
    assert cache.get(BASE.key) is None
    assert not clip.path.exists()
    # An entry without its sidecar (killed between the two renames) does not count.
    cache.put(BASE.key, result)
    clip.path.with_suffix(".json").unlink()
    assert cache.get(BASE.key) is None


def test_prune_keeps_what_is_in_use(tmp_path: Path) -> None:
    cache = ClipCache(tmp_path)
    engine = ToneEngine()
    other = replace(BASE, paragraphs=(("再见。",),))
    cache.put(BASE.key, engine.synthesize(BASE))
    cache.put(other.key, engine.synthesize(other))
    (tmp_path / BASE.key[:2] / ".stray.wav.part").write_bytes(b"x")
    removed, freed = cache.prune({BASE.key})
    assert removed == 1 and freed > 0
    assert cache.get(BASE.key) is not None and cache.get(other.key) is None
    assert not (tmp_path / BASE.key[:2] / ".stray.wav.part").exists()
