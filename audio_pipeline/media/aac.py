"""AAC without a codec: ADTS streams (:mod:`audio_pipeline.media.adts`) joined into an
MP4 audiobook (M4B).

:func:`concat_adts` copies the AAC frames of ADTS pieces (from
:func:`audio_pipeline.media.codec.encode_pair`) into one MP4 written here, box by box:
moov first (streamable), an edit list that skips the first piece's encoder delay,
iTunes tags, and chapters twice over, as players look for them: a QuickTime chapter
track (Apple's players) and a Nero ``chpl`` list (most others, and mutagen).

Why not ffmpeg: its muxer handles every 1024-sample frame as a packet (~0.8 s for
an hour of audio, ten times this code), and the chapter track it writes when the
input is shifted by the priming (``-itsoffset``) holds two wrong chapters. Only
the MP4 boxes an audio file with chapters needs are written; ISO/IEC 14496-12
and Apple's QuickTime File Format describe them.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ..fsutil import atomic_path
from .adts import AAC_FRAME, AAC_PRIMING, Adts, scan
from .types import ChapterLike, EncodeError, StrPath

_MOVIE_TIMESCALE = 1000  # movie and chapter times in milliseconds
_CHPL_MAX = 255  # the Nero list counts chapters (and title bytes) in one byte
#: iTunes tag atoms for the metadata keys the renderer uses.
_ILST_KEYS = {"title": b"\xa9nam", "album": b"\xa9alb", "artist": b"\xa9ART", "date": b"\xa9day", "genre": b"\xa9gen"}


# --------------------------------------------------------------------------- MP4 boxes


def _box(kind: bytes, *payload: bytes) -> bytes:
    body = b"".join(payload)
    return struct.pack(">I4s", 8 + len(body), kind) + body


def _full(kind: bytes, version: int, flags: int, *payload: bytes) -> bytes:
    return _box(kind, struct.pack(">I", (version << 24) | flags), *payload)


_MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)  # identity
_UND = 0x55C4  # ISO-639-2 "und", packed as three 5-bit letters


def _mvhd(duration_ms: int, next_track: int) -> bytes:
    return _full(
        b"mvhd", 0, 0,
        struct.pack(">IIII", 0, 0, _MOVIE_TIMESCALE, duration_ms),
        struct.pack(">IH10x", 0x10000, 0x100),  # rate 1.0, volume 1.0
        _MATRIX, bytes(24), struct.pack(">I", next_track),
    )  # fmt: skip


def _tkhd(track: int, flags: int, duration_ms: int, volume: int) -> bytes:
    return _full(
        b"tkhd", 0, flags,
        struct.pack(">IIIII8xHHH2x", 0, 0, track, 0, duration_ms, 0, 0, volume),
        _MATRIX, struct.pack(">II", 0, 0),
    )  # fmt: skip


def _mdhd(timescale: int, duration: int) -> bytes:
    if duration >= 1 << 32:  # over ~49 hours of samples at 24 kHz: 64-bit times
        return _full(b"mdhd", 1, 0, struct.pack(">QQIQHH", 0, 0, timescale, duration, _UND, 0))
    return _full(b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, timescale, duration, _UND, 0))


def _hdlr(kind: bytes, name: bytes) -> bytes:
    return _full(b"hdlr", 0, 0, struct.pack(">I4s12x", 0, kind), name + b"\0")


def _dinf() -> bytes:
    return _box(b"dinf", _full(b"dref", 0, 0, struct.pack(">I", 1), _full(b"url ", 0, 1)))


def _descriptor(tag: int, body: bytes) -> bytes:
    size = len(body)  # in four 7-bit groups, as ffmpeg and Apple write it
    groups = [0x80 | (size >> shift) & 0x7F for shift in (21, 14, 7)] + [size & 0x7F]
    return bytes([tag, *groups]) + body


def _bitrates(sizes: npt.NDArray[np.int64], rate: int) -> tuple[int, int]:
    """(peak over any second, average) in bits per second, for the decoder config."""
    per_second = max(1, round(rate / AAC_FRAME))
    total = np.concatenate([np.zeros(1, dtype=np.int64), np.cumsum(sizes)])
    window = total[per_second:] - total[:-per_second]
    peak = int(window.max()) if len(window) else int(total[-1])
    average = round(int(total[-1]) * 8 * rate / (len(sizes) * AAC_FRAME))
    return max(average, round(peak * 8 * rate / (per_second * AAC_FRAME))), average


def _esds(stream: Adts, largest: int, bitrates: tuple[int, int]) -> bytes:
    config = (stream.object_type << 11) | (stream.rate_index << 7) | (stream.channels << 3)
    decoder = _descriptor(
        4,
        struct.pack(">BB", 0x40, (0x05 << 2) | 1)  # MPEG-4 audio, audio stream
        + largest.to_bytes(3, "big")
        + struct.pack(">II", *bitrates)
        + _descriptor(5, config.to_bytes(2, "big")),
    )
    es = _descriptor(3, struct.pack(">HB", 0, 0) + decoder + _descriptor(6, b"\x02"))
    return _full(b"esds", 0, 0, es)


def _mp4a(stream: Adts, sizes: npt.NDArray[np.int64], rate: int, bitrates: tuple[int, int]) -> bytes:
    return _box(
        b"mp4a",
        bytes(6), struct.pack(">H", 1),  # data reference 1
        bytes(8), struct.pack(">HHHHI", stream.channels or 2, 16, 0, 0, (rate if rate < 1 << 16 else 0) << 16),
        _esds(stream, int(sizes.max()), bitrates),
    )  # fmt: skip


def _offsets_box(offsets: Sequence[int]) -> bytes:
    if offsets and max(offsets) >= 1 << 32:
        return _full(b"co64", 0, 0, struct.pack(f">I{len(offsets)}Q", len(offsets), *offsets))
    return _full(b"stco", 0, 0, struct.pack(f">I{len(offsets)}I", len(offsets), *offsets))


def _stsc(samples_per_chunk: Sequence[int]) -> bytes:
    runs: list[tuple[int, int]] = []
    for chunk, count in enumerate(samples_per_chunk, start=1):
        if not runs or runs[-1][1] != count:
            runs.append((chunk, count))
    return _full(b"stsc", 0, 0, struct.pack(">I", len(runs)), *(struct.pack(">III", c, n, 1) for c, n in runs))


def _stsz(sizes: npt.NDArray[np.int64]) -> bytes:
    return _full(b"stsz", 0, 0, struct.pack(">II", 0, len(sizes)), sizes.astype(">u4").tobytes())


def _audio_trak(
    stream: Adts, sizes: npt.NDArray[np.int64], per_chunk: Sequence[int], chunk_offsets: Sequence[int], rate: int,
    play_ms: int, chapter_track: int | None, bitrates: tuple[int, int],
) -> bytes:  # fmt: skip
    samples = len(sizes)
    edit = _box(b"edts", _full(b"elst", 0, 0, struct.pack(">IIiI", 1, play_ms, AAC_PRIMING, 0x10000)))
    stbl = _box(
        b"stbl",
        _full(b"stsd", 0, 0, struct.pack(">I", 1), _mp4a(stream, sizes, rate, bitrates)),
        _full(b"stts", 0, 0, struct.pack(">III", 1, samples, AAC_FRAME)),
        _stsc(per_chunk),
        _stsz(sizes),
        _offsets_box(chunk_offsets),
        # Decoders need the previous frame to decode one (AAC's overlapped transform).
        _full(b"sgpd", 1, 0, b"roll", struct.pack(">IIh", 2, 1, -1)),
        _full(b"sbgp", 0, 0, b"roll", struct.pack(">III", 1, samples, 1)),
    )
    minf = _box(b"minf", _full(b"smhd", 0, 0, bytes(4)), _dinf(), stbl)
    mdia = _box(b"mdia", _mdhd(rate, samples * AAC_FRAME), _hdlr(b"soun", b"SoundHandler"), minf)
    tref = _box(b"tref", _box(b"chap", struct.pack(">I", chapter_track))) if chapter_track else b""
    return _box(b"trak", _tkhd(1, 3, play_ms, 0x100), edit, tref, mdia)


def _text_sample(title: str) -> bytes:
    text = title.encode("utf-8")[:0xFFFF]
    encd = _box(b"encd", struct.pack(">I", 0x100))  # the text is UTF-8
    return struct.pack(">H", len(text)) + text + encd


def _text_trak(track: int, durations: Sequence[int], sizes: Sequence[int], offset: int, total_ms: int) -> bytes:
    """A QuickTime chapter track: one text sample per chapter, in milliseconds."""
    entry = _box(
        b"text",
        bytes(6), struct.pack(">H", 1),
        struct.pack(">IBB4B", 1, 0, 0, 0, 0, 0, 0),  # display flags, justification, background
        struct.pack(">4H", 0, 0, 0, 0),  # default text box
        struct.pack(">HHHBB4B", 0, 0, 1, 0, 0, 0, 0, 0, 0),  # style: font 1, default size and colour
        _box(b"ftab", struct.pack(">HHB", 1, 1, 0)),  # one font, id 1, no name
    )  # fmt: skip
    stbl = _box(
        b"stbl",
        _full(b"stsd", 0, 0, struct.pack(">I", 1), entry),
        _full(b"stts", 0, 0, struct.pack(">I", len(durations)), *(struct.pack(">II", 1, d) for d in durations)),
        _full(b"stsc", 0, 0, struct.pack(">IIII", 1, 1, len(sizes), 1)),
        _full(b"stsz", 0, 0, struct.pack(f">II{len(sizes)}I", 0, len(sizes), *sizes)),
        _offsets_box([offset]),
    )
    gmhd = _box(
        b"gmhd",
        _full(b"gmin", 0, 0, struct.pack(">HHHHhH", 0x40, 0x8000, 0x8000, 0x8000, 0, 0)),
        _box(b"text", struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)),
    )
    minf = _box(b"minf", gmhd, _dinf(), stbl)
    mdia = _box(b"mdia", _mdhd(_MOVIE_TIMESCALE, sum(durations)), _hdlr(b"text", b"ChapterHandler"), minf)
    return _box(b"trak", _tkhd(track, 2, total_ms, 0), mdia)  # in the movie, not played as a track


def _chpl(chapters: Sequence[ChapterLike]) -> bytes:
    entries = []
    for chapter in chapters[:_CHPL_MAX]:
        title = chapter.title.encode("utf-8")[:_CHPL_MAX].decode("utf-8", "ignore").encode("utf-8")
        entries.append(struct.pack(">QB", chapter.start_ms * 10_000, len(title)) + title)  # 100 ns units
    return _full(b"chpl", 1, 0, struct.pack(">IB", 0, len(entries)), *entries)


def _ilst(metadata: Mapping[str, str], cover: bytes | None = None) -> bytes:
    items = []
    for key, value in metadata.items():
        atom = _ILST_KEYS.get(key)
        if atom is None:
            raise ValueError(f"unsupported metadata key {key!r} (known: {', '.join(_ILST_KEYS)})")
        items.append(_box(atom, _box(b"data", struct.pack(">II", 1, 0), str(value).encode("utf-8"))))
    items.append(_box(b"\xa9too", _box(b"data", struct.pack(">II", 1, 0), b"audio_pipeline")))
    if cover:
        kind = 14 if cover[:8] == b"\x89PNG\r\n\x1a\n" else 13  # PNG, else JPEG
        items.append(_box(b"covr", _box(b"data", struct.pack(">II", kind, 0), cover)))
    return _box(b"ilst", *items)


def _udta(metadata: Mapping[str, str], chapters: Sequence[ChapterLike], cover: bytes | None = None) -> bytes:
    handler = _full(b"hdlr", 0, 0, struct.pack(">I4s4s8x", 0, b"mdir", b"appl"), b"\0")  # iTunes metadata
    meta = _full(b"meta", 0, 0, handler, _ilst(metadata, cover))
    return _box(b"udta", meta, _chpl(chapters) if chapters else b"")


# --------------------------------------------------------------------------- join


def concat_adts(
    inputs: Sequence[StrPath],
    out_path: StrPath,
    *,
    chapters: Sequence[ChapterLike] = (),
    metadata: Mapping[str, str] | None = None,
    frames: Sequence[int | None] | None = None,
    end_padding: int = 0,
    cover: bytes | None = None,
) -> Path:
    """Join ADTS pieces from :func:`audio_pipeline.media.codec.encode_pair` (same format)
    into one M4A/M4B without re-encoding; returns the path.

    moov comes first (players can start before the whole file is there); the edit
    list skips the first piece's encoder delay; ``metadata`` keys are title, album,
    artist, date, genre; ``chapters`` (place them with :func:`audio_pipeline.media.adts.adts_layout`) become a
    QuickTime chapter track and a Nero chapter list (its first 255). ``frames``: the
    frame counts the chapters were placed by (:func:`~audio_pipeline.media.adts.adts_layout`); a piece that holds
    another number is refused rather than joined under misplaced chapters. ``end_padding``:
    samples of encoder padding at the end of the last piece, left out of the edit list
    (so the file plays as long as the audio it was made from). ``cover``: a JPEG or PNG
    image, stored as the iTunes ``covr`` tag. Written to
    a temporary name and renamed into place. Raises :class:`EncodeError` for a bad or
    mismatched piece.
    """
    paths = [Path(p) for p in inputs]
    _check_inputs(paths, chapters)
    streams = _same_format(paths, frames)
    sizes = np.concatenate([s.sizes for s in streams]).astype(np.int64)
    head = streams[0]
    rate = head.rate
    if not 0 <= end_padding < len(streams[-1].sizes) * AAC_FRAME - AAC_PRIMING:
        raise ValueError(f"end padding of {end_padding} samples is more than the last piece holds")
    play_ms = round((len(sizes) * AAC_FRAME - AAC_PRIMING - end_padding) * 1000 / rate)
    per_chunk = [len(s.sizes) for s in streams]
    chunk_bytes = [int(s.sizes.sum()) for s in streams]
    bitrates = _bitrates(sizes, rate)
    texts = [_text_sample(c.title) for c in chapters]
    durations = _chapter_durations(chapters, play_ms)

    def moov(data_start: int) -> bytes:
        offsets = list(itertools.accumulate(chunk_bytes[:-1], initial=data_start))  # one chunk per piece
        traks = _audio_trak(head, sizes, per_chunk, offsets, rate, play_ms, 2 if chapters else None, bitrates)
        if chapters:  # the chapter titles follow the audio
            traks += _text_trak(2, durations, [len(t) for t in texts], data_start + sum(chunk_bytes), play_ms)
        return _box(b"moov", _mvhd(play_ms, 3 if chapters else 2), traks, _udta(dict(metadata or {}), chapters, cover))

    brand = b"M4A " if Path(out_path).suffix.lower() == ".m4a" else b"M4B "  # M4B: an audiobook
    ftyp = _box(b"ftyp", brand, struct.pack(">I", 0x200), brand, b"M4A ", b"mp42", b"isom")
    mdat_head = _mdat_head(sum(chunk_bytes) + sum(len(t) for t in texts))
    size = len(moov(0))  # offsets are fixed-width: the box's size does not depend on them
    box = moov(len(ftyp) + size + len(mdat_head))
    if len(box) != size:  # pragma: no cover - stco turned co64 at the 4 GiB mark
        box = moov(len(ftyp) + len(box) + len(mdat_head))
    out = Path(out_path)
    with atomic_path(out) as tmp, tmp.open("wb") as fh:
        fh.write(ftyp + box + mdat_head)
        for path, stream in zip(paths, streams, strict=True):
            fh.write(_raw_frames(path, stream))
        for text in texts:
            fh.write(text)
    return out


def _check_inputs(paths: Sequence[Path], chapters: Sequence[ChapterLike]) -> None:
    """Refuse nothing to join, a piece that is not there, and chapters out of order."""
    if not paths:
        raise ValueError("nothing to join")
    for p in paths:
        if not p.is_file():
            raise EncodeError("no such audio file", path=str(p))
    previous_end = 0
    for chapter in chapters:
        if chapter.start_ms < previous_end:
            raise ValueError(f"chapters overlap or run backwards at {chapter!r}")
        previous_end = chapter.end_ms


def _same_format(paths: Sequence[Path], frames: Sequence[int | None] | None) -> list[Adts]:
    """Every piece's frame sizes, from its headers, checked against the frame count
    recorded for it (``frames``) and against the first piece's format."""
    streams: list[Adts] = []
    expected = list(frames) if frames is not None else [None] * len(paths)
    if len(expected) != len(paths):
        raise ValueError("one frame count (or None) per input")
    for path, count in zip(paths, expected, strict=True):
        stream = scan(path)
        if count is not None and count != len(stream.sizes):
            raise EncodeError(f"{len(stream.sizes)} AAC frames, not the {count} recorded for it", path=str(path))
        first = streams[0] if streams else stream
        if (stream.rate_index, stream.object_type, stream.channels) != (
            first.rate_index, first.object_type, first.channels,
        ):  # fmt: skip
            raise EncodeError(
                f"sample rate {stream.rate} or channels differ from the first input's {first.rate}", path=str(path)
            )
        streams.append(stream)
    return streams


