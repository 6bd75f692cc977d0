"""Thin, typed wrappers around the ffmpeg binary: decode, encode, join, measure.

Everything here is a pure function of its inputs (no printing, no global state)
and every ffmpeg failure raises :class:`EncodeError` with the tail of ffmpeg's
stderr. Outputs are written through :func:`audio_pipeline.fsutil.atomic_path`,
so a failed call leaves no temporary file and the previous output untouched,
and they are byte-for-byte reproducible: the same PCM and arguments give the
same file (``-fflags +bitexact``, ``-flags:a +bitexact``: no creation time, no
Lavf/Lavc version tag). That holds for one ffmpeg build: LAME writes its own
version into MP3 frames, so key caches on :func:`ffmpeg_version` too.

Loudness: :func:`encode_normalized` is the one-call way to get -16 LUFS
integrated with true peak <= -1 dBTP with ffmpeg alone (measure, gain,
oversampled limiter, encode, verify: 3-5 passes over the audio). The pieces
(:func:`measure_pcm`, :func:`normalization_for`, :func:`encode` with
``normalize=``) are public for callers that need them. The renderer instead
levels PCM in-process (:mod:`audio_pipeline.loudness`) and encodes it once:
:func:`encode_pair` writes the MP3 and an AAC (ADTS) stream in one run.

Joins never re-encode, and need no ffmpeg: :mod:`audio_pipeline.mp3` joins MP3s,
:mod:`audio_pipeline.aac` joins the AAC pieces :func:`encode_pair` writes into an M4B.

PCM is always raw signed 16-bit little-endian mono ("s16le") at a sample rate
the caller states; :func:`encode` streams it into ffmpeg's stdin chunk by
chunk, so memory stays bounded however long the audio is.

Only the ``ffmpeg`` binary shipped by ``imageio-ffmpeg`` is assumed; there is no
ffprobe and nothing here needs one.
"""

from __future__ import annotations

import contextlib
import functools
import io
import math
import os
import re
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Literal

from audio_pipeline.errors import EncodeError
from audio_pipeline.fsutil import atomic_path

if TYPE_CHECKING:
    from pydub import AudioSegment

    from audio_pipeline.export.tags import Chapter

__all__ = [
    "EncodeError",
    "Loudness",
    "Normalization",
    "ffmpeg_exe",
    "ffmpeg_version",
    "run",
    "decode",
    "decode_stream",
    "encode",
    "encode_pair",
    "encode_normalized",
    "NormalizedEncode",
    "loudness",
    "measure_pcm",
    "loudnorm_gain",
    "plan_loudnorm",
    "normalization_for",
    "ffmetadata",
]

StrPath = str | os.PathLike[str]
Format = Literal["mp3", "m4a", "m4b"]

#: Environment variable that overrides the ffmpeg binary.
FFMPEG_ENV = "AUDIO_PIPELINE_FFMPEG"

_BASE_ARGS = ("-hide_banner", "-nostdin")
_BITEXACT = ("-fflags", "+bitexact", "-flags:a", "+bitexact")
_STDERR_TAIL_LINES = 8
_STDERR_KEEP_BYTES = 64 * 1024



# --------------------------------------------------------------------------- running


def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary: ``$AUDIO_PIPELINE_FFMPEG`` or imageio-ffmpeg's copy."""
    override = os.environ.get(FFMPEG_ENV)
    if override:
        return override
    try:
        import imageio_ffmpeg
    except ImportError as exc:  # pragma: no cover - dependency of the project
        raise EncodeError(f"imageio-ffmpeg is not installed and ${FFMPEG_ENV} is unset") from exc
    try:
        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except RuntimeError as exc:  # pragma: no cover - broken wheel
        raise EncodeError(f"no usable ffmpeg: {exc}") from exc


@functools.cache
def build_id() -> str:
    """Encoded bytes are reproducible for one ffmpeg build, so the build is part of every
    build key. The binary's name and size identify it without running it (a no-op render
    stays fast)."""
    exe = Path(ffmpeg_exe())
    return f"{exe.name}:{exe.stat().st_size}"


