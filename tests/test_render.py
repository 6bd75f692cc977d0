"""The whole pipeline with the stand-in engine: real ffmpeg, real files, real readers."""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from mutagen.id3 import ID3
from mutagen.mp4 import MP4

from audio_pipeline import assemble, render, transcript, voices
from audio_pipeline.errors import RenderError
from audio_pipeline.export.subtitles import Cue
from audio_pipeline.media import adts, codec, leveling, mp3

from .conftest import VOICES
from .fakes import ToneEngine
from .readers import chap_starts, ffmpeg_chapters
from .test_ffmpeg import espeak_speech

TEXT = """---
title: 测试访谈
created: 2025-12-28
---
## 一、开场

这是一段旁白。

**罗永浩**：你好，欢迎来到节目。今天我们聊聊AI。

**闫俊杰**：谢谢邀请。

很高兴来到这里，我们开始吧。

## 二、正题

**罗永浩**：MiniMax是怎么开始的？

**闫俊杰**：从一个想法开始。

## 三、结尾

**罗永浩**：谢谢你。
"""


def _render(tmp_path: Path, text: str = TEXT, engine: ToneEngine | None = None, **kw: object) -> render.Result:
    tmp_path.mkdir(parents=True, exist_ok=True)
    src = tmp_path / "talk.md"
    src.write_text(text, "utf-8")
    vmap = voices.load(VOICES)
    parsed = transcript.read(src, vmap.speakers)
    settings = render.Settings(out_root=tmp_path / "out", engine="espeak", **kw)  # type: ignore[arg-type]
    return render.render(parsed, vmap, engine or ToneEngine(), settings)


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and ".cache" not in p.parts and p.name != ".lock"
    }


def _vtt_cues(path: Path) -> list[tuple[int, int, str]]:
    cues = []
    for block in path.read_text("utf-8").split("\n\n")[1:]:
        lines = block.strip().splitlines()
        if not lines:
            continue
        start, _, end = lines[0].partition(" --> ")

        def ms(stamp: str) -> int:
            h, m, s = stamp.split(":")
            return round((int(h) * 3600 + int(m) * 60 + float(s)) * 1000)

        cues.append((ms(start), ms(end), "\n".join(lines[1:])))
    return cues


