"""The heard-text cache: one JSON file per clip key; a broken or foreign file is a miss."""

from __future__ import annotations

from pathlib import Path

from audio_pipeline.check.heard import ResultCache


def test_result_cache_roundtrip(tmp_path: Path) -> None:
    results = ResultCache(tmp_path)
    results.put("ab" * 32, "zh", "你好", 1.5)
    assert results.get("ab" * 32, "zh") == "你好"
    assert results.get("ab" * 32, "en") is None
    (tmp_path / "ab" / ("cd" * 32 + ".json")).write_text("{not json", "utf-8")
    assert results.get("cd" * 32, "zh") is None
    results.discard("ab" * 32)
    assert results.get("ab" * 32, "zh") is None
