"""Acceptance corpus: invented transcripts in the shapes of real public ones, each with an
answer written independently of the parser (tests/fixtures/transcripts/README.md)."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path
from typing import Any

import pytest

from audio_pipeline import transcript

CORPUS = Path(__file__).parent / "fixtures" / "transcripts"
FILES = sorted(CORPUS.glob("[0-9]*.md"))


def squash(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).split())


def matched(expected: list[list[Any]], parsed: list[tuple[str | None, str]]) -> int:
    """Expected turns found in order: same speaker, text starting with the expected start."""
    right, at = 0, 0
    for speaker, start in expected:
        for j in range(at, len(parsed)):
            if parsed[j][0] == speaker and squash(parsed[j][1]).startswith(squash(start)):
                right, at = right + 1, j + 1
                break
    return right


def load(path: Path) -> tuple[Any, dict[str, Any]]:
    answer = json.loads(path.with_name(path.stem + ".expected.json").read_text("utf-8"))
    return transcript.read(path), answer


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_corpus_file(path: Path) -> None:
    parsed, answer = load(path)
    turns = [(t.speaker, t.text) for t in parsed.turns]
    expected = [t for t in answer["turns"] if t[0] is not None]
    assert matched(expected, turns) == len(expected)
    assert [squash(s.title) for s in parsed.sections] == [squash(s) for s in answer["sections"]]
    spoken = [t.text for t in parsed.turns] + [s.title for s in parsed.sections] + [parsed.title]
    for never in answer["never_spoken"]:
        assert not [text for text in spoken if never in text], never
    for must in answer.get("must_speak", []):
        assert any(squash(must) in squash(t) for t in spoken), must


def test_corpus_attribution_overall() -> None:
    right = total = 0
    for path in FILES:
        parsed, answer = load(path)
        expected = [t for t in answer["turns"] if t[0] is not None]
        right += matched(expected, [(t.speaker, t.text) for t in parsed.turns])
        total += len(expected)
    assert total > 250 and right / total >= 0.95
