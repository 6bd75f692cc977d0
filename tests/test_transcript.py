from __future__ import annotations

import json
from pathlib import Path

import pytest

from audio_pipeline import transcript
from audio_pipeline.errors import TranscriptError

from .conftest import ROOT, SEED


def speakers_and_texts(text: str, known: tuple[str, ...] = ()) -> list[tuple[str | None, str]]:
    parsed = transcript.parse(text, "t.md", known)
    return [(t.speaker, t.text) for t in parsed.turns]


def test_seed_matches_golden() -> None:
    golden = json.loads((ROOT / "tests" / "golden" / "luo-yonghao-yan-junjie.json").read_text("utf-8"))
    parsed = transcript.read(SEED)
    assert transcript.to_json(parsed) | {"meta": golden["meta"]} == golden
    assert parsed.meta["created"] == "2025-12-28"


def test_seed_shape() -> None:
    parsed = transcript.read(SEED)
    assert parsed.title == "罗永浩对谈MiniMax闫俊杰"
    assert len(parsed.sections) == 28
    counts: dict[str | None, int] = {}
    for turn in parsed.turns:
        counts[turn.speaker] = counts.get(turn.speaker, 0) + 1
    assert counts["罗永浩"] == 81 and counts["闫俊杰"] == 77
    assert counts[None] == 2  # section 1's opening and section 22's
    assert parsed.sections[0].title == "一、全模态突破：中国AI创业公司的差异化路径"
    assert parsed.sections[16].title == "十七、企业服务版图：从语音到智能代理的进化"
    assert parsed.sections[21].turns[0].speaker is None
    # Consecutive speaker lines with no blank line between (around line 88).
    lines = {t.line: t for t in parsed.turns}
    assert lines[86].speaker == "罗永浩" and lines[87].speaker == "闫俊杰"
    for turn in parsed.turns:
        assert "**" not in turn.text and "\u00a0" not in turn.text


def test_bold_line_inside_turn_is_emphasis() -> None:
    parsed = transcript.read(SEED)
    turn = next(t for t in parsed.turns if "想象力和自信" in t.text)
    assert turn.speaker == "闫俊杰"
    assert "想象力和自信" in turn.paragraphs


def test_turn_lines_point_at_markers() -> None:
    lines = SEED.read_text("utf-8").splitlines()
    for turn in transcript.read(SEED).turns:
        if turn.speaker:
            assert turn.speaker in lines[turn.line - 1]


@pytest.mark.parametrize(
    "line",
    [
        "**Alice**：Hello there.",
        "**Alice**: Hello there.",
        "**Alice：**Hello there.",
        "**Alice:** Hello there.",
        "**Alice** [00:12:34]: Hello there.",
        "**Alice** (00:12:34)： Hello there.",
        "[00:12:34] **Alice:** Hello there.",
        "**Alice:** [00:12:34] Hello there.",
        "- **Alice:** Hello there.",
        "> **Alice:** Hello there.",
    ],
)
def test_bold_marker_styles(line: str) -> None:
    assert speakers_and_texts(f"## S\n\n{line}\n") == [("Alice", "Hello there.")]


