"""The M4B written in Python, read back by ffmpeg (audio, chapters, tags) and mutagen."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import mutagen.mp4
import numpy as np
import pytest

from audio_pipeline.media import aac, adts, codec, ffmpeg
from audio_pipeline.media.types import EncodeError
from audio_pipeline.model import Chapter
from tests.test_ffmpeg import AAC_FRAME, SR, assert_joined_at, chunked, decodes_cleanly, no_temp_files, tone


def ffmpeg_chapters(path: Path) -> list[tuple[int, int, str]]:
    """Chapters as ffmpeg's MP4 reader sees them (it prefers the QuickTime chapter track)."""
    text = subprocess.run(
        [ffmpeg.ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "ffmetadata", "-"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    found = []
    for block in text.split("[CHAPTER]")[1:]:
        fields = dict(line.split("=", 1) for line in block.strip().splitlines() if "=" in line)
        num, den = (int(x) for x in fields["TIMEBASE"].split("/"))
        found.append((round(int(fields["START"]) * 1000 * num / den), round(int(fields["END"]) * 1000 * num / den),
                      fields["title"]))  # fmt: skip
    return found


def top_level_boxes(path: Path) -> list[bytes]:
    data = path.read_bytes()
    kinds, pos = [], 0
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos : pos + 4], "big")
        if size == 1:
            size = int.from_bytes(data[pos + 8 : pos + 16], "big")
        kinds.append(data[pos + 4 : pos + 8])
        assert size >= 8
        pos += size
    assert pos == len(data)
    return kinds


