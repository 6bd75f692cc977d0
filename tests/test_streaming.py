"""Listen while it renders: episodes land in order while the engine goes on, the
manifest, feed and page list them at once, progress is in seconds of audio."""

from __future__ import annotations

import dataclasses
import json
import threading
from pathlib import Path

import feedparser
import pytest
from click.testing import CliRunner

from audio_pipeline import assemble, manifest, naming, render, transcript, voices
from audio_pipeline.cli import main
from audio_pipeline.media import leveling
from audio_pipeline.progress import Event

from .conftest import VOICES, ToneFolder
from .fakes import RegisteredTone, RegisterTone, ToneEngine
from .test_render import TEXT


def test_episodes_land_in_order_while_the_engine_goes_on(tmp_path: Path) -> None:
    src = tmp_path / "talk.md"
    src.write_text(TEXT, "utf-8")
    vmap = voices.load(VOICES)
    parsed = transcript.read(src, vmap.speakers)
    settings = render.Settings(out_root=tmp_path / "out", engine="espeak", jobs=1)
    engine = ToneEngine(delay=0.15)
    out = settings.out_dir(parsed)
    seen: list[tuple[int, list[int], int, bool, int]] = []

    def report(event: Event) -> None:
        if event.kind == "episode":
            manifest = json.loads((out / "manifest.json").read_text("utf-8"))
            items = feedparser.parse(str(out / "feed.xml")).entries
            seen.append(
                (int(event.total), [s["index"] for s in manifest["sections"]], len(engine.calls),
                 Path(event.message).is_file(), len(items))
            )  # fmt: skip

    result = render.render(parsed, vmap, engine, settings, report)
    total_calls = len(engine.calls)
    assert [s[0] for s in seen] == [1, 2, 3]
    assert all(s[3] for s in seen)
    # Episode 1 was playable, and listed in the manifest and the feed, before the engine was done.
    assert seen[0][1] == [1] and seen[0][4] == 1 and seen[0][2] < total_calls
    assert seen[1][1] == [1, 2] and seen[1][4] == 2
    assert [s.index for s in result.manifest.sections] == [1, 2, 3] and result.whole_built

    # The same render in another folder, all at once (the engine is instant): same bytes.
    again = render.render(parsed, vmap, ToneEngine(), render.Settings(out_root=tmp_path / "again", engine="espeak"))
    for name in ("talk.mp3", "talk.m4b", "manifest.json", "feed.xml", "index.html"):
        assert (out / name).read_bytes() == (again.out_dir / name).read_bytes(), name


def test_an_edit_is_listed_once_its_mp3_is_in_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """After an edit the page lists the new episode (manifest, feed, page) as soon as its
    MP3 is in place: the AAC piece, which only the whole M4B uses, is checked after."""
    src = tmp_path / "talk.md"
    src.write_text(TEXT, "utf-8")
    vmap = voices.load(VOICES)
    settings = render.Settings(out_root=tmp_path / "out", engine="espeak")
    engine = ToneEngine()
    first = render.render(transcript.read(src, vmap.speakers), vmap, engine, settings)
    src.write_text(TEXT.replace("谢谢邀请。", "谢谢你的邀请。"), "utf-8")
    listed = threading.Event()
    real_write, real_encode = manifest.write, assemble._encode_checked
    states: list[tuple[bool, bool]] = []  # (the edit listed, its AAC piece in place)

    def write(out_dir: Path, listing: manifest.Manifest) -> bool:
        changed = real_write(out_dir, listing)
        edited = [e for e in listing.sections if any("谢谢你的邀请" in t.text for t in e.turns)]
        if edited:
            states.append((True, naming.episode_piece(out_dir, edited[0].audio_key).is_file()))
            assert (out_dir / edited[0].audio).stat().st_size == edited[0].bytes
            listed.set()
        return changed

    def encode(leveled: leveling.Leveled, sample_rate: int, fmt: str, path: Path) -> float:
        if fmt == "aac":
            assert listed.wait(30), "the AAC was made before the new MP3 was listed"
        return real_encode(leveled, sample_rate, fmt, path)

    monkeypatch.setattr(manifest, "write", write)
    monkeypatch.setattr(assemble, "_encode_checked", encode)
    second = render.render(transcript.read(src, vmap.speakers), vmap, engine, settings)
    assert second.encoded == (1,)
    assert states[0] == (True, False)  # listed while its AAC piece was still being made
    assert states[-1] == (True, True)
    # The final listing (after the AAC piece and the whole interview) is what the render returns.
    assert manifest.read(second.out_dir) == second.manifest
    assert second.manifest.sections[0] != first.manifest.sections[0]