def ffmpeg_version() -> str:
    """First line of ``ffmpeg -version`` (e.g. for cache/build keys: output bytes
    are reproducible for one ffmpeg build, not across LAME/ffmpeg versions)."""
    out, _ = _run(["-version"], what="version query")
    return out.decode("utf-8", "replace").splitlines()[0].strip()


def _tail(stderr: bytes, lines: int = _STDERR_TAIL_LINES) -> str:
    text = stderr.decode("utf-8", "replace").strip()
    kept = [line.rstrip() for line in text.splitlines() if line.strip()]
    return "\n".join(kept[-lines:]) if kept else "(no output on stderr)"


def _failure(what: str, rc: int, stderr: bytes, path: StrPath | None = None) -> EncodeError:
    return EncodeError(
        f"ffmpeg {what} failed (exit {rc}): {_tail(stderr)}",
        path=None if path is None else os.fspath(path),
    )


def _command(args: Sequence[str], loglevel: str) -> list[str]:
    return [ffmpeg_exe(), *_BASE_ARGS, "-loglevel", loglevel, *args]


def _run(
    args: Sequence[str],
    *,
    input: bytes | None = None,
    loglevel: str = "error",
    what: str = "call",
    path: StrPath | None = None,
) -> tuple[bytes, bytes]:
    cmd = _command(args, loglevel)
    try:
        proc = subprocess.run(
            cmd,
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            check=False,
        )
    except OSError as exc:
        raise EncodeError(f"cannot run ffmpeg ({cmd[0]}): {exc}") from exc
    if proc.returncode != 0:
        raise _failure(what, proc.returncode, proc.stderr, path)
    return proc.stdout, proc.stderr


def run(args: list[str], *, input: bytes | None = None) -> bytes:
    """Run ``ffmpeg -hide_banner -nostdin -loglevel error <args>``; return its stdout.

    Raises :class:`EncodeError` carrying the last lines of stderr when ffmpeg
    cannot be started or exits non-zero.
    """
    stdout, _ = _run(args, input=input)
    return stdout


class _Drain(threading.Thread):
    """Read a pipe to EOF in the background, keeping only its last bytes."""

    def __init__(self, stream: IO[bytes], keep: int = _STDERR_KEEP_BYTES) -> None:
        super().__init__(daemon=True)
        self._stream = stream
        self._keep = keep
        self._buf = bytearray()

    def run(self) -> None:
        while True:
            block = self._stream.read(8192)
            if not block:
                break
            self._buf += block
            if len(self._buf) > 2 * self._keep:
                del self._buf[: len(self._buf) - self._keep]

    @property
    def data(self) -> bytes:
        return bytes(self._buf)


def _stream_into(
    args: Sequence[str],
    chunks: Iterable[bytes],
    *,
    loglevel: str,
    what: str,
    path: StrPath | None = None,
    pcm: bool = True,
) -> bytes:
    """Run ffmpeg reading raw PCM ``chunks`` on stdin; return its stderr.

    stdout is discarded. Never holds more than one chunk in memory. If the
    chunk iterable raises, ffmpeg is killed and the exception propagates.
    ``pcm=False``: the bytes are a stream of another kind (no s16le checks).
    """
    cmd = _command(args, loglevel)
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    except OSError as exc:
        raise EncodeError(f"cannot run ffmpeg ({cmd[0]}): {exc}") from exc
    assert proc.stdin is not None and proc.stderr is not None
    drain = _Drain(proc.stderr)
    drain.start()
    total = 0
    broken = False
    try:
        for chunk in chunks:
            if not chunk:
                continue
            total += len(chunk)
            try:
                proc.stdin.write(chunk)
            except BrokenPipeError:
                broken = True  # ffmpeg died; its exit code and stderr say why
                break
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.close()
    except BaseException:
        proc.kill()
        proc.wait()
        drain.join()
        raise
    rc = proc.wait()
    drain.join()
    if rc != 0:
        raise _failure(what, rc, drain.data, path)
    if broken:  # pragma: no cover - ffmpeg exited 0 without reading everything
        raise EncodeError(f"ffmpeg {what} stopped reading its input early", path=_p(path))
    if pcm and total % 2:
        raise EncodeError(f"odd number of PCM bytes ({total}) for s16le", path=_p(path))
    if total == 0:
        raise EncodeError("no PCM samples to process" if pcm else f"nothing to feed the {what}", path=_p(path))
    return drain.data