def _pieces(folder: Path, count: int = 6) -> list[Path]:
    pieces = []
    for i in range(count):
        burst = np.frombuffer(tone(0.6 + 0.23 * i, 300 + 50 * i, amp=12000), "<i2")
        pcm = np.concatenate([burst, np.zeros(SR // 4 + 137 * i, dtype=np.int16)])
        # Half the pieces end on a frame boundary (trailing silence dropped), half do not.
        aligned = len(pcm) - len(pcm) % AAC_FRAME if i % 2 else None
        path = folder / f"p{i}.aac"
        codec.encode_pair(chunked(pcm.tobytes()), SR, None, path, aac_samples=aligned)
        pieces.append(path)
    return pieces


def test_concat_adts_timeline(tmp_path: Path) -> None:
    pieces = _pieces(tmp_path)
    layout = adts.adts_layout(pieces)
    # Frame counts recorded when the pieces were written give the same layout.
    counts = [adts.adts_frames(p)[0] for p in pieces]
    assert adts.adts_layout(pieces, [None if i % 2 else n for i, n in enumerate(counts)]) == layout
    assert adts.adts_layout(pieces, [n + 1 for n in counts]) != layout  # ...and are used
    with pytest.raises(ValueError):
        adts.adts_layout(pieces, counts[:-1])
    chapters = [
        Chapter(f"第{i}章", round(layout.starts_ms[i]) if i else 0,
                round(layout.starts_ms[i + 1]) if i + 1 < len(pieces) else round(layout.duration_ms))
        for i in range(len(pieces))
    ]  # fmt: skip
    out = tmp_path / "all.m4b"
    out.write_bytes(b"previous")
    assert aac.concat_adts(pieces, out, chapters=chapters, metadata={"title": "标题"}) == out
    assert no_temp_files(tmp_path)
    assert decodes_cleanly(out)
    # The edit list drops the first piece's priming only: length and starts are the layout's.
    assert len(layout.starts_ms) == len(pieces)
    assert_joined_at(out, layout.duration_ms, layout.starts_ms)
    mp4 = mutagen.mp4.MP4(out)  # type: ignore[no-untyped-call]
    assert mp4.tags is not None and mp4.tags["©nam"] == ["标题"]
    assert mp4.chapters is not None
    assert [(round(c.start * 1000), c.title) for c in mp4.chapters] == [(c.start_ms, c.title) for c in chapters]
    assert top_level_boxes(out) == [b"ftyp", b"moov", b"mdat"]  # streamable: moov first
    assert ffmpeg_chapters(out) == [(c.start_ms, c.end_ms, c.title) for c in chapters]
    again = aac.concat_adts(pieces, tmp_path / "again.m4b", chapters=chapters, metadata={"title": "标题"})
    assert again.read_bytes() == out.read_bytes()


def test_concat_adts_refuses_mixed_inputs(tmp_path: Path) -> None:
    a, b = tmp_path / "a.aac", tmp_path / "b.aac"
    codec.encode_pair(chunked(tone(1.0, 440)), SR, None, a)
    codec.encode_pair(chunked(tone(1.0, 440, sr=16000)), 16000, None, b)
    with pytest.raises(EncodeError, match="sample rate"):
        adts.adts_layout([a, b])
    with pytest.raises(EncodeError, match="sample rate"):
        adts.adts_layout([a, b], [adts.adts_frames(a)[0], adts.adts_frames(b)[0]])
    bad = tmp_path / "bad.aac"
    bad.write_bytes(b"not adts at all")
    with pytest.raises(EncodeError, match="ADTS"):
        adts.adts_frames(bad)
    with pytest.raises(EncodeError, match="ADTS"):
        aac.concat_adts([bad], tmp_path / "x.m4b")
    assert not (tmp_path / "x.m4b").exists()


def test_chapters_as_ffmpeg_reads_them(tmp_path: Path) -> None:
    """Regression: ffmpeg's own muxer, given the priming as -itsoffset, wrote a chapter
    track holding two wrong chapters, which ffmpeg (and Apple's players) then showed."""
    pieces = _pieces(tmp_path, count=5)
    layout = adts.adts_layout(pieces)
    ends = [round(s) for s in layout.starts_ms[1:]] + [round(layout.duration_ms)]
    chapters = [Chapter(f"第{i + 1}章：“引号”, & <标记>", round(layout.starts_ms[i]) if i else 0, ends[i])
                for i in range(len(pieces))]  # fmt: skip
    out = aac.concat_adts(pieces, tmp_path / "all.m4b", chapters=chapters, metadata={"title": "t", "artist": "甲"})
    assert ffmpeg_chapters(out) == [(c.start_ms, c.end_ms, c.title) for c in chapters]
    # Without chapters: no chapter track, no chapter list, still a valid file.
    plain = aac.concat_adts(pieces, tmp_path / "plain.m4b")
    assert ffmpeg_chapters(plain) == []
    assert not mutagen.mp4.MP4(plain).chapters  # type: ignore[no-untyped-call]
    assert len(codec.decode(plain).raw_data) == len(codec.decode(out).raw_data)


def test_tags_and_stream_info(tmp_path: Path) -> None:
    pieces = _pieces(tmp_path, count=3)
    meta = {"title": "罗永浩对谈", "album": "专辑", "artist": "甲 / 乙", "date": "2025-12-28", "genre": "Podcast"}
    out = aac.concat_adts(pieces, tmp_path / "all.m4b", metadata=meta)
    mp4 = mutagen.mp4.MP4(out)  # type: ignore[no-untyped-call]
    assert mp4.tags is not None
    assert {k: mp4.tags[k] for k in ("©nam", "©alb", "©ART", "©day", "©gen")} == {
        "©nam": ["罗永浩对谈"], "©alb": ["专辑"], "©ART": ["甲 / 乙"], "©day": ["2025-12-28"], "©gen": ["Podcast"],
    }  # fmt: skip
    assert mp4.info.sample_rate == SR and mp4.info.channels == 1
    assert mp4.info.codec == "mp4a.40.2"  # AAC-LC, from the decoder config written here
    assert 20_000 < mp4.info.bitrate < 100_000
    probe = subprocess.run([ffmpeg.ffmpeg_exe(), "-i", str(out)], capture_output=True, text=True).stderr
    assert re.search(r"Audio: aac \(LC\).*24000 Hz, mono", probe)
    with pytest.raises(ValueError, match="unsupported metadata key"):
        aac.concat_adts(pieces, tmp_path / "x.m4b", metadata={"composer": "x"})


def test_cut_piece_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    pieces = _pieces(tmp_path, count=2)
    data = pieces[1].read_bytes()
    pieces[1].write_bytes(data[:-20])
    with pytest.raises(EncodeError, match=r"p1\.aac: the last ADTS frame is cut short"):
        aac.concat_adts(pieces, tmp_path / "all.m4b")
    second = 7 + int(adts._parse(pieces[1], data).sizes[0])  # the second frame's header
    pieces[1].write_bytes(data[:second] + b"\0" * 7 + data[second + 7 :])
    with pytest.raises(EncodeError, match=rf"p1\.aac: not an ADTS frame of the same stream at byte {second}"):
        adts.adts_frames(pieces[1])
    assert not (tmp_path / "all.m4b").exists()
    assert no_temp_files(tmp_path)


def test_overlapping_chapters_are_refused(tmp_path: Path) -> None:
    pieces = _pieces(tmp_path, count=1)
    with pytest.raises(ValueError, match="overlap"):
        aac.concat_adts(pieces, tmp_path / "x.m4b", chapters=[Chapter("a", 0, 500), Chapter("b", 400, 600)])


def test_many_chapters_and_recorded_frame_counts(tmp_path: Path) -> None:
    pieces = _pieces(tmp_path, count=2)
    layout = adts.adts_layout(pieces)
    total = round(layout.duration_ms)
    chapters = [Chapter(f"第{i}节" * 60, i * total // 300, (i + 1) * total // 300) for i in range(300)]
    out = aac.concat_adts(pieces, tmp_path / "many.m4a", chapters=chapters)
    # The chapter track holds all 300; the Nero list its first 255 (titles cut to 255 bytes, whole characters).
    assert [t for _, _, t in ffmpeg_chapters(out)] == [c.title for c in chapters]
    nero = mutagen.mp4.MP4(out).chapters  # type: ignore[no-untyped-call]
    assert nero is not None and len(nero) == 255
    assert nero[7].title == chapters[7].title.encode()[:255].decode("utf-8", "ignore")
    assert out.read_bytes()[8:12] == b"M4A "  # the brand follows the name
    counts = [adts.adts_frames(p)[0] for p in pieces]
    aac.concat_adts(pieces, tmp_path / "ok.m4b", frames=counts)
    with pytest.raises(EncodeError, match=r"p1\.aac: \d+ AAC frames, not the \d+ recorded for it"):
        aac.concat_adts(pieces, tmp_path / "bad.m4b", frames=[counts[0], counts[1] + 1])
    assert not (tmp_path / "bad.m4b").exists()


def test_scans_are_remembered_per_file_version(tmp_path: Path) -> None:
    first, second = _pieces(tmp_path, count=2)
    scan = adts.scan(first)
    assert adts.scan(first) is scan  # remembered
    assert not scan.sizes.flags.writeable  # shared, so read-only
    second.replace(first)  # another file under the same name: scanned again
    assert adts.scan(first) is not scan
    assert len(adts.scan(first).sizes) == adts.adts_frames(first)[0]