def test_an_edit_is_heard_as_a_preview_before_its_episode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An edit's new clip is listed as a preview (its own levelled MP3) before the
    episode is rebuilt; the new episode's listing drops it; the next render sweeps the
    file. A cold render, or a change of more clips than MAX_PREVIEWS, lists none."""
    from audio_pipeline import outputs
    from audio_pipeline.media import codec

    src = tmp_path / "talk.md"
    src.write_text(TEXT, "utf-8")
    vmap = voices.load(VOICES)
    settings = render.Settings(out_root=tmp_path / "out", engine="espeak", previews=True)
    engine = ToneEngine()
    listings: list[manifest.Manifest] = []
    real_write = manifest.write

    def write(out_dir: Path, listing: manifest.Manifest) -> bool:
        listings.append(listing)
        if listing.previews:  # the preview is playable when it is listed
            for p in listing.previews:
                assert codec.decode(out_dir / p.audio).duration_seconds * 1000 == pytest.approx(p.duration_ms, abs=60)
        return real_write(out_dir, listing)

    monkeypatch.setattr(manifest, "write", write)
    first = render.render(transcript.read(src, vmap.speakers), vmap, engine, settings)
    assert not any(m.previews for m in listings)  # a cold render: nothing to preview
    old_turn = next(t for t in first.manifest.sections[0].turns if "谢谢邀请" in t.text)

    listings.clear()
    src.write_text(TEXT.replace("谢谢邀请。", "谢谢你的邀请。"), "utf-8")
    second = render.render(transcript.read(src, vmap.speakers), vmap, engine, settings)
    with_preview = [m for m in listings if m.previews]
    assert with_preview, "no listing had the preview"
    (preview,) = with_preview[0].previews
    new_turn = next(t for t in second.manifest.sections[0].turns if "谢谢你的邀请" in t.text)
    assert (preview.section, preview.replaces, preview.clip_key) == (1, old_turn.clip_key, new_turn.clip_key)
    assert (preview.speaker, preview.line) == (new_turn.speaker, new_turn.line)
    # Listed beside the old episode, before the new one.
    assert with_preview[0].sections[0].sha256 == first.manifest.sections[0].sha256
    assert listings.index(with_preview[0]) < next(
        i for i, m in enumerate(listings) if m.sections and m.sections[0].sha256 == second.manifest.sections[0].sha256
    )
    assert not second.manifest.previews and "previews" not in (second.out_dir / "manifest.json").read_text("utf-8")
    kept = second.out_dir / preview.audio
    assert kept.is_file()  # a listener may still be playing it

    # The next render sweeps it; an edit of more clips than MAX_PREVIEWS lists none, nor
    # does a render that is not watched (no one is listening).
    monkeypatch.setattr(outputs, "MAX_PREVIEWS", 0)
    listings.clear()
    src.write_text(TEXT.replace("谢谢邀请。", "谢谢您的邀请。"), "utf-8")
    render.render(transcript.read(src, vmap.speakers), vmap, engine, settings)
    assert not any(m.previews for m in listings)
    assert not kept.exists() and not (second.out_dir / "previews").exists()
    monkeypatch.setattr(outputs, "MAX_PREVIEWS", 6)
    src.write_text(TEXT.replace("谢谢邀请。", "多谢邀请。"), "utf-8")
    unwatched = dataclasses.replace(settings, previews=False)
    render.render(transcript.read(src, vmap.speakers), vmap, engine, unwatched)
    assert not any(m.previews for m in listings) and not (second.out_dir / "previews").exists()


@pytest.fixture
def workdir(tone_folder: ToneFolder, register_tone: RegisterTone) -> Path:
    register_tone(RegisteredTone())
    return tone_folder({"talk.md": TEXT})


def test_progress_json_lines(workdir: Path) -> None:
    result = CliRunner().invoke(main, ["render", "talk.md", "--engine", "tone", "--progress", "json"])
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    audio = [e for e in events if e.get("stage") == "audio"]
    assert audio[0]["event"] == "start" and audio[0]["unit"] == "s" and audio[0]["total"] > 0
    steps = [e for e in audio if e["event"] == "step"]
    assert steps and all("eta_s" in e for e in steps) and steps[-1]["eta_s"] == 0
    assert steps[-1]["done"] == pytest.approx(steps[-1]["total"], abs=0.01)
    ready = [e for e in events if e["event"] == "episode"]
    assert sorted(e["section"] for e in ready) == [1, 2, 3] and all(Path(e["path"]).is_file() for e in ready)


def test_quiet_prints_nothing_but_the_result(workdir: Path) -> None:
    result = CliRunner().invoke(main, ["render", "talk.md", "--engine", "tone", "--quiet"])
    assert result.exit_code == 0
    assert result.stderr == ""
    assert "sections built [1, 2, 3]" in result.stdout