def _p(path: StrPath | None) -> str | None:
    return None if path is None else os.fspath(path)


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
    data, _ = _run(args, what="decode", path=src)
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
    # Decoders give frames of 576-1152 samples; regrouped, the rest of ffmpeg's
    # pipeline handles a few large frames (~15% less CPU on speech).
    regroup = "asetnsamples=n=32768:p=0"
    if len(sources) > 1:
        joined = "".join(f"[{i}:a]" for i in range(len(sources)))
        args += ["-filter_complex", f"{joined}concat=n={len(sources)}:v=0:a=1,{regroup}[all]", "-map", "[all]"]
    else:
        args += ["-af", regroup]
    args += ["-vn", "-ac", "1", "-c:a", "pcm_s16le", "-f", "s16le", "-"]
    src = sources[0]
    cmd = _command(args, "error")
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except OSError as exc:
        raise EncodeError(f"cannot run ffmpeg ({cmd[0]}): {exc}") from exc
    assert proc.stdout is not None and proc.stderr is not None
    drain = _Drain(proc.stderr)
    drain.start()
    finished = False
    try:
        while block := proc.stdout.read(size):
            yield block
        finished = True
    finally:
        if not finished:
            proc.kill()
        proc.stdout.close()
        rc = proc.wait()
        drain.join()
    if rc != 0:
        raise _failure("decode", rc, drain.data, src)


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


# --------------------------------------------------------------------------- metadata


def _escape_ffmeta(value: str) -> str:
    out = []
    for ch in value.replace("\r\n", "\n").replace("\r", "\n"):
        if ch in "=;#\\\n":
            out.append("\\")
        out.append(ch)
    return "".join(out)


_META_KEY = re.compile(r"^[A-Za-z0-9_\-]+$")


def ffmetadata(metadata: Mapping[str, str], chapters: Sequence[Chapter] = ()) -> str:
    """Render an ffmpeg ``;FFMETADATA1`` document (global tags and chapters).

    Values are escaped (``= ; # \\`` and newlines); keys must be plain
    identifiers. Chapter times are milliseconds (``TIMEBASE=1/1000``).
    """
    lines = [";FFMETADATA1"]
    for key, value in metadata.items():
        if not _META_KEY.match(key):
            raise ValueError(f"unsupported metadata key {key!r}")
        lines.append(f"{key}={_escape_ffmeta(str(value))}")
    previous_end = 0
    for ch in chapters:
        if ch.start_ms < previous_end or ch.end_ms < ch.start_ms:
            raise ValueError(f"chapters overlap or run backwards at {ch!r}")
        previous_end = ch.end_ms
        lines += [
            "[CHAPTER]",
            "TIMEBASE=1/1000",
            f"START={int(ch.start_ms)}",
            f"END={int(ch.end_ms)}",
            f"title={_escape_ffmeta(ch.title)}",
        ]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- loudness


@dataclass(frozen=True)
class Loudness:
    """EBU R128 measurement. ``-inf``/-70 values mean silence."""

    integrated_lufs: float
    true_peak_dbtp: float
    lra: float


@dataclass(frozen=True)
class Normalization:
    """What :func:`encode` applies: a linear gain, then (optionally) a true-peak limiter.

    ``ceiling_dbtp`` is the limiter's ceiling, applied on a 4x oversampled
    signal so inter-sample peaks are caught; ``None`` means no limiter.
    """

    gain_db: float
    ceiling_dbtp: float | None = None


_NUM = r"(-?(?:inf|\d+(?:\.\d+)?))"
_SUMMARY_I = re.compile(r"^\s*I:\s*" + _NUM + r"\s*LUFS", re.M)
_SUMMARY_LRA = re.compile(r"^\s*LRA:\s*" + _NUM + r"\s*LU\b", re.M)
_SUMMARY_PEAK = re.compile(r"^\s*Peak:\s*" + _NUM + r"\s*dBFS", re.M)


