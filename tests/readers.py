"""Readers that are not the writer: a raw ID3v2 frame walk (file order, nothing
sorted) and ffmpeg's own chapter list (``-f ffmetadata``, in file order)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from audio_pipeline.media import ffmpeg


def id3_frames(path: Path) -> list[tuple[str, bytes]]:
    """(frame id, body) of every top-level frame of an ID3v2.3 tag, in file order."""
    data = path.read_bytes()
    assert data[:3] == b"ID3" and data[3] == 3, "not an ID3v2.3 tag"
    size = 0
    for b in data[6:10]:
        size = (size << 7) | (b & 0x7F)
    pos, end = 10, 10 + size
    frames = []
    while pos + 10 <= end and data[pos] != 0:
        frame_id = data[pos : pos + 4].decode("ascii")
        length = int.from_bytes(data[pos + 4 : pos + 8], "big")  # v2.3: plain 32-bit size
        frames.append((frame_id, data[pos + 10 : pos + 10 + length]))
        pos += 10 + length
    assert pos <= end
    return frames


def chap_starts(path: Path) -> list[int]:
    """Start times (ms) of the CHAP frames, in the order they sit in the file."""
    out = []
    for frame_id, body in id3_frames(path):
        if frame_id == "CHAP":
            element_end = body.index(b"\0")
            out.append(int.from_bytes(body[element_end + 1 : element_end + 5], "big"))
    return out


def ffmpeg_chapters(path: Path) -> list[tuple[float, float, str]]:
    """(start s, end s, title) as ffmpeg lists the file's chapters (file order), as stored:
    ``-copyts`` keeps ffmpeg from shifting them by the input's start time (as ffprobe shows them)."""
    proc = subprocess.run(
        [ffmpeg.ffmpeg_exe(), "-v", "error", "-copyts", "-i", str(path), "-f", "ffmetadata", "-"],
        capture_output=True, check=True,
    )  # fmt: skip
    text = proc.stdout.decode("utf-8")
    chapters = []
    for block in text.split("[CHAPTER]")[1:]:
        fields = dict(re.findall(r"^(\w+)=(.*)$", block, flags=re.M))
        num, den = (int(x) for x in fields["TIMEBASE"].split("/"))
        scale = num / den
        chapters.append((int(fields["START"]) * scale, int(fields["END"]) * scale, fields.get("title", "")))
    return chapters