def _chapter_durations(chapters: Sequence[ChapterLike], play_ms: int) -> list[int]:
    """Each chapter's text sample's duration (ms): to the next chapter, the last to the
    end; the first also covers the time before it (the text track spans the whole timeline)."""
    durations = [max(0, (chapters[i + 1].start_ms if i + 1 < len(chapters) else play_ms) - c.start_ms)
                 for i, c in enumerate(chapters)]  # fmt: skip
    if chapters and chapters[0].start_ms:
        durations[0] += chapters[0].start_ms
    return durations


def _mdat_head(payload: int) -> bytes:
    """The mdat box's header for ``payload`` bytes (a 64-bit size from 4 GiB on)."""
    if payload + 8 >= 1 << 32:
        return struct.pack(">I4sQ", 1, b"mdat", payload + 16)
    return struct.pack(">I4s", payload + 8, b"mdat")


def _raw_frames(path: Path, stream: Adts) -> bytes:
    """The piece's raw AAC frames: everything but the ADTS headers."""
    data = np.fromfile(path, dtype=np.uint8)
    if len(data) != stream.length:
        raise EncodeError("file changed while being joined", path=str(path))
    keep = np.ones(len(data), dtype=bool)
    keep[(stream.frame_starts()[:, None] + np.arange(stream.header, dtype=np.int64)).ravel()] = False
    return data[keep].tobytes()