def _parse_ebur128(stderr: bytes, path: StrPath | None = None) -> Loudness:
    text = stderr.decode("utf-8", "replace")
    pos = text.rfind("Summary:")
    if pos < 0:
        raise EncodeError(f"no ebur128 summary in ffmpeg output: {_tail(stderr)}", path=_p(path))
    summary = text[pos:]
    found = [rx.search(summary) for rx in (_SUMMARY_I, _SUMMARY_PEAK, _SUMMARY_LRA)]
    if any(m is None for m in found):
        raise EncodeError(f"cannot parse ebur128 summary: {summary.strip()!r}", path=_p(path))
    i, tp, lra = (float(m.group(1)) for m in found if m is not None)
    return Loudness(integrated_lufs=i, true_peak_dbtp=tp, lra=lra)


_EBUR128 = "ebur128=peak=true:framelog=verbose"


def loudness(path: StrPath) -> Loudness:
    """Measure integrated loudness, true peak and loudness range of a file."""
    src = Path(path)
    if not src.is_file():
        raise EncodeError("no such audio file", path=str(src))
    _, stderr = _run(
        ["-nostats", "-i", str(src), "-vn", "-af", _EBUR128, "-f", "null", "-"],
        loglevel="info",
        what="loudness measurement",
        path=src,
    )
    return _parse_ebur128(stderr, src)


def measure_pcm(pcm_chunks: Iterable[bytes], sample_rate: int, *, normalize: Normalization | None = None) -> Loudness:
    """Measure raw s16le mono PCM streamed in chunks.

    With ``normalize``, measure what :func:`encode` would feed its encoder
    (gain and limiter applied), without encoding.
    """
    chain = _filter_chain(sample_rate, normalize, None)
    chain = f"{chain},{_EBUR128}" if chain else _EBUR128
    stderr = _stream_into(
        ["-nostats", *_pcm_input(sample_rate), "-af", chain, "-f", "null", "-"],
        pcm_chunks,
        loglevel="info",
        what="loudness measurement",
    )
    return _parse_ebur128(stderr)


#: Below this, ebur128's gate let nothing through: treat as silence.
_SILENCE_LUFS = -69.0


def loudnorm_gain(measured: Loudness, *, target_lufs: float = -16.0, max_gain_db: float = 30.0) -> float:
    """Linear gain in dB that moves ``measured`` to ``target_lufs`` (0 for silence)."""
    i = measured.integrated_lufs
    if not math.isfinite(i) or i <= _SILENCE_LUFS:
        return 0.0
    return max(-max_gain_db, min(max_gain_db, target_lufs - i))


def plan_loudnorm(
    measured: Loudness,
    *,
    target_lufs: float = -16.0,
    max_true_peak_dbtp: float = -1.0,
    headroom_db: float = 1.0,
) -> Normalization:
    """Gain to reach ``target_lufs`` plus a limiter if peaks would pass the ceiling.

    The limiter ceiling sits ``headroom_db`` below ``max_true_peak_dbtp``:
    resampling back and lossy encoding add overshoot (measured on speech at
    64 kbit/s: up to 1.0 dB for MP3, 0.5 dB for AAC).

    One measurement only: when the limiter engages it also takes loudness
    away (0.4-1.5 LU measured), so prefer :func:`normalization_for`, which
    measures the processed signal and corrects the gain.
    """
    gain = loudnorm_gain(measured, target_lufs=target_lufs)
    ceiling = max_true_peak_dbtp - headroom_db
    peak_after = measured.true_peak_dbtp + gain
    needs_limiter = math.isfinite(peak_after) and peak_after > ceiling
    return Normalization(gain_db=round(gain, 2), ceiling_dbtp=ceiling if needs_limiter else None)