def test_outputs_read_back_with_real_readers(tmp_path: Path) -> None:
    result = _render(tmp_path)
    out = result.out_dir
    manifest = json.loads((out / "manifest.json").read_text("utf-8"))
    assert [s["index"] for s in manifest["sections"]] == [1, 2, 3]
    first = manifest["sections"][0]
    # Episode tags.
    tags = ID3(out / first["audio"])
    assert str(tags["TIT2"]) == "一、开场"
    assert str(tags["TALB"]) == "测试访谈"
    assert "罗永浩" in str(tags["TPE1"]) and "闫俊杰" in str(tags["TPE1"])
    assert str(tags["TRCK"]) == "1/3"
    assert str(tags["TDRC"]).startswith("2025")
    # Episode duration matches the decoded audio.
    decoded = codec.decode(out / first["audio"])
    assert abs(len(decoded) - first["duration_ms"]) < 60
    # Turns: ordered, inside the audio, right speakers and source lines.
    turns = first["turns"]
    assert [t["speaker"] for t in turns] == [None, None, "罗永浩", "闫俊杰"]
    assert [t["line"] for t in turns] == [5, 7, 9, 11]
    assert all(a["end_ms"] <= b["start_ms"] for a, b in zip(turns, turns[1:], strict=False))
    assert turns[-1]["end_ms"] <= first["duration_ms"]
    # The lexicon changes what is spoken, not what is shown.
    assert "MiniMax" in manifest["sections"][1]["turns"][1]["text"]
    # Whole interview: ID3 chapters with real titles and times.
    whole = manifest["whole"]
    id3 = ID3(out / whole["mp3"])
    chaps = sorted(id3.getall("CHAP"), key=lambda c: c.start_time)
    assert [str(c.sub_frames["TIT2"]) for c in chaps] == ["一、开场", "二、正题", "三、结尾"]
    assert chaps[0].start_time == 0
    assert [c.start_time for c in chaps] == [c["start_ms"] for c in whole["chapters"]]
    assert all(a.end_time == b.start_time for a, b in zip(chaps, chaps[1:], strict=False))
    assert id3.getall("CTOC")[0].child_element_ids == [c.element_id for c in chaps]
    # In the file, as readers that do not sort see them: in time order (whole and episodes).
    assert chap_starts(out / whole["mp3"]) == [c["start_ms"] for c in whole["chapters"]]
    assert [t for _s, _e, t in ffmpeg_chapters(out / whole["mp3"])] == ["一、开场", "二、正题", "三、结尾"]
    for section in manifest["sections"]:
        assert chap_starts(out / section["audio"]) == [t["start_ms"] for t in section["turns"]]
    whole_len = len(codec.decode(out / whole["mp3"]))
    assert abs(chaps[-1].end_time - whole_len) < 100
    # M4B chapters.
    m4b = MP4(out / whole["m4b"])
    assert m4b.chapters is not None
    assert [c.title for c in m4b.chapters] == ["一、开场", "二、正题", "三、结尾"]
    # One timeline: the M4B plays as long as the MP3 and its chapters start at the same times.
    m4b_len = len(codec.decode(out / whole["m4b"]))
    assert abs(m4b.chapters[-1].start - whole["m4b_chapters"][-1]["start_ms"] / 1000) < 0.05
    assert abs(whole["m4b_chapters"][-1]["end_ms"] - m4b_len) < 5
    assert abs(whole_len - m4b_len) < 5
    for a, b in zip(whole["chapters"], whole["m4b_chapters"], strict=True):
        assert abs(a["start_ms"] - b["start_ms"]) <= 1
    listed_mp3, listed_m4b = ffmpeg_chapters(out / whole["mp3"]), ffmpeg_chapters(out / whole["m4b"])
    assert len(listed_mp3) == len(listed_m4b) == 3
    for (a, _x, _t), (b, _y, _u) in zip(listed_mp3, listed_m4b, strict=True):
        assert abs(a - b) <= 0.002
    # Loudness, as a real meter measures it.
    for path in (out / first["audio"], out / whole["mp3"], out / whole["m4b"]):
        level = codec.loudness(path)
        assert abs(level.integrated_lufs - -16.0) <= 1.0, (path, level)
        assert level.true_peak_dbtp <= -1.0, (path, level)
    # Subtitles: ordered, inside the audio, right speakers.
    cues = _vtt_cues(out / whole["vtt"])
    assert cues and all(a[1] <= b[0] for a, b in zip(cues, cues[1:], strict=False))
    assert cues[-1][1] <= whole_len
    assert any(text.startswith("<v 闫俊杰>谢谢邀请") for _, _, text in cues)
    assert (out / whole["srt"]).read_text("utf-8").startswith("1\n")
    episode_cues = _vtt_cues(out / first["vtt"])
    assert sum(1 for c in episode_cues if c[2].startswith("<v 罗永浩>")) == 2  # two sentences
    chapters_json = json.loads((out / first["chapters"]).read_text("utf-8"))
    assert [c["title"] for c in chapters_json["chapters"]] == ["一、开场", "一、开场", "罗永浩", "闫俊杰"]


def test_no_op_rerender_touches_nothing(tmp_path: Path) -> None:
    first = _render(tmp_path)
    before = _snapshot(first.out_dir)
    again = _render(tmp_path)
    assert again.built == () and not again.whole_built
    assert again.plan.missing == set()
    assert _snapshot(first.out_dir) == before


def test_one_edited_turn_rebuilds_one_section(tmp_path: Path) -> None:
    first = _render(tmp_path)
    out = first.out_dir
    before = _snapshot(out)
    edited = TEXT.replace("从一个想法开始。", "从一个很小的想法开始。")
    src = tmp_path / "talk.md"
    src.write_text(edited, "utf-8")
    vmap = voices.load(VOICES)
    engine = ToneEngine()
    plan = render.make_plan(
        transcript.read(src, vmap.speakers), vmap, engine, render.Settings(out_root=tmp_path / "out").clip_cache(), out
    )
    assert plan.to_json()["clips_to_synthesize"] == 1
    assert plan.to_json()["sections_to_build"] == [2]
    assert plan.to_json()["sections_up_to_date"] == [1, 3]
    result = _render(tmp_path, edited, engine)
    assert len(engine.calls) == 1 and result.built == (2,) and result.whole_built
    after = _snapshot(out)
    changed = {name for name in before if before[name] != after.get(name)}
    whole = {"talk.mp3", "talk.m4b", "talk.vtt", "talk.srt", "manifest.json", "feed.xml", "index.html"}
    episode2 = {n for n in before if n.startswith("episodes/02-")}
    pieces = {n for n in set(before) | set(after) if n.startswith(".parts/episode-")}
    assert episode2 and changed <= whole | episode2 | pieces
    assert episode2 <= changed and {"talk.mp3", "talk.m4b"} <= changed
    # One AAC piece per current episode: the edited section's old piece is gone.
    assert {n for n in after if n.startswith(".parts/episode-")} == {
        f".parts/episode-{e.audio_key[:32]}.aac" for e in result.manifest.sections
    }
    assert len(pieces) == 4  # three current, one replaced


