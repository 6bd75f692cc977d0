"""Many transcripts in one run: one clip cache, a folder each, failures reported, the rest finish."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from audio_pipeline.cli import main

from .conftest import ToneFolder
from .fakes import RegisteredTone, RegisterTone, ToneEngine

SHARED = "这一句两个访谈都有。"
A = f"---\ntitle: 甲访谈\n---\n## 开始\n\n**罗永浩**：{SHARED}\n\n**闫俊杰**：甲的回答在这里。\n"
B = f"---\ntitle: 乙访谈\n---\n## 开始\n\n**罗永浩**：{SHARED}\n\n**闫俊杰**：乙的回答不一样。\n"
BAD = "---\ntitle: [unclosed\n\n## 开始\n\n**罗永浩**：front matter never closes.\n"


@pytest.fixture
def workdir(tone_folder: ToneFolder, register_tone: RegisterTone) -> tuple[Path, ToneEngine]:
    folder = tone_folder({"a.md": A, "b.md": B, "bad.md": BAD})
    return folder, register_tone(RegisteredTone(fail_containing="FAILS"))


def test_batch_renders_each_into_its_own_folder_and_a_shared_turn_once(workdir: tuple[Path, ToneEngine]) -> None:
    folder, engine = workdir
    result = CliRunner().invoke(main, ["render", "a.md", "b.md", "--engine", "tone", "-q"])
    assert result.exit_code == 0, result.output
    for name in ("a", "b"):
        assert (folder / "output" / name / f"{name}.mp3").is_file()
        assert (folder / "output" / name / "feed.xml").is_file()
    assert engine.calls.count(SHARED) == 1  # b found a's clip in the shared cache
    assert "2 of 2 transcripts done" in result.output
    assert sorted(p.name for p in (folder / "output").iterdir()) == [".cache", "a", "b"]


def test_a_bad_transcript_is_reported_and_the_others_finish(workdir: tuple[Path, ToneEngine]) -> None:
    folder, _ = workdir
    result = CliRunner().invoke(main, ["render", "a.md", "bad.md", "b.md", "--engine", "tone", "-q"])
    assert result.exit_code == 2, result.output
    assert "Error: bad.md:1: front matter" in result.output
    assert (folder / "output" / "a" / "a.mp3").is_file() and (folder / "output" / "b" / "b.mp3").is_file()
    assert not (folder / "output" / "bad").exists()
    assert "2 of 3 transcripts done; failed: bad.md" in result.output


def test_failing_turns_in_one_transcript_exit_1_and_the_other_renders(workdir: tuple[Path, ToneEngine]) -> None:
    folder, _ = workdir
    (folder / "c.md").write_text(B.replace("乙的回答不一样。", "这一句 FAILS 了。"), "utf-8")
    result = CliRunner().invoke(main, ["render", "c.md", "a.md", "--engine", "tone", "-q"])
    assert result.exit_code == 1, result.output
    assert "clip(s) failed" in result.output and "c.md:" in result.output
    assert (folder / "output" / "a" / "a.mp3").is_file()
    assert not (folder / "output" / "c" / "c.mp3").exists()


def test_two_transcripts_with_one_output_folder_are_refused_one(workdir: tuple[Path, ToneEngine]) -> None:
    folder, _ = workdir
    (folder / "sub").mkdir()
    (folder / "sub" / "a.md").write_text(B, "utf-8")
    result = CliRunner().invoke(main, ["render", "a.md", "sub/a.md", "--engine", "tone", "-q"])
    assert result.exit_code == 2, result.output
    assert "as a.md does" in result.output
    assert "甲访谈" in (folder / "output" / "a" / "manifest.json").read_text("utf-8")


def test_watch_needs_one_file(workdir: tuple[Path, ToneEngine]) -> None:
    result = CliRunner().invoke(main, ["render", "a.md", "b.md", "--engine", "tone", "--watch"])
    assert result.exit_code == 2
    assert "--watch follows one transcript" in result.output


def test_plan_over_several_files_counts_shared_clips_once(workdir: tuple[Path, ToneEngine]) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["plan", "a.md", "b.md", "--engine", "tone"])
    assert result.exit_code == 0, result.output
    # Each: title, heading, two turns. The shared turn, the heading (开始) and nothing else is common.
    assert "all: 6 distinct clips to synthesize (2 shared between transcripts)" in result.output
    listed = runner.invoke(main, ["plan", "a.md", "bad.md", "--engine", "tone", "--json"])
    assert listed.exit_code == 2
    data = json.loads(listed.stdout)
    assert [p["file"] for p in data] == ["a.md"] and data[0]["clips_to_synthesize"] == 4
    assert "Error: bad.md:1:" in listed.stderr
