"""What the pipeline asks of ffmpeg: decode, encode, measure. Typed wrappers over
:mod:`audio_pipeline.media.ffmpeg`, which locates and runs the binary.

Everything here is a pure function of its inputs (no printing, no global state)
and every ffmpeg failure raises :class:`EncodeError` with the tail of ffmpeg's
stderr (:class:`FfmpegUnavailable` when ffmpeg cannot be run at all). Outputs are
written through :func:`audio_pipeline.fsutil.atomic_path`, so a failed call leaves
no temporary file and the previous output untouched, and they are byte-for-byte
reproducible: the same PCM and arguments give the same file (``-fflags +bitexact``,
``-flags:a +bitexact``: no creation time, no Lavf/Lavc version tag). That holds for
one ffmpeg build: LAME writes its own version into MP3 frames, so key caches on
:func:`audio_pipeline.media.ffmpeg.build_id` too.

The renderer levels PCM in-process (:mod:`audio_pipeline.media.leveling`: -16 LUFS
integrated, true peak <= -1 dBTP) and encodes it once: :func:`encode_pair` writes
the MP3 and an AAC (ADTS) stream in one run. :func:`loudness` and
:func:`measure_pcm` measure with ffmpeg's own ebur128 filter, e.g. to check it.

Joins never re-encode, and need no ffmpeg: :mod:`audio_pipeline.media.mp3` joins MP3s,
:mod:`audio_pipeline.media.aac` joins the AAC pieces :func:`encode_pair` writes into an M4B.

PCM is always raw signed 16-bit little-endian mono ("s16le") at a sample rate
the caller states; :func:`encode_pair` and :func:`encode_mp3` stream it into
ffmpeg's stdin chunk by chunk, so memory stays bounded however long the audio is.
"""

from __future__ import annotations

import io
import math
import os
import re
import subprocess
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from ..fsutil import atomic_path
from .ffmpeg import Running, run, stderr_tail, stream_from, stream_into
from .types import EncodeError, StrPath, path_str

if TYPE_CHECKING:
    from pydub import AudioSegment

__all__ = [
    "Loudness",
    "decode",
    "decode_stream",
    "encode_mp3",
    "encode_one",
    "encode_pair",
    "loudness",
    "measure_pcm",
]

_BITEXACT = ("-fflags", "+bitexact", "-flags:a", "+bitexact")
# Decoders give frames of 576-1152 samples; regrouped, the rest of ffmpeg's pipeline
# handles a few large frames (~15% less CPU on speech).
_REGROUP = "asetnsamples=n=32768:p=0"
#: Decoded audio as raw s16le mono on stdout.
_PCM_OUT = ["-vn", "-ac", "1", "-c:a", "pcm_s16le", "-f", "s16le", "-"]
T = TypeVar("T")


# --------------------------------------------------------------------------- decode


def decode(path: StrPath, *, rate: int | None = None) -> AudioSegment:
    """Decode any audio file to a mono 16-bit :class:`pydub.AudioSegment`.

    The sample rate is kept unless ``rate`` is given. Decoding goes through
    ffmpeg to a WAV stream on a pipe (pydub's own ``from_file`` needs ffprobe).
    Encoder delay and padding of MP3/AAC are trimmed by ffmpeg, so the length
    is the real audio length.
    """
    from pydub import AudioSegment

    src = Path(path)
    if not src.is_file():
        raise EncodeError("no such audio file", path=str(src))
    args = ["-i", str(src), "-vn", "-ac", "1"]
    if rate is not None:
        args += ["-ar", str(int(rate))]
    args += ["-c:a", "pcm_s16le", "-f", "wav", "-"]
    data, _ = run(args, what="decode", path=src)
    channels, sample_rate, pcm = _parse_wav(data, src)
    if channels != 1:  # pragma: no cover - we asked for mono
        raise EncodeError(f"decoder returned {channels} channels", path=str(src))
    return AudioSegment(data=pcm, sample_width=2, frame_rate=sample_rate, channels=1)


