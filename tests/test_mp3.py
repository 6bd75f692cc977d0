"""The MP3 join in Python, checked against ffmpeg: decoded back, and compared field by
field with the Info frame ffmpeg's own muxer writes for the same frames."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import mutagen.id3
import numpy as np
import pytest

from audio_pipeline.export.tags import id3_bytes
from audio_pipeline.media import codec, ffmpeg, mp3
from audio_pipeline.media.types import EncodeError
from audio_pipeline.model import Chapter
from tests.test_ffmpeg import SR, assert_joined_at, chunked, decodes_cleanly, no_temp_files, samples, tone


def _parts(folder: Path, count: int = 4, rate: int = SR, seconds: float = 0.8) -> list[Path]:
    return [
        codec.encode_mp3(chunked(tone(seconds + 0.3 * i, 300 + 90 * i, amp=9000, sr=rate)), rate, folder / f"p{i}.mp3")
        for i in range(count)
    ]


# --------------------------------------------------------------------------- CRC


@pytest.mark.parametrize("split", [0, 1, 7, 190, 4096])
def test_crc16_combine_equals_crc_of_joined_bytes(split: int) -> None:
    data = np.random.default_rng(split).integers(0, 256, 5000, dtype=np.uint8).tobytes()
    a, b = data[:split], data[split:]
    assert mp3.crc16_combine(mp3.crc16(a), mp3.crc16(b), len(b)) == mp3.crc16(data)
    assert mp3.crc16(b, mp3.crc16(a)) == mp3.crc16(data)


def test_crc16_is_crc16_arc() -> None:
    assert mp3.crc16(b"123456789") == 0xBB3D  # the catalogue check value of CRC-16/ARC


# --------------------------------------------------------------------------- against ffmpeg


def _xing_fields(path: Path) -> dict[str, object]:
    frame = mp3._info_frame(path)
    data = path.read_bytes()
    x = frame.xing
    assert frame.lame is not None
    lame = frame.lame
    return {
        "flags": frame.flags,
        "frames": int.from_bytes(data[x + 8 : x + 12], "big"),
        "bytes": int.from_bytes(data[x + 12 : x + 16], "big"),
        "toc": data[x + 16 : x + 116],
        "music_length": int.from_bytes(data[lame + 28 : lame + 32], "big"),
        "music_crc": int.from_bytes(data[lame + 32 : lame + 34], "big"),
        "audio": data[frame.end :],
        "frame_size": frame.end - frame.start,
    }


def _ffmpeg_join(parts: list[Path], out: Path) -> None:
    """ffmpeg's own join of the same frames: the first file's Info frame and every
    file's audio frames on a pipe (its concat demuxer drops frames at the joins),
    stream-copied by its MP3 muxer, which writes a fresh Xing frame."""
    stream = b""
    for i, part in enumerate(parts):
        frame = mp3._info_frame(part)
        stream += part.read_bytes()[frame.start if i == 0 else frame.end :]
    subprocess.run(
        [ffmpeg.ffmpeg_exe(), "-v", "error", "-f", "mp3", "-i", "pipe:0", "-c", "copy",
         "-fflags", "+bitexact", "-flags:a", "+bitexact", "-write_xing", "1", "-id3v2_version", "0",
         "-f", "mp3", "-y", str(out)],
        input=stream,
        check=True,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("rate", "seconds"),
    [
        (24000, 0.8),  # fewer than 400 frames: one seek-table sample per frame
        (22050, 0.8),  # frames vary in size (the padding bit)
        (24000, 6.0),  # ~1700 frames: the table has been halved twice
    ],
)
def test_join_matches_ffmpegs_own_info_frame(tmp_path: Path, rate: int, seconds: float) -> None:
    parts = _parts(tmp_path, count=6, rate=rate, seconds=seconds)
    ours, theirs = tmp_path / "ours.mp3", tmp_path / "theirs.mp3"
    mp3.concat_copy(parts, ours)
    _ffmpeg_join(parts, theirs)
    a, b = _xing_fields(ours), _xing_fields(theirs)
    assert a["audio"] == b["audio"]  # the very same frames, in order
    assert a == b  # counts, seek table, music length and CRC as ffmpeg writes them
    # The LAME tag's own checksum is right, and the music CRC is the CRC of the frames.
    data = ours.read_bytes()
    frame = mp3._info_frame(ours)
    assert frame.lame is not None
    head = bytearray(data[frame.start : frame.start + 190])
    at = frame.lame - frame.start + 34
    tag_crc = int.from_bytes(head[at : at + 2], "big")
    head[at : at + 2] = b"\0\0"
    assert tag_crc == mp3.crc16(bytes(head))
    assert a["music_crc"] == mp3.crc16(data[frame.end :])
    assert decodes_cleanly(ours)


def test_join_without_stored_crcs_computes_them(tmp_path: Path) -> None:
    parts = _parts(tmp_path)
    reference = mp3.concat_copy(parts, tmp_path / "ref.mp3")
    for part in parts:  # as if another encoder wrote them: no usable music length/CRC
        frame = mp3._info_frame(part)
        assert frame.lame is not None
        with part.open("r+b") as fh:
            fh.seek(frame.lame + 28)
            fh.write(bytes(6))
        assert mp3._stored_crc(part, frame, part.stat().st_size - frame.end) is None
    mp3._scan.cache_clear()  # the edits above may share the earlier scans' mtime tick
    again = mp3.concat_copy(parts, tmp_path / "again.mp3")
    assert again == reference
    assert _xing_fields(tmp_path / "again.mp3")["music_crc"] == _xing_fields(tmp_path / "ref.mp3")["music_crc"]


def test_join_refuses_a_cut_frame_and_keeps_the_old_output(tmp_path: Path) -> None:
    parts = _parts(tmp_path, count=2)
    out = tmp_path / "all.mp3"
    out.write_bytes(b"previous")
    with parts[1].open("r+b") as fh:
        fh.truncate(os.path.getsize(parts[1]) - 50)
    with pytest.raises(EncodeError, match=r"p1\.mp3: the last MP3 frame is cut short"):
        mp3.concat_copy(parts, out)
    assert out.read_bytes() == b"previous"
    assert no_temp_files(tmp_path)


def test_head_goes_in_front_and_reads_back(tmp_path: Path) -> None:
    parts = _parts(tmp_path, count=3)
    layout = mp3.concat_layout(parts)
    starts = [round(s) for s in layout.starts_ms]
    chapters = [
        Chapter(f"第{i + 1}章", 0 if i == 0 else starts[i], starts[i + 1] if i + 1 < 3 else round(layout.duration_ms))
        for i in range(3)
    ]
    head = id3_bytes(title="全集", album="专辑", artist="甲 / 乙", chapters=chapters)
    joined = mp3.concat_copy(parts, tmp_path / "all.mp3", head=head)
    assert joined == layout
    tags = mutagen.id3.ID3(tmp_path / "all.mp3")
    assert tags.version == (2, 3, 0)
    assert str(tags["TIT2"]) == "全集"
    assert [(c.start_time, c.end_time, str(c.sub_frames["TIT2"])) for c in tags.getall("CHAP")] == [
        (c.start_ms, c.end_ms, c.title) for c in chapters
    ]
    assert samples(tmp_path / "all.mp3") == round(joined.duration_ms * SR / 1000)


def test_concat_copy_timeline(tmp_path: Path) -> None:
    durations = [1.0 + 0.37 * i for i in range(10)]
    parts = []
    for i, seconds in enumerate(durations):
        pcm = tone(seconds, 300 + 50 * i, amp=12000)
        parts.append(codec.encode_mp3(chunked(pcm), SR, tmp_path / f"p{i:02d}.mp3"))
    out = tmp_path / "all.mp3"
    out.write_bytes(b"previous")
    result = mp3.concat_copy(parts, out)
    assert no_temp_files(tmp_path)

    # Decodes cleanly: ffmpeg reports nothing at -loglevel error.
    assert decodes_cleanly(out)
    # Its length and each input's start are what concat_copy says.
    assert len(result.starts_ms) == len(parts)
    assert_joined_at(out, result.duration_ms, result.starts_ms)

    # The joined file is longer than the parts: each join adds padding + delay.
    parts_ms = sum(seconds * 1000 for seconds in durations)
    drift = result.duration_ms - parts_ms
    assert 9 * 30 < drift < 9 * 80
    naive = np.cumsum([0.0] + [s * 1000 for s in durations[:-1]])
    assert result.starts_ms[-1] - naive[-1] == pytest.approx(drift, abs=50)


def test_concat_copy_refuses_mixed_inputs(tmp_path: Path) -> None:
    a = codec.encode_mp3(chunked(tone(1.0, 440)), SR, tmp_path / "a.mp3")
    b = codec.encode_mp3(chunked(tone(1.0, 440)), SR, tmp_path / "b.mp3", out_rate=44100)
    with pytest.raises(EncodeError, match="sample rate"):
        mp3.concat_copy([a, b], tmp_path / "ab.mp3")
    with pytest.raises(ValueError):
        mp3.concat_copy([a, tmp_path / "c.m4a"], tmp_path / "ac.mp3")
    assert not (tmp_path / "ab.mp3").exists()


def test_concat_copy_takes_tagged_inputs_and_last_padding(tmp_path: Path) -> None:
    from audio_pipeline.export.tags import write_id3

    parts = [
        codec.encode_mp3(chunked(tone(0.8 + 0.3 * i, 300 + 90 * i, amp=9000)), SR, tmp_path / f"p{i}.mp3")
        for i in range(4)
    ]
    plain = mp3.concat_copy(parts, tmp_path / "plain.mp3")
    for i, part in enumerate(parts):  # episode MP3s arrive tagged, with chapters
        write_id3(part, title=f"第{i}段", album="a", artist="b", track=(i + 1, 4), date=None,
                  chapters=[Chapter("一", 0, 300)])  # fmt: skip
    tagged = mp3.concat_copy(parts, tmp_path / "tagged.mp3")
    assert tagged == plain
    assert (tmp_path / "tagged.mp3").read_bytes() == (tmp_path / "plain.mp3").read_bytes()
    infos = [mp3.mp3_frame_info(p) for p in parts]
    joined = mp3.mp3_frame_info(tmp_path / "plain.mp3")
    assert joined.frames == sum(i.frames for i in infos)
    assert (joined.encoder_delay, joined.padding) == (infos[0].encoder_delay, infos[-1].padding)
    assert samples(tmp_path / "plain.mp3") == round(plain.duration_ms * SR / 1000)


def test_mpeg1_stereo_files_join_like_ffmpeg(tmp_path: Path) -> None:
    """44.1 kHz stereo: the LAME tag's checksum sits at bytes 190-191 of the Info frame."""
    parts = []
    for i in range(3):
        path = tmp_path / f"s{i}.mp3"
        subprocess.run(
            [ffmpeg.ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", f"sine=frequency={300 + 100 * i}:duration=1.5",
             "-ac", "2", "-ar", "44100", "-c:a", "libmp3lame", "-b:a", "128k", "-write_xing", "1",
             "-fflags", "+bitexact", "-flags:a", "+bitexact", "-y", str(path)],
            check=True,
        )  # fmt: skip
        parts.append(path)
    ours, theirs = tmp_path / "ours.mp3", tmp_path / "theirs.mp3"
    joined = mp3.concat_copy(parts, ours)
    _ffmpeg_join(parts, theirs)
    assert _xing_fields(ours) == _xing_fields(theirs)
    assert decodes_cleanly(ours)
    assert len(codec.decode(ours).raw_data) // 2 == round(joined.duration_ms * 44100 / 1000)


def test_a_broken_join_would_be_noticed(tmp_path: Path) -> None:
    """The clean-decode check the tests rely on does fail on a damaged file."""
    parts = _parts(tmp_path, count=2)
    out = tmp_path / "all.mp3"
    mp3.concat_copy(parts, out)
    data = bytearray(out.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 600] = bytes(600)
    out.write_bytes(bytes(data))
    assert not decodes_cleanly(out)


def test_frame_count_must_match_the_info_frame(tmp_path: Path) -> None:
    part = _parts(tmp_path, count=1)[0]
    frame = mp3._info_frame(part)
    data = bytearray(part.read_bytes())
    count = int.from_bytes(data[frame.xing + 8 : frame.xing + 12], "big")
    data[frame.xing + 8 : frame.xing + 12] = (count + 3).to_bytes(4, "big")
    part.write_bytes(bytes(data))
    with pytest.raises(EncodeError, match=r"p0\.mp3: \d+ audio frames, but its Info frame says \d+"):
        mp3.concat_copy([part], tmp_path / "x.mp3")
