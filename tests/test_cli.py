from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from audio_pipeline import __version__
from audio_pipeline.cli import main

from .conftest import ROOT, SEED, VOICES


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_version_and_help(runner: CliRunner) -> None:
    result = runner.invoke(main, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output
    for command in ([], ["parse"], ["voices"]):
        result = runner.invoke(main, [*command, "--help"])
        assert result.exit_code == 0 and "Usage:" in result.output


def test_parse_json_matches_golden(runner: CliRunner) -> None:
    result = runner.invoke(main, ["parse", str(SEED), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    golden = json.loads((ROOT / "tests" / "golden" / "luo-yonghao-yan-junjie.json").read_text("utf-8"))
    assert data == golden
    assert data["sections"][0]["index"] == 1
    assert {"speaker", "text", "line"} <= set(data["sections"][0]["turns"][0])


def test_parse_text_summary(runner: CliRunner) -> None:
    result = runner.invoke(main, ["parse", str(SEED)])
    assert result.exit_code == 0
    assert "28 sections" in result.output and "罗永浩" in result.output


def test_voices_json(runner: CliRunner) -> None:
    result = runner.invoke(main, ["voices", str(SEED), "--config", str(VOICES), "--engine", "edge", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    by_speaker = {row["speaker"]: row for row in rows}
    assert set(by_speaker) == {None, "罗永浩", "闫俊杰"}
    assert all(row["engine"] == "edge" for row in rows)
    assert by_speaker["罗永浩"]["voice"] == "zh-CN-YunjianNeural"
    assert by_speaker["闫俊杰"]["rate"] == "+5%"


def test_voices_finds_config_in_cwd(runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("voices.yaml").write_text(VOICES.read_text("utf-8"), "utf-8")
    Path("t.md").write_text("## S\n\nCarol: hi\n\n**Dan:** yo\n", "utf-8")
    result = runner.invoke(main, ["voices", "t.md", "--json"])
    assert result.exit_code == 0, result.output
    assert {row["speaker"] for row in json.loads(result.stdout)} == {None, "Dan"}


@pytest.mark.parametrize(
    ("files", "args", "needle"),
    [
        ({"t.md": b"## S\n\n**A:** caf\xe9\n"}, ["parse", "t.md"], "t.md:3: not UTF-8"),
        ({"t.md": b"---\ntitle: x\n"}, ["parse", "t.md"], "t.md:1: front matter"),
        ({"t.md": b"## S\n"}, ["parse", "t.md"], "t.md: nothing speakable"),
        ({}, ["parse", "missing.md"], "missing.md: cannot read"),
        (
            {"t.md": b"## S\n\n**A:** hi\n", "v.yaml": b"engines:\n  kokoro:\n    narrator: nobody\n"},
            ["voices", "t.md", "--config", "v.yaml"],
            "v.yaml:3: engines.kokoro.narrator.voice: unknown kokoro voice",
        ),
        (
            {
                "t.md": b"## S\n\n**A:** hi\n\n**B:** yo\n\n**C:** hey\n",
                "v.yaml": b"engines:\n  kokoro:\n    narrator: jf_alpha\n    pool: [jf_nezumi]\n",
            },
            ["voices", "t.md", "--config", "v.yaml"],
            "t.md:5: speaker 'B' has no voice: engines.kokoro.pool has 1 unused voices for 3 speakers",
        ),
    ],
)
def test_bad_input_one_line_exit_2(
    runner: CliRunner,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    files: dict[str, bytes],
    args: list[str],
    needle: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    for name, data in files.items():
        Path(name).write_bytes(data)
    result = runner.invoke(main, args)
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and needle in lines[0]
    assert sorted(p.name for p in Path(".").iterdir()) == sorted(files)