def decode_stream(paths: StrPath | Sequence[StrPath], *, size: int = 1 << 20) -> Iterator[bytes]:
    """Decode audio files to raw s16le mono at their (common) rate, one after the
    other in one ffmpeg run, yielded in chunks of up to ``size`` bytes: memory stays
    at one chunk however long the audio is.

    Gapless like :func:`decode`. ffmpeg's failure raises :class:`EncodeError` at the
    end of the stream; closing the generator early stops ffmpeg.
    """
    sources = [Path(paths)] if isinstance(paths, str | os.PathLike) else [Path(p) for p in paths]
    if not sources:
        raise ValueError("nothing to decode")
    args: list[str] = []
    for src in sources:
        if not src.is_file():
            raise EncodeError("no such audio file", path=str(src))
        args += ["-i", str(src)]
    if len(sources) > 1:
        joined = "".join(f"[{i}:a]" for i in range(len(sources)))
        args += ["-filter_complex", f"{joined}concat=n={len(sources)}:v=0:a=1,{_REGROUP}[all]", "-map", "[all]"]
    else:
        args += ["-af", _REGROUP]
    args += _PCM_OUT
    yield from stream_from(args, size=size, what="decode", path=sources[0])


def _parse_wav(data: bytes, src: Path) -> tuple[int, int, bytes]:
    """Parse a WAV that ffmpeg wrote on a pipe (its size fields may be bogus)."""
    buf = io.BytesIO(data)
    if buf.read(4) != b"RIFF" or (buf.read(4), buf.read(4))[1] != b"WAVE":
        raise EncodeError("decoder did not return WAV data", path=str(src))
    channels = sample_rate = 0
    while True:
        head = buf.read(8)
        if len(head) < 8:
            raise EncodeError("WAV stream has no data chunk", path=str(src))
        tag, size = head[:4], int.from_bytes(head[4:], "little")
        if tag == b"fmt ":
            fmt = buf.read(size)
            channels = int.from_bytes(fmt[2:4], "little")
            sample_rate = int.from_bytes(fmt[4:8], "little")
            if size % 2:
                buf.read(1)
        elif tag == b"data":
            start = buf.tell()
            # On a pipe ffmpeg cannot seek back to fix the size: trust the end.
            end = len(data) if size in (0, 0xFFFFFFFF) else min(len(data), start + size)
            pcm = data[start:end]
            return channels, sample_rate, pcm[: len(pcm) - len(pcm) % 2]
        else:
            buf.seek(size + (size % 2), io.SEEK_CUR)


# --------------------------------------------------------------------------- loudness


@dataclass(frozen=True)
class Loudness:
    """EBU R128 measurement. ``-inf``/-70 values mean silence."""

    integrated_lufs: float
    true_peak_dbtp: float
    lra: float


_NUM = r"(-?(?:inf|\d+(?:\.\d+)?))"
_SUMMARY_I = re.compile(r"^\s*I:\s*" + _NUM + r"\s*LUFS", re.M)
_SUMMARY_LRA = re.compile(r"^\s*LRA:\s*" + _NUM + r"\s*LU\b", re.M)
_SUMMARY_PEAK = re.compile(r"^\s*Peak:\s*" + _NUM + r"\s*dBFS", re.M)


def _parse_ebur128(stderr: bytes, path: StrPath | None = None) -> Loudness:
    text = stderr.decode("utf-8", "replace")
    pos = text.rfind("Summary:")
    if pos < 0:
        raise EncodeError(f"no ebur128 summary in ffmpeg output: {stderr_tail(stderr)}", path=path_str(path))
    summary = text[pos:]
    found = [rx.search(summary) for rx in (_SUMMARY_I, _SUMMARY_PEAK, _SUMMARY_LRA)]
    if any(m is None for m in found):
        raise EncodeError(f"cannot parse ebur128 summary: {summary.strip()!r}", path=path_str(path))
    i, tp, lra = (float(m.group(1)) for m in found if m is not None)
    return Loudness(integrated_lufs=i, true_peak_dbtp=tp, lra=lra)


_EBUR128 = "ebur128=peak=true:framelog=verbose"


def loudness(path: StrPath) -> Loudness:
    """Measure integrated loudness, true peak and loudness range of a file."""
    src = Path(path)
    if not src.is_file():
        raise EncodeError("no such audio file", path=str(src))
    _, stderr = run(
        ["-nostats", "-i", str(src), "-vn", "-af", _EBUR128, "-f", "null", "-"],
        loglevel="info",
        what="loudness measurement",
        path=src,
    )
    return _parse_ebur128(stderr, src)


def measure_pcm(pcm_chunks: Iterable[bytes], sample_rate: int) -> Loudness:
    """Measure raw s16le mono PCM streamed in chunks."""
    stderr = stream_into(
        ["-nostats", *_pcm_input(sample_rate), "-af", _EBUR128, "-f", "null", "-"],
        pcm_chunks,
        loglevel="info",
        what="loudness measurement",
    )
    return _parse_ebur128(stderr)


#: libmp3lame's bitstream plays 0.95x (-0.446 dB) the level of its input: measured
#: with ffmpeg's float and fixed decoders and with mpg123, at every level and
#: bitrate tried. :func:`encode_pair` adds it back to PCM already at its target level.
_LAME_LEVEL_DB = -20 * math.log10(0.95)