def normalization_for(
    pcm_source: Callable[[], Iterable[bytes]],
    sample_rate: int,
    *,
    target_lufs: float = -16.0,
    max_true_peak_dbtp: float = -1.0,
    headroom_db: float = 1.0,
    tolerance_lu: float = 0.2,
    max_passes: int = 4,
) -> Normalization:
    """Loudness plan for PCM that ``pcm_source()`` yields afresh on every call.

    Pass 1 measures the PCM and plans gain + limiter (:func:`plan_loudnorm`).
    If the limiter engages it takes some loudness away with the peaks, so
    further passes (at most ``max_passes`` in all) measure the processed
    signal and correct the gain (secant steps) until it is within
    ``tolerance_lu`` of the target. Each pass runs ffmpeg over the PCM at
    roughly 100x real time; speech usually needs two. Give the result to
    :func:`encode` (``normalize=``).
    """
    measured = measure_pcm(pcm_source(), sample_rate)
    plan = plan_loudnorm(
        measured,
        target_lufs=target_lufs,
        max_true_peak_dbtp=max_true_peak_dbtp,
        headroom_db=headroom_db,
    )
    if plan.ceiling_dbtp is None or plan.gain_db == 0.0:
        return plan
    ceiling = plan.ceiling_dbtp
    points: list[tuple[float, float]] = []  # (gain, loudness after the chain)
    gain = plan.gain_db
    best = plan
    best_error = math.inf
    for _ in range(max(1, max_passes - 1)):
        candidate = Normalization(gain_db=round(gain, 2), ceiling_dbtp=ceiling)
        after = measure_pcm(pcm_source(), sample_rate, normalize=candidate)
        if not math.isfinite(after.integrated_lufs) or after.integrated_lufs <= _SILENCE_LUFS:
            return plan
        error = target_lufs - after.integrated_lufs
        if abs(error) < best_error:
            best, best_error = candidate, abs(error)
        if abs(error) <= tolerance_lu:
            break
        points.append((candidate.gain_db, after.integrated_lufs))
        slope = 1.0
        if len(points) >= 2:
            (g0, l0), (g1, l1) = points[-2], points[-1]
            if g1 != g0:
                # Limiting flattens the curve; keep the step sane.
                slope = min(1.0, max(0.1, (l1 - l0) / (g1 - g0)))
        gain = min(candidate.gain_db + error / slope, plan.gain_db + 12.0)
    return best


#: libmp3lame's bitstream plays 0.95x (-0.446 dB) the level of its input: measured
#: with ffmpeg's float and fixed decoders and with mpg123, at every level and
#: bitrate tried. Normalised MP3s get this back after the limiter.
_LAME_LEVEL_DB = -20 * math.log10(0.95)


def _filter_chain(
    sample_rate: int,
    norm: Normalization | None,
    out_rate: int | None,
    *,
    makeup_db: float = 0.0,
) -> str:
    filters: list[str] = []
    if norm is not None:
        if norm.gain_db:
            filters.append(f"volume={norm.gain_db:.2f}dB:precision=double")
        if norm.ceiling_dbtp is not None:
            limit = 10 ** (norm.ceiling_dbtp / 20)
            if not 0.0625 <= limit <= 1.0:
                raise ValueError(f"limiter ceiling {norm.ceiling_dbtp} dBTP out of range")
            filters += [
                f"aresample={sample_rate * 4}",
                # level=0: no auto make-up gain; latency=1: no added delay.
                f"alimiter=limit={limit:.6f}:attack=5:release=50:level=0:latency=1",
                f"aresample={out_rate or sample_rate}",
            ]
    if out_rate and not (norm and norm.ceiling_dbtp is not None):
        filters.append(f"aresample={out_rate}")
    if norm is not None and makeup_db:
        filters.append(f"volume={makeup_db:.4f}dB:precision=double")
    return ",".join(filters)


# --------------------------------------------------------------------------- encode


def _pcm_input(sample_rate: int) -> list[str]:
    if sample_rate <= 0:
        raise ValueError(f"bad sample rate {sample_rate}")
    return ["-f", "s16le", "-ar", str(int(sample_rate)), "-ac", "1", "-i", "pipe:0"]


