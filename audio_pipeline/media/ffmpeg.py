"""Locating and running the ffmpeg binary: to the end (:func:`run`), or streaming PCM
into it (:func:`stream_into`) or its output out of it (:func:`stream_from`).

Every ffmpeg failure raises :class:`EncodeError` with the tail of ffmpeg's stderr
(:class:`FfmpegUnavailable` when ffmpeg cannot be run at all); :func:`run` is the one
way to run ffmpeg to the end, for callers elsewhere too. What is asked of ffmpeg
(decode, encode, measure) is in :mod:`audio_pipeline.media.codec`. Encoded bytes are
reproducible for one ffmpeg build only (LAME writes its own version into MP3 frames),
so key caches on :func:`build_id` too.

Only the ``ffmpeg`` binary shipped by ``imageio-ffmpeg`` is assumed; there is no
ffprobe and nothing here needs one.
"""

from __future__ import annotations

import contextlib
import functools
import os
import subprocess
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO

from .types import EncodeError, FfmpegUnavailable, StrPath, path_str

__all__ = [
    "ffmpeg_exe",
    "build_id",
    "run",
    "stream_into",
    "stream_from",
    "stderr_tail",
]

#: Environment variable that overrides the ffmpeg binary.
FFMPEG_ENV = "AUDIO_PIPELINE_FFMPEG"

_BASE_ARGS = ("-hide_banner", "-nostdin")
_STDERR_TAIL_LINES = 8
_STDERR_KEEP_BYTES = 64 * 1024


def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary: ``$AUDIO_PIPELINE_FFMPEG`` or imageio-ffmpeg's copy."""
    override = os.environ.get(FFMPEG_ENV)
    if override:
        return override
    try:
        import imageio_ffmpeg
    except ImportError as exc:  # pragma: no cover - dependency of the project
        raise FfmpegUnavailable(f"imageio-ffmpeg is not installed and ${FFMPEG_ENV} is unset") from exc
    try:
        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except RuntimeError as exc:  # pragma: no cover - broken wheel
        raise FfmpegUnavailable(f"no usable ffmpeg: {exc}") from exc


@functools.cache
def build_id() -> str:
    """Encoded bytes are reproducible for one ffmpeg build, so the build is part of every
    build key. The binary's name and size identify it without running it (a no-op render
    stays fast)."""
    exe = Path(ffmpeg_exe())
    return f"{exe.name}:{exe.stat().st_size}"


def stderr_tail(stderr: bytes, lines: int = _STDERR_TAIL_LINES) -> str:
    """The last non-blank lines of ffmpeg's stderr, for an error message."""
    text = stderr.decode("utf-8", "replace").strip()
    kept = [line.rstrip() for line in text.splitlines() if line.strip()]
    return "\n".join(kept[-lines:]) if kept else "(no output on stderr)"


def _failure(what: str, rc: int, stderr: bytes, path: StrPath | None = None) -> EncodeError:
    return EncodeError(f"ffmpeg {what} failed (exit {rc}): {stderr_tail(stderr)}", path=path_str(path))


def _command(args: Sequence[str], loglevel: str) -> list[str]:
    return [ffmpeg_exe(), *_BASE_ARGS, "-loglevel", loglevel, *args]


def _cannot_start(cmd: Sequence[str], exc: OSError) -> FfmpegUnavailable:
    return FfmpegUnavailable(f"cannot run ffmpeg ({cmd[0]}): {exc}")


