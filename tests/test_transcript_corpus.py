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
ALL = sorted(CORPUS.glob("*.md"))
ALL = [p for p in ALL if p.name != "README.md"]
# Judgement calls the parser answers differently (README.md): NPR's full name once and
# the surname after it, a Japanese interview in 「」 and ―― style. They count in the
# overall figure, not file by file.
OPEN = {"b08-npr-caps-with-role", "b15-ja-interview-dash-and-kagi"}
FILES = [p for p in ALL if p.stem not in OPEN]


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
    for path in ALL:
        parsed, answer = load(path)
        expected = [t for t in answer["turns"] if t[0] is not None]
        right += matched(expected, [(t.speaker, t.text) for t in parsed.turns])
        total += len(expected)
    assert total > 500 and right / total >= 0.95