def test_same_inputs_give_byte_identical_audio(tmp_path: Path) -> None:
    a = _render(tmp_path / "a")
    b = _render(tmp_path / "b")
    for name in ("talk.mp3", "talk.m4b", "talk.vtt", "manifest.json"):
        assert (a.out_dir / name).read_bytes() == (b.out_dir / name).read_bytes(), name
    for ep in a.manifest.sections:
        assert (a.out_dir / ep.audio).read_bytes() == (b.out_dir / ep.audio).read_bytes()


def test_removed_section_loses_its_files(tmp_path: Path) -> None:
    first = _render(tmp_path)
    third = first.out_dir / first.manifest.sections[2].audio
    assert third.exists()
    shorter = TEXT[: TEXT.index("## 三、结尾")]
    result = _render(tmp_path, shorter)
    assert not third.exists()
    assert [s.index for s in result.manifest.sections] == [1, 2]
    assert {p.name for p in (result.out_dir / "episodes").iterdir()} == {
        Path(name).name for s in result.manifest.sections for name in s.files
    }


@pytest.mark.parametrize("stream", [True, False])
def test_failing_turn_reported_others_cached_outputs_untouched(tmp_path: Path, stream: bool) -> None:
    # stream=False is the case where the engine finishes (with a failure) before the
    # assembly thread wakes: the complete sections must still be built.
    first = _render(tmp_path)
    before = _snapshot(first.out_dir)
    edited = TEXT.replace("谢谢你。", "谢谢你，再见。").replace("谢谢邀请。", "谢谢邀请，真的。")
    engine = ToneEngine(fail_containing="再见")
    with pytest.raises(RenderError) as info:
        _render(tmp_path, edited, engine, stream=stream)
    message = str(info.value)
    assert "1 clip(s) failed" in message and "talk.md:23: section 3, 罗永浩" in message
    # Episodes are built as their clips land: section 1's edit is done; the failed
    # section 3 and the whole interview keep their files, and the page lists them all.
    after = _snapshot(first.out_dir)
    changed = {name for name in before if after.get(name) != before[name]}
    assert any(name.startswith("episodes/01-") for name in changed)
    assert not [n for n in changed if n.startswith("episodes/03-") or n.startswith("talk.")]
    listed = json.loads((first.out_dir / "manifest.json").read_text("utf-8"))
    assert [s["index"] for s in listed["sections"]] == [1, 2, 3] and listed["whole"] is not None
    # The other new clip was made and cached: a retry with a healthy engine makes only the failed one.
    healthy = ToneEngine()
    _render(tmp_path, edited, healthy)
    assert healthy.calls == ["谢谢你，再见。"]


def test_transient_failures_are_retried_to_completion(tmp_path: Path) -> None:
    engine = ToneEngine(transient_every=3)  # a third of all calls fail
    result = _render(tmp_path, engine=engine)
    assert len(result.manifest.sections) == 3 and result.whole_built


def test_second_render_into_same_folder_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out" / "talk"
    with render.locked(out), pytest.raises(RenderError, match="another render is writing"):
        _render(tmp_path)


def test_sections_subset(tmp_path: Path) -> None:
    result = _render(tmp_path, sections=frozenset({2}))
    assert [s.index for s in result.manifest.sections] == [2]
    assert result.manifest.whole is None
    full = _render(tmp_path)
    assert full.built == (1, 3) and full.whole_built


def test_hostile_titles_give_safe_distinct_names(tmp_path: Path) -> None:
    titles = ["../../x", "/", "CON", "a\x00b", "长" * 500, "🙂🙂"]
    text = "".join(f"## {t}\n\n**罗永浩**：第{i}段。\n\n" for i, t in enumerate(titles))
    result = _render(tmp_path, text)
    names = [Path(s.audio).name for s in result.manifest.sections]
    assert len(set(names)) == len(titles)
    episodes = (result.out_dir / "episodes").resolve()
    for section in result.manifest.sections:
        path = (result.out_dir / section.audio).resolve()
        assert path.parent == episodes and path.is_file()
        assert len(path.name.encode()) < 200 and "\x00" not in path.name


def test_cue_type_is_shared() -> None:
    assert replace(Cue(0, 1, None, "x"), text="y").text == "y"
    assert os.sep not in "x"