@pytest.mark.parametrize(
    ("text", "known", "expected"),
    [
        # Plain "Name:" counts when the name is bold elsewhere in the file ...
        ("**Bob:** Hi.\n\nAlice: Hello.\n\nBob: Bye.\n", (), [("Bob", "Hi.\nAlice: Hello."), ("Bob", "Bye.")]),
        # ... or known from voices.yaml.
        ("Alice: Hello.\nBob：你好。\n", ("Alice", "Bob"), [("Alice", "Hello."), ("Bob", "你好。")]),
        # Unknown plain names are just text.
        ("Note: this is narration.\n", (), [(None, "Note: this is narration.")]),
    ],
)
def test_plain_markers(text: str, known: tuple[str, ...], expected: list[tuple[str | None, str]]) -> None:
    assert speakers_and_texts(text, known) == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # A turn goes on over later paragraphs.
        ("**A:** one\n\ntwo\n\n**B:** three", [("A", "one\ntwo"), ("B", "three")]),
        # Consecutive markers without a blank line.
        ("**A:** one\n**B:** two", [("A", "one"), ("B", "two")]),
        # Bold sentence inside a turn (no colon) is emphasis.
        ("**A:** one\n\n**Important point**\n\nmore", [("A", "one\nImportant point\nmore")]),
        # Bold run with sentence punctuation before a colon is not a name.
        ("**A:** x\n\n**This is it, really:** yes", [("A", "x\nThis is it, really: yes")]),
        # Too long for a name.
        ("**A:** x\n\n**" + "n" * 41 + ":** y", [("A", "x\n" + "n" * 41 + ": y")]),
        # Emphasis spanning two lines.
        ("**A:** 开始**强调\n继续**结束", [("A", "开始强调继续结束")]),
        # Text before the first marker is narration.
        ("Intro text.\n\n**A:** hi", [(None, "Intro text."), ("A", "hi")]),
        # Whitespace-only and NBSP-only lines are blank.
        ("**A:** one\n \u00a0 \ntwo", [("A", "one\ntwo")]),
        # Markdown cleanup.
        ("**A:** see [the site](http://x.y) and ![img](a.png) `code` *it*[^1]", [("A", "see the site and code it")]),
        ("**A:** a <!-- hidden\nstill hidden --> b", [("A", "a b")]),
        (
            "**A:** x\n\n- item one\n- item two\n\n> quoted\n\n---\n\n[^1]: note",
            [("A", "x\nitem one\nitem two\nquoted")],
        ),
        ("**A:** Tom &amp; Jerry ~~gone~~", [("A", "Tom & Jerry gone")]),
        # Soft-wrapped English lines join with a space, Chinese without.
        ("**A:** hello\nworld\n\n中文\n接着", [("A", "hello world\n中文接着")]),
        # A deeper heading is read by the narrator and stays in the section.
        ("**A:** one\n\n### Sub part\n\ntext", [("A", "one"), (None, "Sub part\ntext")]),
        # Unspeakable paragraphs vanish.
        ("**A:** one\n\n……\n\n🙂", [("A", "one")]),
    ],
)
def test_quirks(body: str, expected: list[tuple[str | None, str]]) -> None:
    assert speakers_and_texts("## S\n\n" + body + "\n") == expected


def test_crlf_and_bom() -> None:
    text = "\ufeff---\r\ntitle: T\r\n---\r\n## S\r\n\r\n**A:** hi\r\n"
    parsed = transcript.parse(text, "x.md")
    assert parsed.title == "T"
    assert [(t.speaker, t.text, t.line) for t in parsed.turns] == [("A", "hi", 6)]


def test_title_fallbacks() -> None:
    assert transcript.parse("# Big Title\n\n## S\n\n**A:** hi\n", "x.md").title == "Big Title"
    assert transcript.parse("## S\n\n**A:** hi\n", "dir/my-talk.md").title == "my-talk"


def test_preamble_becomes_its_own_section() -> None:
    parsed = transcript.parse("---\ntitle: T\n---\nWelcome.\n\n## One\n\n**A:** hi\n", "x.md")
    assert [(s.index, s.title) for s in parsed.sections] == [(1, "T"), (2, "One")]
    assert parsed.sections[0].turns[0].speaker is None


def test_heading_emphasis_stripped_numbering_kept() -> None:
    parsed = transcript.parse("## **十七、标题**\n\n**A:** hi\n", "x.md")
    assert parsed.sections[0].title == "十七、标题"


@pytest.mark.parametrize(
    ("data", "line", "needle"),
    [
        (b"---\ntitle: x\n## S\n\n**A:** hi\n", 1, "never closed"),
        (b"---\ntitle: [x\n---\n**A:** hi\n", 2, "invalid YAML"),
        (b"---\ntitle: x\ntitle: y\n---\n**A:** hi\n", 3, "duplicate key"),
        (b"---\nx: !!python/object/apply:os.system [ls]\n---\n**A:** hi\n", 2, "not allowed"),
        (b"## S\n\n**A:** caf\xe9\n", 3, "not UTF-8"),
        (b"## S\n\x00\x01\x02\x00\x00\x00", 2, "binary"),
        (b"## Only a heading\n\n......\n", None, "nothing speakable"),
        (b"", None, "nothing speakable"),
    ],
)
def test_bad_transcripts(tmp_path: Path, data: bytes, line: int | None, needle: str) -> None:
    path = tmp_path / "bad.md"
    path.write_bytes(data)
    with pytest.raises(TranscriptError) as info:
        transcript.read(path)
    message = str(info.value)
    assert needle in message
    assert message.startswith(str(path) + (f":{line}:" if line else ":"))
    assert "\n" not in message