def run(
    args: Sequence[str],
    *,
    input: bytes | None = None,
    loglevel: str = "error",
    what: str = "call",
    path: StrPath | None = None,
    timeout: float | None = None,
) -> tuple[bytes, bytes]:
    """Run ``ffmpeg -hide_banner -nostdin -loglevel <loglevel> <args>`` to the end, with
    ``input`` on its stdin; return its (stdout, stderr).

    Raises :class:`FfmpegUnavailable` when ffmpeg cannot be started, and
    :class:`EncodeError` ("ffmpeg <what> failed", about ``path``) carrying the last
    lines of its stderr when it exits non-zero or runs past ``timeout`` seconds (it
    is killed then).
    """
    cmd = _command(args, loglevel)
    try:
        proc = subprocess.run(
            cmd,
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            check=False,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        raise EncodeError(
            f"ffmpeg {what} took longer than {timeout:g} s: {stderr_tail(exc.stderr or b'')}", path=path_str(path)
        ) from exc
    except OSError as exc:
        raise _cannot_start(cmd, exc) from exc
    if proc.returncode != 0:
        raise _failure(what, proc.returncode, proc.stderr, path)
    return proc.stdout, proc.stderr


def _popen(args: Sequence[str], loglevel: str, *, stdin: int, stdout: int) -> subprocess.Popen[bytes]:
    """Start ffmpeg with its stderr on a pipe (for a :class:`_Drain`), to stream through it."""
    cmd = _command(args, loglevel)
    try:
        return subprocess.Popen(cmd, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE)
    except OSError as exc:
        raise _cannot_start(cmd, exc) from exc


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


class Running:
    """ffmpeg started in the background on the file descriptors given, its stderr drained
    (a chatty process never blocks on it) and kept for the error :meth:`finish` raises."""

    def __init__(self, args: Sequence[str], *, stdin: int, stdout: int, loglevel: str = "error") -> None:
        self.proc = _popen(args, loglevel, stdin=stdin, stdout=stdout)
        assert self.proc.stderr is not None
        self._drain = _Drain(self.proc.stderr)
        self._drain.start()

    @property
    def stderr(self) -> bytes:
        """The last of what it wrote on stderr (all of it once it has ended)."""
        return self._drain.data

    def finish(self, what: str, path: StrPath | None = None) -> None:
        """Wait for the end; raise :class:`EncodeError` if it failed."""
        rc = self.proc.wait()
        self._drain.join()
        if rc != 0:
            raise _failure(what, rc, self._drain.data, path)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self._drain.join()


def stream_into(
    args: Sequence[str],
    chunks: Iterable[bytes],
    *,
    loglevel: str,
    what: str,
    path: StrPath | None = None,
    stdout: int = subprocess.DEVNULL,
) -> bytes:
    """Run ffmpeg reading raw PCM ``chunks`` on stdin; return its stderr.

    stdout is discarded, or goes to the file descriptor ``stdout`` (e.g. a pipe to
    another process). Never holds more than one chunk in memory. If the chunk
    iterable raises, ffmpeg is killed and the exception propagates.
    """
    ffmpeg = Running(args, stdin=subprocess.PIPE, stdout=stdout, loglevel=loglevel)
    stdin = ffmpeg.proc.stdin
    assert stdin is not None
    total = 0
    broken = False
    try:
        for chunk in chunks:
            if not chunk:
                continue
            total += len(chunk)
            try:
                stdin.write(chunk)
            except BrokenPipeError:
                broken = True  # ffmpeg died; its exit code and stderr say why
                break
        with contextlib.suppress(BrokenPipeError):
            stdin.close()
    except BaseException:
        ffmpeg.kill()
        raise
    ffmpeg.finish(what, path)
    if broken:  # pragma: no cover - ffmpeg exited 0 without reading everything
        raise EncodeError(f"ffmpeg {what} stopped reading its input early", path=path_str(path))
    if total % 2:
        raise EncodeError(f"odd number of PCM bytes ({total}) for s16le", path=path_str(path))
    if total == 0:
        raise EncodeError("no PCM samples to process", path=path_str(path))
    return ffmpeg.stderr


def stream_from(args: Sequence[str], *, size: int, what: str, path: StrPath | None = None) -> Iterator[bytes]:
    """Run ffmpeg (no stdin) and yield its stdout in chunks of up to ``size`` bytes:
    memory stays at one chunk however long the output is.

    ffmpeg's failure raises :class:`EncodeError` ("ffmpeg <what> failed", about ``path``)
    at the end of the stream; closing the generator early stops ffmpeg.
    """
    ffmpeg = Running(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    out = ffmpeg.proc.stdout
    assert out is not None
    try:
        while block := out.read(size):
            yield block
    except BaseException:  # closed early (GeneratorExit) or failed: stop ffmpeg
        out.close()
        ffmpeg.kill()
        raise
    out.close()
    ffmpeg.finish(what, path)
