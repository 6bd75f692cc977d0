"""Shared fixtures. Every test runs with isolated user folders."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "seeds" / "luo-yonghao-yan-junjie.md"
VOICES = ROOT / "voices.yaml"


@pytest.fixture(autouse=True)
def isolated_user_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing a test does may touch the user's home or a real output folder."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.delenv("AUDIO_PIPELINE_CACHE", raising=False)


@pytest.fixture
def seed_text() -> str:
    return SEED.read_text(encoding="utf-8")