def test_whole_files_chapters_match_their_audio(tmp_path: Path) -> None:
    """One timeline: each section starts at its chapter time in the whole MP3 *and* at the
    same time in the whole M4B (found by cross-correlating the decoded audio), so one set
    of chapter and subtitle times is right for both files, at every section boundary."""
    many = TEXT + "".join(
        f"## {n}、再谈\n\n**罗永浩**：第{n}次提问，{'很长的问题' * i}。\n\n" for i, n in enumerate("四五六七")
    )
    result = _render(tmp_path, many)
    out = result.out_dir
    whole = result.manifest.whole
    assert whole is not None
    mp3 = np.frombuffer(codec.decode(out / whole.mp3).raw_data, "<i2").astype(float)
    m4b = np.frombuffer(codec.decode(out / whole.m4b).raw_data, "<i2").astype(float)
    rate = codec.decode(out / whole.m4b).frame_rate
    assert abs(len(mp3) - len(m4b)) <= rate // 1000
    reach = rate // 20  # searched over +-50 ms
    assert len(whole.chapters) == len(whole.m4b_chapters) == 7
    for a, b, section in zip(whole.chapters, whole.m4b_chapters, result.manifest.sections, strict=True):
        assert a.start_ms == b.start_ms
        if a.index == 1:
            continue  # the first chapter starts at 0, with the spoken title before its section
        at = a.start_ms * rate // 1000
        episode = np.frombuffer(codec.decode(out / section.audio).raw_data, "<i2").astype(float)
        x = episode[:rate]  # the episode's first second (its heading), as it sits in the whole files
        assert np.abs(x).max() > 1000
        for decoded in (mp3, m4b):
            y = decoded[at - reach if at >= reach else 0 :][: len(x) + 2 * reach]
            scores = [np.dot(x, y[k : k + len(x)]) / (np.linalg.norm(x) * np.linalg.norm(y[k : k + len(x)]) + 1e-9)
                      for k in range(len(y) - len(x) + 1)]  # fmt: skip
            best = int(np.argmax(scores))
            assert scores[best] > 0.9
            assert abs(best - min(reach, at)) <= rate // 500  # within 2 ms
    # The whole-interview subtitles follow that one timeline: each section's first cue
    # sits where its episode's first cue sits, shifted by the chapter start.
    cues = _vtt_cues(out / whole.vtt)
    for chapter, section in zip(whole.chapters[1:], result.manifest.sections[1:], strict=True):
        first = _vtt_cues(out / section.vtt)[0]
        assert (first[0] + chapter.start_ms, first[2]) in [(c[0], c[2]) for c in cues]


def test_encode_leveled_meets_the_spec_and_retries_overshoot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    speech, rate = espeak_speech()
    x = np.frombuffer(speech, "<i2").astype(np.int16)
    mp3, aac = tmp_path / "a.mp3", tmp_path / "a.aac"
    made = assemble.encode_leveled(lambda: x, rate, mp3, aac)
    assert made.ceiling_dbtp == assemble.PCM_CEILING and made.true_peak_dbtp <= assemble.PCM_CEILING
    for path in (mp3, aac):
        level = codec.loudness(path)
        assert abs(level.integrated_lufs - assemble.TARGET_LUFS) <= 0.5, (path, level)
        assert level.true_peak_dbtp <= assemble.MAX_TRUE_PEAK, (path, level)
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["a.aac", "a.mp3"]

    # A codec that overshot: the limiter goes lower by the excess (+0.3 dB) and that format is encoded again.
    ceilings: list[float] = []
    real_level = leveling.level

    def level_spy(pcm: np.ndarray, sample_rate: int, **kw: float) -> leveling.Leveled:
        ceilings.append(kw["ceiling_dbtp"])
        return real_level(pcm, sample_rate, **kw)

    excess = iter([0.7, -0.2])
    real_encode = assemble._encode_checked

    def encode_spy(leveled: leveling.Leveled, sample_rate: int, fmt: str, path: Path) -> float:
        real_encode(leveled, sample_rate, fmt, path)
        return next(excess)

    monkeypatch.setattr(leveling, "level", level_spy)
    monkeypatch.setattr(assemble, "_encode_checked", encode_spy)
    again = assemble.encode_leveled(lambda: x, rate, tmp_path / "b.mp3", None)
    assert ceilings == [pytest.approx(assemble.PCM_CEILING), pytest.approx(assemble.PCM_CEILING - 1.0)]
    assert again.ceiling_dbtp == pytest.approx(assemble.PCM_CEILING - 1.0)
    assert codec.loudness(tmp_path / "b.mp3").true_peak_dbtp <= assemble.PCM_CEILING - 1.0 + 1.5
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