def encode(
    pcm_chunks: Iterable[bytes],
    sample_rate: int,
    out_path: StrPath,
    fmt: Format,
    *,
    bitrate: str = "64k",
    chapters: Sequence[Chapter] = (),
    metadata: Mapping[str, str] | None = None,
    normalize: Normalization | None = None,
    out_rate: int | None = None,
    postprocess: Callable[[Path], None] | None = None,
) -> Path:
    """Encode streamed s16le mono PCM to ``out_path`` (MP3 or AAC in MP4).

    * ``fmt="mp3"``: libmp3lame CBR, Xing/LAME header (gapless info), no ID3 tag.
      ``chapters``/``metadata`` are refused: tag MP3s with
      :func:`audio_pipeline.export.tags.tag_mp3`, or in-place on the temporary
      file via ``postprocess`` so the final file appears already tagged.
    * ``fmt="m4a"``/``"m4b"``: AAC-LC, ``+faststart``; ``metadata`` (e.g.
      ``title``, ``album``, ``artist``, ``date``, ``track``, ``comment``,
      ``genre``) and ``chapters`` (QuickTime chapter track + Nero ``chpl``)
      go through an ffmetadata file.

    ``normalize`` (from :func:`normalization_for`) applies gain and a
    true-peak limiter while encoding; for MP3 it also adds back the 0.446 dB
    that libmp3lame's bitstream loses. ``out_rate`` resamples. ``postprocess``
    is called with the finished temporary file before it is renamed into
    place. Returns the output path. Deterministic: same PCM + arguments give
    identical bytes. Raises :class:`EncodeError` (ffmpeg failed, or no/odd
    PCM); an exception from ``pcm_chunks`` kills ffmpeg and propagates.
    """
    out = Path(out_path)
    if fmt not in ("mp3", "m4a", "m4b"):
        raise ValueError(f"unsupported format {fmt!r}")
    meta = dict(metadata or {})
    if fmt == "mp3" and (chapters or meta):
        raise ValueError("MP3 tags and chapters are written by export.tags.tag_mp3")

    with contextlib.ExitStack() as stack:
        args = _pcm_input(sample_rate)
        if fmt == "mp3":
            args += ["-map", "0:a", "-map_metadata", "-1", "-map_chapters", "-1"]
        else:
            tmpdir = stack.enter_context(tempfile.TemporaryDirectory(prefix="ap-ffmeta-"))
            meta_file = Path(tmpdir) / "meta.txt"
            meta_file.write_text(ffmetadata(meta, chapters), encoding="utf-8")
            args += ["-f", "ffmetadata", "-i", str(meta_file)]
            args += ["-map", "0:a", "-map_metadata", "1", "-map_chapters", "1"]
        makeup = _LAME_LEVEL_DB if fmt == "mp3" else 0.0
        chain = _filter_chain(sample_rate, normalize, out_rate, makeup_db=makeup)
        if chain:
            args += ["-af", chain]
        if fmt == "mp3":
            args += ["-c:a", "libmp3lame", "-b:a", bitrate, "-write_xing", "1"]
            args += ["-id3v2_version", "0", "-f", "mp3"]
        else:
            # The default "twoloop" coder clipped speech transients by +3.5 dB at
            # 64 kbit/s (measured); "fast" did not, and is 5-8x quicker.
            args += ["-c:a", "aac", "-aac_coder", "fast", "-b:a", bitrate]
            args += ["-movflags", "+faststart", "-f", "mp4"]
        # Output options (after every -i): no encoder version, no creation time.
        args += _BITEXACT
        tmp = stack.enter_context(atomic_path(out))
        _stream_into([*args, "-y", str(tmp)], pcm_chunks, loglevel="error", what="encode", path=out)
        if postprocess is not None:
            postprocess(tmp)
    return out


@dataclass(frozen=True)
class NormalizedEncode:
    """What :func:`encode_normalized` did, and what the output measures."""

    path: Path
    normalization: Normalization
    measured: Loudness  # of the encoded file, decoded back
    attempts: int


#: Limiter ceiling below the true-peak limit, per codec: lossy coding adds
#: overshoot. Measured on 10 min of espeak Mandarin at 64 kbit/s: MP3 up to
#: +1.0 dB over the ceiling, AAC ("fast" coder) up to +0.5 dB.
_HEADROOM_DB = {"mp3": 1.5, "m4a": 1.0, "m4b": 1.0}


