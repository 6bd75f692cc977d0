"""The CLI fixes glibc's mmap threshold so a long render's memory stays flat
(the figures are in benchmarks/run.py's memory rows)."""

from __future__ import annotations

import sys

import pytest
from click.testing import CliRunner

from audio_pipeline.cli import heap, main


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_threshold_is_set_on_glibc() -> None:
    assert heap.steady_heap() is True


def test_every_command_sets_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import audio_pipeline.cli as cli

    calls: list[bool] = []
    monkeypatch.setattr(cli, "steady_heap", lambda: calls.append(True) or True)
    result = CliRunner().invoke(main, ["parse", "--json", "/nonexistent.md"])
    assert result.exit_code != 0 and calls == [True]  # set before the command runs


def test_elsewhere_nothing_happens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    assert heap.steady_heap() is False
