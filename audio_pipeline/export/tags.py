# mypy: disable-error-code="no-untyped-call"
"""ID3 tags and chapters for MP3 files.

Tags are written as **ID3v2.3** with UTF-16 text, on purpose: it is the one
version every podcast app and OS reads (Apple Podcasts/iTunes, Windows
Explorer and Media Player, Android players, Overcast, Pocket Casts). v2.4's
syncsafe frame sizes are still mis-read by some parsers as soon as a frame is
larger than 127 bytes, which is exactly what CHAP frames with a title
sub-frame are; the Chapter Frame Addendum (CHAP/CTOC) works with v2.3 as well.
The one cost: v2.3 has no TDRC, so the date is stored as TYER (and TDAT for
day and month) by mutagen's v2.3 conversion.

Writes are atomic (copy to a temporary file beside the target, tag it, rename)
and deterministic: the tag is rebuilt from scratch every time, no ID3v1, no
padding, and nothing time-dependent, so the same audio and arguments give the
same bytes.

The tag's bytes are laid out here, frame by frame, not by mutagen's ``save``:
that sorts frames by size, which puts CHAP frames out of time order, and players
and tools that list CHAP frames in file order (ffmpeg/ffprobe among them) then
show the chapters shuffled. Here the text frames come first, then the picture,
then the CTOC, then every CHAP in time order.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Required, TypedDict

from mutagen import MutagenError
from mutagen.id3 import (
    APIC,
    CHAP,
    COMM,
    CTOC,
    ID3,
    TALB,
    TDRC,
    TIT2,
    TPE1,
    TRCK,
    CTOCFlags,
    Encoding,
)
from mutagen.id3 import delete as delete_id3
from mutagen.id3._tags import save_frame
from mutagen.id3._util import ID3SaveConfig

from audio_pipeline.errors import PipelineError
from audio_pipeline.fsutil import atomic_path
from audio_pipeline.model import Chapter

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["Id3Fields", "TagError", "id3_bytes", "tag_mp3", "write_id3", "TOC_ELEMENT_ID"]

StrPath = str | os.PathLike[str]

#: Element id of the single top-level table of contents.
TOC_ELEMENT_ID = "toc"


class TagError(PipelineError):
    """An MP3 cannot be tagged."""

    exit_code = 1


def _check_chapters(chapters: Sequence[Chapter]) -> None:
    previous_end = 0
    for ch in chapters:
        if ch.start_ms < previous_end:
            raise ValueError(f"chapter {ch.title!r} starts before the previous one ends")
        previous_end = ch.end_ms
        if ch.end_ms > 0xFFFFFFFE:
            raise ValueError(f"chapter {ch.title!r} ends too late for ID3")


class Id3Fields(TypedDict, total=False):
    """What :func:`id3_bytes`, :func:`write_id3` and :func:`tag_mp3` write."""

    title: Required[str]
    album: Required[str]
    artist: Required[str]
    track: tuple[int, int] | None  # n of total
    date: str | None
    chapters: Sequence[Chapter]
    comment: str | None
    picture: bytes | None  # front cover, JPEG


def _build(fields: Id3Fields) -> ID3:
    title, album, artist = fields["title"], fields["album"], fields["artist"]
    track, date, comment = fields.get("track"), fields.get("date"), fields.get("comment")
    chapters = fields.get("chapters", ())
    _check_chapters(chapters)
    utf16 = Encoding.UTF16
    tags = ID3()
    tags.add(TIT2(encoding=utf16, text=[title]))
    tags.add(TALB(encoding=utf16, text=[album]))
    tags.add(TPE1(encoding=utf16, text=[artist]))
    if track is not None:
        number, total = track
        if number < 1 or total < number:
            raise ValueError(f"bad track {number}/{total}")
        tags.add(TRCK(encoding=utf16, text=[f"{number}/{total}"]))
    if date:
        tags.add(TDRC(encoding=utf16, text=[date]))
    if comment:
        tags.add(COMM(encoding=utf16, lang="und", desc="", text=[comment]))
    picture = fields.get("picture")
    if picture:
        tags.add(APIC(encoding=Encoding.LATIN1, mime="image/jpeg", type=3, desc="", data=picture))
    if chapters:
        ids = [f"chp{i}" for i in range(len(chapters))]
        tags.add(
            CTOC(
                element_id=TOC_ELEMENT_ID,
                flags=CTOCFlags.TOP_LEVEL | CTOCFlags.ORDERED,
                child_element_ids=ids,
                sub_frames=[],
            )
        )
        for element_id, ch in zip(ids, chapters, strict=True):
            tags.add(
                CHAP(
                    element_id=element_id,
                    start_time=int(ch.start_ms),
                    end_time=int(ch.end_ms),
                    # 0xFFFFFFFF: "no byte offset", players use the times.
                    start_offset=0xFFFFFFFF,
                    end_offset=0xFFFFFFFF,
                    sub_frames=[TIT2(encoding=utf16, text=[ch.title])],
                )
            )
    tags.update_to_v23()
    return tags


def _frame_order(tags: ID3) -> list[object]:
    """Frames in the order they are written: text and comment frames as added, the
    table of contents, then the chapters by start time."""
    frames = list(tags.values())
    chaps = sorted((f for f in frames if f.FrameID == "CHAP"), key=lambda f: (f.start_time, f.end_time))
    tocs = [f for f in frames if f.FrameID == "CTOC"]
    rest = [f for f in frames if f.FrameID not in ("CHAP", "CTOC")]
    return [*rest, *tocs, *chaps]


def _serialize(tags: ID3) -> bytes:
    config = ID3SaveConfig(3, "/")
    body = b"".join(save_frame(frame, config=config) for frame in _frame_order(tags))
    size = len(body)
    if size >= 1 << 28:
        raise TagError("tags larger than ID3v2 allows (256 MB)")
    syncsafe = bytes((size >> shift) & 0x7F for shift in (21, 14, 7, 0))
    return b"ID3\x03\x00\x00" + syncsafe + body


def id3_bytes(**fields: Unpack[Id3Fields]) -> bytes:
    """The ID3v2.3 tag :func:`write_id3` writes, as bytes to put in front of MP3 frames
    (:func:`audio_pipeline.media.mp3.concat_copy` ``head=``): no copy of the audio to insert it.
    Frames in a fixed order, CHAP frames by time (see the module's note)."""
    return _serialize(_build(fields))


def write_id3(path: StrPath, **fields: Unpack[Id3Fields]) -> None:
    """Replace the ID3 tags of ``path`` in place (not atomic; see :func:`tag_mp3`).

    Meant for a temporary file, e.g. as ``encode_mp3(..., postprocess=...)``.
    Any existing ID3v2/ID3v1 tag is removed first; the new tag is the bytes of
    :func:`id3_bytes`, put in front of the audio.
    """
    target = Path(path)
    head = _serialize(_build(fields))
    try:
        delete_id3(target, delete_v1=True, delete_v2=True)
        audio = target.read_bytes()
        with target.open("wb") as handle:
            handle.write(head)
            handle.write(audio)
    except (OSError, MutagenError) as exc:
        raise TagError(f"cannot write tags: {exc}", path=str(target)) from exc


def tag_mp3(path: StrPath, **fields: Unpack[Id3Fields]) -> None:
    """Atomically (re)tag an MP3: title, album, artist, track n/total, date,
    comment, and chapters as CHAP frames ``chp0..`` (start/end ms, TIT2 title)
    listed in one top-level, ordered CTOC ``toc``.
    """
    target = Path(path)
    if not target.is_file():
        raise TagError("no such file", path=str(target))
    with atomic_path(target) as tmp:
        shutil.copyfile(target, tmp)
        write_id3(tmp, **fields)