def encode_normalized(
    pcm_source: Callable[[], Iterable[bytes]],
    sample_rate: int,
    out_path: StrPath,
    fmt: Format,
    *,
    target_lufs: float = -16.0,
    max_true_peak_dbtp: float = -1.0,
    max_attempts: int = 3,
    bitrate: str = "64k",
    chapters: Sequence[Chapter] = (),
    metadata: Mapping[str, str] | None = None,
    out_rate: int | None = None,
    postprocess: Callable[[Path], None] | None = None,
) -> NormalizedEncode:
    """Plan (:func:`normalization_for`), :func:`encode`, then measure the result.

    ``pcm_source()`` must yield the same PCM afresh on every call (it is read
    2-4 times to plan, once per encode). If the encoded file's true peak is
    still above ``max_true_peak_dbtp`` (codec overshoot), the limiter ceiling
    is lowered by the excess plus 0.3 dB and the file encoded again, at most
    ``max_attempts`` times; the last result is kept either way and reported in
    ``measured``, so callers can decide. Other arguments are :func:`encode`'s.
    """
    headroom = _HEADROOM_DB[fmt]

    def plan_for(headroom_db: float) -> Normalization:
        return normalization_for(
            pcm_source,
            sample_rate,
            target_lufs=target_lufs,
            max_true_peak_dbtp=max_true_peak_dbtp,
            headroom_db=headroom_db,
        )

    plan = plan_for(headroom)
    out = Path(out_path)
    with atomic_path(out) as trial:
        attempts = 0
        while True:
            attempts += 1
            encode(
                pcm_source(),
                sample_rate,
                trial,
                fmt,
                bitrate=bitrate,
                chapters=chapters,
                metadata=metadata,
                normalize=plan,
                out_rate=out_rate,
            )
            measured = loudness(trial)
            excess = measured.true_peak_dbtp - max_true_peak_dbtp
            if excess <= 0 or attempts >= max_attempts:
                break
            headroom += excess + 0.3
            if plan.ceiling_dbtp is None:
                # Peaks were under the ceiling before encoding: the codec alone
                # overshot. Keep the gain, switch the limiter on lower down.
                plan = Normalization(plan.gain_db, max_true_peak_dbtp - headroom)
            else:
                plan = plan_for(headroom)
        if postprocess is not None:
            postprocess(trial)
    return NormalizedEncode(path=out, normalization=plan, measured=measured, attempts=attempts)


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

    * MP3: as :func:`encode` ``fmt="mp3"``. ``lame_level`` adds back the 0.446 dB
      that libmp3lame's bitstream loses, for PCM already at its target level.
    * AAC: AAC-LC as :func:`encode` ``fmt="m4a"``, but as bare ADTS frames, which
      join by concatenation (:func:`audio_pipeline.aac.concat_adts`). ``aac_samples`` encodes only the
      first that many samples (e.g. a whole number of 1024-sample frames, trailing
      silence dropped, so joined pieces carry no padding).

    Deterministic like :func:`encode`. Raises :class:`EncodeError`.
    """
    if mp3_path is None and aac_path is None:
        raise ValueError("encode_pair needs at least one output")
    mp3_chain = f"volume={_LAME_LEVEL_DB:.4f}dB:precision=double" if lame_level else "anull"
    aac_chain = "anull" if aac_samples is None else f"atrim=end_sample={int(aac_samples)}"
    args = _pcm_input(sample_rate)
    if mp3_path is not None and aac_path is not None:
        args += ["-filter_complex", f"[0:a]asplit=2[m][a];[m]{mp3_chain}[mo];[a]{aac_chain}[ao]"]
        maps = ["[mo]", "[ao]"]
    else:
        args += ["-af", mp3_chain if mp3_path is not None else aac_chain]
        maps = ["0:a", "0:a"]
    if mp3_path is not None:
        args += ["-map", maps[0], "-map_metadata", "-1", "-map_chapters", "-1"]
        args += ["-c:a", "libmp3lame", "-b:a", mp3_bitrate, "-write_xing", "1", "-id3v2_version", "0"]
        args += [*_BITEXACT, "-f", "mp3", "-y", os.fspath(mp3_path)]
    if aac_path is not None:
        args += ["-map", maps[1], "-map_metadata", "-1", "-map_chapters", "-1"]
        args += ["-c:a", "aac", "-aac_coder", "fast", "-b:a", aac_bitrate]
        args += [*_BITEXACT, "-f", "adts", "-y", os.fspath(aac_path)]
    _stream_into(args, pcm_chunks, loglevel="error", what="encode", path=mp3_path or aac_path)
