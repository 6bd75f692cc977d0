"""End to end with real engines on a short transcript: kokoro (the default) and espeak."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from mutagen.id3 import ID3

from audio_pipeline.cli import main
from audio_pipeline.media import codec

from .conftest import VOICES

SHORT = """---
title: 短访谈
created: 2025-12-28
---
## 一、开始

**罗永浩**：OpenAI的GPT-3.5发布了。

**闫俊杰**：MiniMax也很快跟上。
"""


@pytest.mark.parametrize("engine", ["kokoro", "espeak"])
def test_short_transcript_end_to_end(engine: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("voices.yaml").write_text(VOICES.read_text("utf-8"), "utf-8")
    Path("short.md").write_text(SHORT, "utf-8")
    result = CliRunner().invoke(main, ["render", "short.md", "--engine", engine])
    assert result.exit_code == 0, result.output
    out = tmp_path / "output" / "short"
    manifest = json.loads((out / "manifest.json").read_text("utf-8"))
    assert manifest["engine"] == engine
    episode = manifest["sections"][0]
    audio = out / episode["audio"]
    decoded = codec.decode(audio)
    assert abs(len(decoded) - episode["duration_ms"]) < 80
    # Real speech: at least ~1 s per turn, and loud where the turns are.
    speakers = [t for t in episode["turns"] if t["speaker"]]
    assert [t["speaker"] for t in speakers] == ["罗永浩", "闫俊杰"]
    for turn in speakers:
        assert turn["end_ms"] - turn["start_ms"] > 1000
        assert decoded[turn["start_ms"] : turn["end_ms"]].dBFS > -35
    level = codec.loudness(out / manifest["whole"]["m4b"])
    assert abs(level.integrated_lufs + 16) <= 1.0 and level.true_peak_dbtp <= -1.0
    assert str(ID3(audio)["TIT2"]) == "一、开始"
