# mypy: disable-error-code="no-untyped-call"
"""MP3 tags and chapters, read back with mutagen."""

from __future__ import annotations

import functools
from pathlib import Path

import mutagen.id3
import mutagen.mp3
import numpy as np
import pytest

from audio_pipeline.export.tags import TOC_ELEMENT_ID, TagError, id3_bytes, tag_mp3, write_id3
from audio_pipeline.media import codec
from audio_pipeline.media.mp3 import concat_copy, mp3_frame_info
from audio_pipeline.model import Chapter
from tests.readers import chap_starts, ffmpeg_chapters, id3_frames

SR = 24000

CHAPTERS = [
    Chapter("开场：罗永浩对谈闫俊杰", 0, 1200),
    Chapter("第二部分 — AI 与创业", 1200, 2500),
    Chapter("Ending & credits", 2500, 3000),
]


def read_chapters(path: Path) -> list[Chapter]:
    """Chapters in the order of the top-level CTOC, as a podcast app would list them."""
    tags = mutagen.id3.ID3(path)
    tocs = [f for f in tags.getall("CTOC") if f.flags & mutagen.id3.CTOCFlags.TOP_LEVEL]
    assert len(tocs) == 1
    chaps = {f.element_id: f for f in tags.getall("CHAP")}
    out = []
    for element_id in tocs[0].child_element_ids:
        chap = chaps[element_id]
        out.append(Chapter(str(chap.sub_frames["TIT2"]), chap.start_time, chap.end_time))
    return out


@functools.cache
def _pcm() -> bytes:
    t = np.arange(3 * SR) / SR
    return (6000 * np.sin(2 * np.pi * 330 * t)).astype("<i2").tobytes()


def make_mp3(path: Path) -> Path:
    return codec.encode_mp3(iter([_pcm()]), SR, path)


def test_tags_and_chapters_read_back(tmp_path: Path) -> None:
    mp3 = make_mp3(tmp_path / "a.mp3")
    tag_mp3(
        mp3,
        title="罗永浩对谈MiniMax闫俊杰",
        album="十字路口",
        artist="罗永浩; 闫俊杰",
        track=(3, 12),
        date="2025-12-28",
        chapters=CHAPTERS,
        comment="由 audio_pipeline 生成",
    )
    tags = mutagen.id3.ID3(mp3)
    assert tags.version == (2, 3, 0)
    assert str(tags["TIT2"]) == "罗永浩对谈MiniMax闫俊杰"
    assert str(tags["TALB"]) == "十字路口"
    assert str(tags["TPE1"]) == "罗永浩; 闫俊杰"
    assert str(tags["TRCK"]) == "3/12"
    assert str(tags["TDRC"]) == "2025-12-28"  # as readers see it...
    raw = mutagen.id3.ID3(mp3, translate=False)
    assert str(raw["TYER"]) == "2025"  # ...stored in v2.3 as TYER + TDAT (DDMM)
    assert str(raw["TDAT"]) == "2812"
    assert "TDRC" not in raw
    assert tags.getall("COMM")[0].text == ["由 audio_pipeline 生成"]
    assert read_chapters(mp3) == CHAPTERS

    toc = tags.getall("CTOC")[0]
    assert toc.element_id == TOC_ELEMENT_ID
    assert toc.flags == mutagen.id3.CTOCFlags.TOP_LEVEL | mutagen.id3.CTOCFlags.ORDERED
    assert toc.child_element_ids == ["chp0", "chp1", "chp2"]
    for chap in tags.getall("CHAP"):
        assert chap.start_offset == chap.end_offset == 0xFFFFFFFF
        assert chap.sub_frames["TIT2"].encoding == mutagen.id3.Encoding.UTF16

    # Still an MP3 whose audio and length a reader sees unchanged.
    audio = mutagen.mp3.MP3(mp3)
    assert audio.info is not None
    assert audio.info.length == pytest.approx(3.0, abs=0.05)
    assert codec.decode(mp3).raw_data == _pcm_decoded(tmp_path)


def _pcm_decoded(tmp_path: Path) -> bytes:
    return bytes(codec.decode(make_mp3(tmp_path / "plain.mp3")).raw_data)


