"""ADTS streams read without a codec: each AAC frame's size from its header, the
stream's format, and where each piece starts once joined.

The pieces come from :func:`audio_pipeline.media.codec.encode_pair`;
:func:`audio_pipeline.media.aac.concat_adts` joins them into an M4B.
"""

from __future__ import annotations

import functools
import os
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ..fsutil import file_version
from .types import ConcatResult, EncodeError, StrPath

#: Samples of encoder delay ("priming") at the start of every stream from ffmpeg's AAC encoder.
AAC_PRIMING = 1024
AAC_FRAME = 1024
_ADTS_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350)


@dataclass(frozen=True)
class Adts:
    """One ADTS stream: the size of each raw AAC frame, and the stream's format."""

    sizes: npt.NDArray[np.uint16]  # bytes of each raw frame, without its header
    header: int  # bytes of every frame's header (7, or 9 with a CRC)
    rate_index: int
    object_type: int  # MPEG-4 audio object type (2 = AAC-LC)
    channels: int

    @property
    def rate(self) -> int:
        return _ADTS_RATES[self.rate_index]

    @property
    def length(self) -> int:
        """Bytes in the file."""
        return int(self.sizes.sum()) + self.header * len(self.sizes)

    def frame_starts(self) -> npt.NDArray[np.int64]:
        """Byte offset of each frame's header."""
        steps = self.sizes.astype(np.int64) + self.header
        return np.concatenate([np.zeros(1, dtype=np.int64), np.cumsum(steps)[:-1]])


def scan(path: StrPath) -> Adts:
    """Read an ADTS file's frame headers. Remembered per file version (path, size,
    modification time, inode: files here are replaced by rename, never rewritten in
    place), so a join can reuse a scan made ahead of it."""
    return _scan(*file_version(path))


@functools.lru_cache(maxsize=512)
def _scan(path: str, size: int, mtime_ns: int, inode: int) -> Adts:
    src = Path(path)
    return _parse(src, src.read_bytes())


def _parse(path: Path, data: bytes) -> Adts:
    end = len(data)
    if end < 7 or data[0] != 0xFF or data[1] & 0xF6 != 0xF0:
        raise EncodeError("not an ADTS stream", path=str(path))
    # The header's fixed part (format, rate, channels) is the same in every frame.
    f1, f2, f3 = data[1], data[2], data[3] >> 4
    header = 7 if f1 & 1 else 9  # protection_absent, else a CRC follows
    sizes = array("H")
    add_size = sizes.append
    pos = 0
    try:
        while pos < end:  # ~1 us per frame: this loop is most of a join's time
            b3 = data[pos + 3]
            if data[pos] != 0xFF or data[pos + 1] != f1 or data[pos + 2] != f2 or b3 >> 4 != f3:
                raise EncodeError(f"not an ADTS frame of the same stream at byte {pos}", path=str(path))
            size = ((b3 & 3) << 11) | (data[pos + 4] << 3) | (data[pos + 5] >> 5)
            if size <= header or data[pos + 6] & 3:
                raise EncodeError(f"bad ADTS frame length, or several frames in one, at byte {pos}", path=str(path))
            add_size(size - header)
            pos += size
    except IndexError:
        pos = end + 1  # a header cut short
    if pos != end:
        raise EncodeError("the last ADTS frame is cut short", path=str(path))
    rate_index = (f2 >> 2) & 0xF
    if rate_index >= len(_ADTS_RATES):
        raise EncodeError(f"bad ADTS sample rate index {rate_index}", path=str(path))
    channels = ((f2 & 1) << 2) | (f3 >> 2)
    table = np.frombuffer(sizes, dtype=np.uint16)
    table.flags.writeable = False  # shared by every join that reuses the scan
    return Adts(table, header, rate_index, (f2 >> 6) + 1, channels)


def _header(path: Path) -> bytes:
    with path.open("rb") as handle:
        head = handle.read(7)
    if len(head) < 7 or head[0] != 0xFF or head[1] & 0xF6 != 0xF0 or (head[2] >> 2) & 0xF >= len(_ADTS_RATES):
        raise EncodeError("not an ADTS stream", path=str(path))
    return head


def adts_frames(path: StrPath) -> tuple[int, int]:
    """(frames of 1024 samples, sample rate) of a raw AAC (ADTS) file, from its frame headers."""
    stream = scan(path)
    return len(stream.sizes), stream.rate


def adts_layout(
    inputs: Sequence[StrPath], frames: Sequence[int | None] | None = None, *, end_padding: int = 0
) -> ConcatResult:
    """Where each input's audio starts when :func:`audio_pipeline.media.aac.concat_adts`
    joins them, as a decoder plays it.

    Every piece keeps its encoder delay (AAC_PRIMING samples of near-silence) inside
    the join, ahead of its own audio; the joined file's edit list drops the first
    piece's only. So piece i starts at the total length of the pieces before it.
    ``frames[i]``, when known (from :func:`adts_frames` when the piece was written),
    saves walking that piece's frame headers again. ``end_padding``: samples at the
    end of the last piece the edit list leaves out (as ``concat_adts``).
    """
    if not inputs:
        raise ValueError("nothing to join")
    known = list(frames) if frames is not None else [None] * len(inputs)
    if len(known) != len(inputs):
        raise ValueError("one frame count (or None) per input")
    starts: list[float] = []
    pos = 0
    first_rate = 0
    for path, count in zip(inputs, known, strict=True):
        if count is None:
            count, rate = adts_frames(path)
        else:
            rate = _ADTS_RATES[(_header(Path(path))[2] >> 2) & 0xF]
        if first_rate and rate != first_rate:
            raise EncodeError(f"sample rate {rate} differs from the first input's {first_rate}", path=os.fspath(path))
        first_rate = first_rate or rate
        starts.append(pos * 1000 / first_rate)
        pos += count * AAC_FRAME
    return ConcatResult(starts_ms=tuple(starts), duration_ms=(pos - AAC_PRIMING - end_padding) * 1000 / first_rate)
