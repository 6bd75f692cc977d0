"""The recognizer's set-up without the recognizer: the model joined from stand-in parts,
its folder, and the one-line message when the ``check`` extra is missing."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from audio_pipeline.check import recognizer
from audio_pipeline.cli.check import check


def _fake_parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    data = tmp_path / "parts"
    data.mkdir()
    parts = [data / "model.bin.part1", data / "model.bin.part2"]
    parts[0].write_bytes(b"A" * 1000)
    parts[1].write_bytes(b"B" * 500)
    extras = []
    for name in recognizer.MODEL_FILES:
        (data / name).write_text("{}", "utf-8")
        extras.append(data / name)
    monkeypatch.setattr(recognizer, "_parts", lambda: (parts, extras))
    return parts


def test_model_parts_are_joined_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_parts(tmp_path, monkeypatch)
    target = tmp_path / "model"
    monkeypatch.setenv(recognizer.MODEL_ENV, str(target))
    assert recognizer.default_model_dir() == target
    folder = recognizer.model_dir()
    assert (folder / "model.bin").read_bytes() == b"A" * 1000 + b"B" * 500
    assert {p.name for p in folder.iterdir()} == {"model.bin", *recognizer.MODEL_FILES}
    mtime = (folder / "model.bin").stat().st_mtime_ns
    assert recognizer.model_dir() == folder and (folder / "model.bin").stat().st_mtime_ns == mtime
    model = recognizer.model_id(folder)
    assert model.startswith("whisper-") and model == recognizer.model_id(folder)


def test_a_half_joined_model_is_joined_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_parts(tmp_path, monkeypatch)
    target = tmp_path / "model"
    target.mkdir()
    (target / "model.bin").write_bytes(b"A" * 10)  # e.g. copied by hand and cut short
    folder = recognizer.model_dir(target)
    assert (folder / "model.bin").stat().st_size == 1500


def test_default_model_dir_follows_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(recognizer.MODEL_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert recognizer.default_model_dir().parent == tmp_path / "audio_pipeline"


def test_check_without_the_extra_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, *args: Any, **kwargs: Any) -> Any:
        return None if name == "faster_whisper" else real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    result = CliRunner().invoke(check, ["talk.md"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and 'pip install -e ".[check]"' in lines[0] and lines[0].startswith("Error:")
