"""render / plan / cache through the CLI, with the stand-in engine at the engine boundary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from audio_pipeline.cli import main

from .conftest import ToneFolder
from .fakes import RegisteredTone, RegisterTone

TEXT = (
    "---\ntitle: 小访谈\n---\n## 一、开始\n\n**罗永浩**：你好。\n\n"
    "**闫俊杰**：你好，很高兴见到你。\n\n## 二、结束\n\n**罗永浩**：再见。\n"
)


@pytest.fixture
def workdir(tone_folder: ToneFolder, register_tone: RegisterTone) -> Path:
    register_tone(RegisteredTone())
    return tone_folder({"talk.md": TEXT})


def test_render_plan_cache_commands(workdir: Path) -> None:
    runner = CliRunner()
    plan = runner.invoke(main, ["plan", "talk.md", "--engine", "tone", "--json"])
    assert plan.exit_code == 0, plan.output
    assert json.loads(plan.output) == {
        "engine": "tone",
        "clips_to_synthesize": 6,  # title, two headings, three turns
        "clips_cached": 0,
        "sections_to_build": [1, 2],
        "sections_to_encode": [1, 2],
        "sections_up_to_date": [],
    }
    result = runner.invoke(main, ["render", "talk.md", "--engine", "tone"])
    assert result.exit_code == 0, result.output
    out = workdir / "output" / "talk"
    assert (out / "talk.mp3").is_file() and (out / "talk.m4b").is_file() and (out / "feed.xml").is_file()
    assert "clips 6 new, 0 cached" in result.output
    assert "no --base-url" in result.output
    again = json.loads(runner.invoke(main, ["plan", "talk.md", "--engine", "tone", "--json"]).output)
    assert again["clips_to_synthesize"] == 0 and again["sections_up_to_date"] == [1, 2]
    info = json.loads(runner.invoke(main, ["cache", "info", "--json"]).output)
    assert info["entries"] == 6 and info["bytes"] > 0
    # Drop a turn; prune removes exactly its clip.
    (workdir / "talk.md").write_text(TEXT.replace("**罗永浩**：再见。\n", "**罗永浩**：下次见。\n"), "utf-8")
    pruned = runner.invoke(main, ["cache", "prune", "talk.md"])
    assert pruned.exit_code == 0 and "removed 1 clips" in pruned.output


def test_sections_option_validated(workdir: Path) -> None:
    result = CliRunner().invoke(main, ["render", "talk.md", "--engine", "tone", "--sections", "3"])
    assert result.exit_code == 2
    assert result.output.strip() == "Error: --sections: '3' is outside 1-2"
    assert not (workdir / "output").exists()


def test_failed_turn_exit_1_names_it(workdir: Path, register_tone: RegisterTone) -> None:
    register_tone(RegisteredTone(fail_containing="再见"))
    result = CliRunner().invoke(main, ["render", "talk.md", "--engine", "tone"])
    assert result.exit_code == 1
    assert "Error: talk.md:12: section 2, 罗永浩: stand-in refuses this text" in result.output
    assert "Traceback" not in result.output
    # Section 1's clips all came: its episode was built and listed while the engine went on.
    manifest = json.loads((workdir / "output" / "talk" / "manifest.json").read_text("utf-8"))
    assert [s["index"] for s in manifest["sections"]] == [1] and manifest["whole"] is None
    assert "episode 1 ready: " in result.output