def test_retag_replaces_everything_and_is_deterministic(tmp_path: Path) -> None:
    a = make_mp3(tmp_path / "a.mp3")
    b = make_mp3(tmp_path / "b.mp3")
    tag_mp3(a, title="old", album="x", artist="y", chapters=CHAPTERS, comment="old comment")
    tag_mp3(a, title="新", album="专辑", artist="人", track=None, date=None, chapters=CHAPTERS[:1])
    tag_mp3(b, title="新", album="专辑", artist="人", chapters=CHAPTERS[:1])
    assert a.read_bytes() == b.read_bytes()
    tags = mutagen.id3.ID3(a)
    assert sorted(tags.keys()) == ["CHAP:chp0", "CTOC:toc", "TALB", "TIT2", "TPE1"]
    assert read_chapters(a) == CHAPTERS[:1]
    assert a.read_bytes()[-128:-125] != b"TAG"  # no ID3v1


def test_no_chapters_means_no_chap_frames(tmp_path: Path) -> None:
    mp3 = make_mp3(tmp_path / "a.mp3")
    tag_mp3(mp3, title="t", album="a", artist="p")
    tags = mutagen.id3.ID3(mp3)
    assert tags.getall("CHAP") == [] and tags.getall("CTOC") == []


def test_tag_on_temp_file_while_encoding(tmp_path: Path) -> None:
    out = tmp_path / "a.mp3"
    codec.encode_mp3(
        iter([_pcm()]),
        SR,
        out,
        postprocess=functools.partial(write_id3, title="t", album="a", artist="p", chapters=CHAPTERS),
    )
    assert read_chapters(out) == CHAPTERS
    assert [p.name for p in tmp_path.iterdir()] == ["a.mp3"]


def test_concat_then_tag(tmp_path: Path) -> None:
    parts = [make_mp3(tmp_path / f"p{i}.mp3") for i in range(3)]
    result = concat_copy(parts, tmp_path / "all.mp3")
    starts = [round(s) for s in result.starts_ms]
    ends = [*starts[1:], round(result.duration_ms)]
    chapters = [Chapter(f"第{i + 1}节", s, e) for i, (s, e) in enumerate(zip(starts, ends, strict=True))]
    tag_mp3(tmp_path / "all.mp3", title="t", album="a", artist="p", chapters=chapters)
    assert read_chapters(tmp_path / "all.mp3") == chapters
    # mutagen only trusts LAME-branded gapless headers, so its length includes the
    # encoder delay and padding (~50 ms) that ffmpeg and players trim.
    info = mutagen.mp3.MP3(tmp_path / "all.mp3").info
    assert info is not None
    assert info.length == pytest.approx(result.duration_ms / 1000, abs=0.08)
    assert mp3_frame_info(tmp_path / "all.mp3").samples == round(result.duration_ms * SR / 1000)


def test_failures_leave_the_file_alone(tmp_path: Path) -> None:
    mp3 = make_mp3(tmp_path / "a.mp3")
    tag_mp3(mp3, title="t", album="a", artist="p")
    before = mp3.read_bytes()
    with pytest.raises(ValueError):
        tag_mp3(mp3, title="t", album="a", artist="p", track=(0, 3))
    with pytest.raises(ValueError):
        tag_mp3(mp3, title="t", album="a", artist="p", chapters=[CHAPTERS[1], CHAPTERS[0]])
    with pytest.raises(ValueError):
        Chapter("backwards", 500, 100)
    assert mp3.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["a.mp3"]
    with pytest.raises(TagError, match="no such file"):
        tag_mp3(tmp_path / "missing.mp3", title="t", album="a", artist="p")


def test_chap_frames_in_time_order_in_the_file(tmp_path: Path) -> None:
    # Titles of very different lengths: a writer that sorts frames by size (mutagen's
    # save) puts the long ones last, which file-order readers show as shuffled chapters.
    chapters = [
        Chapter("一、" + "长" * 40, 0, 500),
        Chapter("二", 500, 1000),
        Chapter("三、" + "中" * 10, 1000, 2000),
        Chapter("4", 2000, 3000),
    ]
    mp3 = make_mp3(tmp_path / "a.mp3")
    tag_mp3(mp3, title="t", album="a", artist="p", date="2025-01-02", chapters=chapters)
    ids = [frame_id for frame_id, _ in id3_frames(mp3)]
    assert ids.index("CTOC") < ids.index("CHAP")
    assert chap_starts(mp3) == [0, 500, 1000, 2000]
    listed = ffmpeg_chapters(mp3)
    assert [title for _s, _e, title in listed] == [c.title for c in chapters]
    assert [round(start * 1000) for start, _end, _title in listed] == [c.start_ms for c in chapters]
    head = id3_bytes(title="t", album="a", artist="p", date="2025-01-02", chapters=chapters)
    assert mp3.read_bytes()[: len(head)] == head