# --------------------------------------------------------------------------- encode


def _pcm_input(sample_rate: int) -> list[str]:
    if sample_rate <= 0:
        raise ValueError(f"bad sample rate {sample_rate}")
    return ["-f", "s16le", "-ar", str(int(sample_rate)), "-ac", "1", "-i", "pipe:0"]


def encode_mp3(
    pcm_chunks: Iterable[bytes],
    sample_rate: int,
    out_path: StrPath,
    *,
    bitrate: str = "64k",
    out_rate: int | None = None,
    postprocess: Callable[[Path], None] | None = None,
) -> Path:
    """Encode streamed s16le mono PCM to an MP3 at ``out_path``: libmp3lame CBR,
    Xing/LAME header (gapless info), no ID3 tag.

    Tag it with :func:`audio_pipeline.export.tags.tag_mp3`, or in place on the
    temporary file via ``postprocess`` (called with it before it is renamed into
    place), so the final file appears already tagged. ``out_rate`` resamples.
    Returns the output path. Deterministic: same PCM + arguments give identical
    bytes. Raises :class:`EncodeError` (ffmpeg failed, or no/odd PCM); an exception
    from ``pcm_chunks`` kills ffmpeg and propagates.
    """
    out = Path(out_path)
    args = _pcm_input(sample_rate)
    args += ["-map", "0:a", "-map_metadata", "-1", "-map_chapters", "-1"]
    if out_rate:
        args += ["-af", f"aresample={out_rate}"]
    args += ["-c:a", "libmp3lame", "-b:a", bitrate, "-write_xing", "1"]
    args += ["-id3v2_version", "0", "-f", "mp3"]
    # Output options (after every -i): no encoder version, no creation time.
    args += _BITEXACT
    with atomic_path(out) as tmp:
        stream_into([*args, "-y", str(tmp)], pcm_chunks, loglevel="error", what="encode", path=out)
        if postprocess is not None:
            postprocess(tmp)
    return out


#: Per format :func:`encode_pair` and :func:`encode_one` write: its muxer, the muxer's
#: options, and the demuxer that reads it back.
_FORMATS: dict[str, tuple[str, dict[str, str], str]] = {
    "mp3": ("mp3", {"write_xing": "1", "id3v2_version": "0"}, "mp3"),
    "aac": ("adts", {}, "aac"),
}
#: What libmp3lame's bitstream loses, added back (see _LAME_LEVEL_DB).
_MP3_LEVEL = f"volume={_LAME_LEVEL_DB:.4f}dB:precision=double"


def _codec(fmt: str, bitrate: str) -> list[str]:
    if fmt == "mp3":
        return ["-c:a", "libmp3lame", "-b:a", bitrate]
    # The default "twoloop" coder clipped speech transients by +3.5 dB at
    # 64 kbit/s (measured); "fast" did not, and is 5-8x quicker.
    return ["-c:a", "aac", "-aac_coder", "fast", "-b:a", bitrate]


def _output(fmt: str, mapped: str, bitrate: str, path: StrPath) -> list[str]:
    """One output of :func:`encode_pair`: the stream ``mapped``, encoded and muxed to ``path``."""
    muxer, options, _demuxer = _FORMATS[fmt]
    flags = [arg for key, value in options.items() for arg in (f"-{key}", value)]
    args = ["-map", mapped, "-map_metadata", "-1", "-map_chapters", "-1", *_codec(fmt, bitrate), *flags]
    return [*args, *_BITEXACT, "-f", muxer, "-y", os.fspath(path)]


def _tee_escape(path: StrPath) -> str:
    """``path`` as one output of ffmpeg's tee muxer (its separators escaped)."""
    return "".join("\\" + c if c in "\\|[]" else c for c in os.fspath(path))


