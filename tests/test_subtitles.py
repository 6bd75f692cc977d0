from __future__ import annotations

from pathlib import Path

import pytest

from audio_pipeline.export.subtitles import (
    Cue,
    format_timestamp,
    to_srt,
    to_vtt,
    write_srt,
    write_vtt,
)


@pytest.mark.parametrize(
    ("ms", "vtt", "srt"),
    [
        (0, "00:00:00.000", "00:00:00,000"),
        (1, "00:00:00.001", "00:00:00,001"),
        (999, "00:00:00.999", "00:00:00,999"),
        (61_001, "00:01:01.001", "00:01:01,001"),
        (3_599_999, "00:59:59.999", "00:59:59,999"),
        (3_600_000, "01:00:00.000", "01:00:00,000"),
        (5_025_678, "01:23:45.678", "01:23:45,678"),
        (36_000_000 + 5, "10:00:00.005", "10:00:00,005"),
        (360_000_000, "100:00:00.000", "100:00:00,000"),
    ],
)
def test_timestamps(ms: int, vtt: str, srt: str) -> None:
    assert format_timestamp(ms) == vtt
    assert format_timestamp(ms, ",") == srt


def test_negative_timestamp_refused() -> None:
    with pytest.raises(ValueError):
        format_timestamp(-1)


@pytest.mark.parametrize(
    ("cue", "vtt_body", "srt_body"),
    [
        (Cue(0, 1500, "罗永浩", "你好。"), "<v 罗永浩>你好。", "罗永浩: 你好。"),
        (Cue(0, 1500, None, "旁白。"), "旁白。", "旁白。"),
        (Cue(0, 1500, "A", "x < y && y > z"), "<v A>x &lt; y &amp;&amp; y &gt; z", "A: x < y && y > z"),
        (Cue(0, 1500, "A", "a --> b"), "<v A>a --&gt; b", "A: a --> b"),
        (Cue(0, 1500, "<Tom & Jerry>", "hi"), "<v &lt;Tom &amp; Jerry&gt;>hi", "<Tom & Jerry>: hi"),
        (Cue(0, 1500, "闫 俊杰 ", "x"), "<v 闫 俊杰>x", "闫 俊杰: x"),
        (Cue(0, 1500, "A", "line one\n\n\nline two\r\n"), "<v A>line one\nline two", "A: line one\nline two"),
        (Cue(0, 1500, "", "empty speaker"), "empty speaker", "empty speaker"),
    ],
)
def test_cue_bodies(cue: Cue, vtt_body: str, srt_body: str) -> None:
    vtt = to_vtt([cue])
    assert vtt == f"WEBVTT\n\n00:00:00.000 --> 00:00:01.500\n{vtt_body}\n"
    srt = to_srt([cue])
    assert srt == f"1\n00:00:00,000 --> 00:00:01,500\n{srt_body}\n"


def test_whole_documents() -> None:
    cues = [
        Cue(0, 2_000, "罗永浩", "我们开始吧。"),
        Cue(2_000, 4_500, "闫俊杰", "好的。"),
        Cue(3_723_004, 3_725_000, None, "（完）"),
    ]
    assert to_vtt(cues) == (
        "WEBVTT\n"
        "\n"
        "00:00:00.000 --> 00:00:02.000\n"
        "<v 罗永浩>我们开始吧。\n"
        "\n"
        "00:00:02.000 --> 00:00:04.500\n"
        "<v 闫俊杰>好的。\n"
        "\n"
        "01:02:03.004 --> 01:02:05.000\n"
        "（完）\n"
    )
    assert to_srt(cues) == (
        "1\n"
        "00:00:00,000 --> 00:00:02,000\n"
        "罗永浩: 我们开始吧。\n"
        "\n"
        "2\n"
        "00:00:02,000 --> 00:00:04,500\n"
        "闫俊杰: 好的。\n"
        "\n"
        "3\n"
        "01:02:03,004 --> 01:02:05,000\n"
        "（完）\n"
    )
    assert to_srt(cues, speaker_sep="：").splitlines()[2] == "罗永浩：我们开始吧。"


def test_empty() -> None:
    assert to_vtt([]) == "WEBVTT\n"
    assert to_srt([]) == ""


@pytest.mark.parametrize(
    "cues",
    [
        [Cue(500, 400, None, "ends before it starts")],
        [Cue(-1, 400, None, "negative")],
        [Cue(1000, 2000, None, "b"), Cue(500, 900, None, "a")],
    ],
)
def test_bad_cues_refused(cues: list[Cue]) -> None:
    with pytest.raises(ValueError):
        to_vtt(cues)
    with pytest.raises(ValueError):
        to_srt(cues)


def test_write_files_atomically(tmp_path: Path) -> None:
    cues = [Cue(0, 1000, "罗永浩", "你好 & 再见")]
    vtt, srt = tmp_path / "out" / "a.vtt", tmp_path / "out" / "a.srt"
    write_vtt(cues, vtt)
    write_srt(cues, srt)
    assert vtt.read_bytes() == to_vtt(cues).encode("utf-8")
    assert srt.read_bytes() == to_srt(cues).encode("utf-8")
    assert not vtt.read_bytes().startswith(b"\xef\xbb\xbf")
    assert sorted(p.name for p in vtt.parent.iterdir()) == ["a.srt", "a.vtt"]
    with pytest.raises(ValueError):
        write_vtt([Cue(5, 1, None, "bad")], vtt)
    assert vtt.read_bytes() == to_vtt(cues).encode("utf-8")
    assert sorted(p.name for p in vtt.parent.iterdir()) == ["a.srt", "a.vtt"]