def test_each_format_is_checked_and_placed_on_its_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An AAC overshoot re-encodes the AAC alone (the MP3 keeps the bytes it has without
    it, and an AAC made alone is the same), and the MP3 is in place, ``on_mp3`` called,
    before the AAC is encoded."""
    speech, rate = espeak_speech()
    x = np.frombuffer(speech, "<i2").astype(np.int16)
    plain = assemble.encode_leveled(lambda: x, rate, tmp_path / "plain.mp3", tmp_path / "plain.aac")
    real_encode = assemble._encode_checked
    checked: list[str] = []
    at_mp3: list[tuple[bool, bool]] = []
    aac_first = iter([0.5])

    def encode(leveled: leveling.Leveled, sample_rate: int, fmt: str, path: Path) -> float:
        excess = real_encode(leveled, sample_rate, fmt, path)
        checked.append(fmt)
        return next(aac_first, -1.0) if fmt == "aac" else excess

    monkeypatch.setattr(assemble, "_encode_checked", encode)
    mp3, aac = tmp_path / "b.mp3", tmp_path / "b.aac"
    made = assemble.encode_leveled(
        lambda: x, rate, mp3, aac, on_mp3=lambda: at_mp3.append((mp3.is_file(), aac.is_file()))
    )
    assert made.ceiling_dbtp == plain.ceiling_dbtp  # the MP3's levelling: not lowered
    assert mp3.read_bytes() == (tmp_path / "plain.mp3").read_bytes()
    assert aac.read_bytes() != (tmp_path / "plain.aac").read_bytes()  # encoded again, lower
    assert sorted(checked) == ["aac", "aac", "mp3"]
    assert at_mp3 == [(True, False)]  # placed before the AAC was even encoded
    # The same AAC made alone (as the whole-interview join makes a missing piece).
    aac_first = iter([0.5])
    assemble.encode_leveled(lambda: x, rate, None, tmp_path / "alone.aac")
    assert (tmp_path / "alone.aac").read_bytes() == aac.read_bytes()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


def test_parts_folder_keeps_only_what_the_outputs_use(tmp_path: Path) -> None:
    first = _render(tmp_path)
    parts = first.out_dir / ".parts"
    assert first.manifest.whole is not None
    used = {f"episode-{e.audio_key[:32]}.aac" for e in first.manifest.sections}
    art = {f"cover-{first.manifest.cover.key}.jpg", f"cover-{first.manifest.cover.key}-1400.jpg"}
    assert {p.name for p in parts.iterdir()} == used | set(first.manifest.whole.parts) | art
    assert any(n.startswith("gap-") for n in first.manifest.whole.parts)
    # Longer pauses between sections: new gap pieces; the old ones go.
    vmap = voices.load(VOICES)
    wider = dataclasses.replace(vmap, pauses=dataclasses.replace(vmap.pauses, between_sections_ms=2500))
    src = tmp_path / "talk.md"
    settings = render.Settings(out_root=tmp_path / "out", engine="espeak")
    second = render.render(transcript.read(src, vmap.speakers), wider, ToneEngine(), settings)
    assert second.whole_built and second.manifest.whole is not None
    assert second.manifest.whole.parts != first.manifest.whole.parts
    now = {f"episode-{e.audio_key[:32]}.aac" for e in second.manifest.sections}  # pauses are in their keys
    assert {p.name for p in parts.iterdir()} == now | set(second.manifest.whole.parts) | art
    assert not now & used


@pytest.mark.parametrize("rate", [16000, 22050, 24000, 44100, 48000])
def test_join_length_gives_equal_mp3_and_aac_spans(tmp_path: Path, rate: int) -> None:
    """The encoders' framing that one timeline rests on: a piece of join_length samples
    spans the same whole JOIN_BLOCKs as an MP3 and as an AAC piece, and decodes whole."""
    for frames, silence in [(1, 1), (rate // 3, 0), (5 * rate + 17, rate // 2)]:
        n = assemble.join_length(frames, silence)
        assert n >= frames - silence and (n + assemble.MP3_OVERHEAD) % assemble.JOIN_BLOCK == 0
        assert abs(n - frames) <= assemble.JOIN_BLOCK
        pcm = (np.random.default_rng(n).standard_normal(n) * 2000).astype("<i2")
        codec.encode_pair(iter([pcm.tobytes()]), rate, tmp_path / "a.mp3", tmp_path / "a.aac")
        info = mp3.mp3_frame_info(tmp_path / "a.mp3")
        aac_frames, _ = adts.adts_frames(tmp_path / "a.aac")
        assert info.frames * info.samples_per_frame == aac_frames * adts.AAC_FRAME == n + assemble.MP3_OVERHEAD
        assert info.encoder_delay == 576 and info.samples == n