def encode_one(
    pcm_chunks: Iterable[bytes],
    sample_rate: int,
    fmt: str,
    path: StrPath,
    *,
    bitrate: str = "64k",
    decoded: Callable[[Iterator[bytes]], T] | None = None,
) -> T | None:
    """Encode streamed s16le mono PCM to one format, ``fmt`` "mp3" or "aac": what
    :func:`encode_pair` writes for it, the same bytes.

    ``decoded``: the encoded stream is also decoded as it is written, in a second
    ffmpeg (the encoder's tee muxer hands it the same packets it writes to ``path``,
    whose bytes do not change), and ``decoded`` gets that PCM (s16le mono, in chunks)
    in a thread of its own: a check of the encoded audio (e.g. its true peak) ends
    with the encoding instead of after it. Returns what ``decoded`` returned.
    """
    if fmt not in _FORMATS:
        raise ValueError(f"unknown format {fmt!r}")
    if decoded is None:
        mp3 = path if fmt == "mp3" else None
        encode_pair(pcm_chunks, sample_rate, mp3, None if mp3 else path, mp3_bitrate=bitrate, aac_bitrate=bitrate)
        return None
    muxer, options, demuxer = _FORMATS[fmt]
    args = _pcm_input(sample_rate) + ["-af", _MP3_LEVEL if fmt == "mp3" else "anull"]
    args += ["-map", "0:a", "-map_metadata", "-1", "-map_chapters", "-1", *_codec(fmt, bitrate), *_BITEXACT]
    # The pipe's copy has no Xing frame to fill in (it cannot seek): a decoder does not need it.
    slave = "".join(f":{key}={value}" for key, value in options.items())
    tee = f"[f={muxer}{slave}]{_tee_escape(path)}|[f={muxer}]pipe:1"
    read_end, write_end = os.pipe()
    try:
        decode = ["-f", demuxer, "-i", "pipe:0", "-af", _REGROUP, *_PCM_OUT]
        decoder = Running(decode, stdin=read_end, stdout=subprocess.PIPE)
    except BaseException:
        os.close(write_end)
        raise
    finally:
        os.close(read_end)
    out = decoder.proc.stdout
    assert out is not None
    result: list[T] = []
    failed: list[BaseException] = []

    def consume() -> None:
        try:
            result.append(decoded(iter(lambda: out.read(1 << 20), b"")))
        except BaseException as exc:  # raised in the caller's thread below
            failed.append(exc)
        finally:
            while out.read(1 << 20):  # to the end, so the decoder never blocks on a full pipe
                pass

    reader = threading.Thread(target=consume, daemon=True)
    reader.start()
    try:
        stream_into(
            [*args, "-f", "tee", tee], pcm_chunks, loglevel="error", what="encode", path=path, stdout=write_end
        )
    except BaseException:
        os.close(write_end)
        decoder.kill()
        reader.join()
        raise
    os.close(write_end)  # the decoder sees the end of the stream
    reader.join()
    decoder.finish("decode", path)
    if failed:
        raise failed[0]
    return result[0]


def encode_pair(
    pcm_chunks: Iterable[bytes],
    sample_rate: int,
    mp3_path: StrPath | None,
    aac_path: StrPath | None,
    *,
    mp3_bitrate: str = "64k",
    aac_bitrate: str = "64k",
    aac_samples: int | None = None,
    lame_level: bool = True,
) -> None:
    """Encode streamed s16le mono PCM to an MP3 and an AAC stream in one ffmpeg run.

    The PCM is read once and the two encoders run side by side. Either output may
    be ``None``. The files are written straight to the paths given: pass
    temporary ones (:func:`audio_pipeline.fsutil.atomic_path`) and rename them
    once they pass whatever checks the caller makes.

    * MP3: as :func:`encode_mp3`. ``lame_level`` adds back the 0.446 dB
      that libmp3lame's bitstream loses, for PCM already at its target level.
    * AAC: AAC-LC as bare ADTS frames, which join by concatenation
      (:func:`audio_pipeline.media.aac.concat_adts`). ``aac_samples`` encodes only the
      first that many samples (e.g. a whole number of 1024-sample frames, trailing
      silence dropped, so joined pieces carry no padding).

    Deterministic like :func:`encode_mp3`. Raises :class:`EncodeError`.
    """
    if mp3_path is None and aac_path is None:
        raise ValueError("encode_pair needs at least one output")
    mp3_chain = _MP3_LEVEL if lame_level else "anull"
    aac_chain = "anull" if aac_samples is None else f"atrim=end_sample={int(aac_samples)}"
    args = _pcm_input(sample_rate)
    if mp3_path is not None and aac_path is not None:
        args += ["-filter_complex", f"[0:a]asplit=2[m][a];[m]{mp3_chain}[mo];[a]{aac_chain}[ao]"]
        maps = ["[mo]", "[ao]"]
    else:
        args += ["-af", mp3_chain if mp3_path is not None else aac_chain]
        maps = ["0:a", "0:a"]
    if mp3_path is not None:
        args += _output("mp3", maps[0], mp3_bitrate, mp3_path)
    if aac_path is not None:
        args += _output("aac", maps[1], aac_bitrate, aac_path)
    stream_into(args, pcm_chunks, loglevel="error", what="encode", path=mp3_path or aac_path)
