"""Microsoft Edge's online neural voices, through the ``edge-tts`` package.

One ``edge_tts.Communicate`` per paragraph (a Communicate streams only once, so every
try builds new ones). The service answers with MP3 (24 kHz mono, 48 kbit/s) plus
SentenceBoundary events whose offsets are in 100-ns ticks; the MP3 is decoded to 16-bit
PCM with the ffmpeg the rest of the pipeline runs (:func:`audio_pipeline.media.ffmpeg.ffmpeg_exe`:
``$AUDIO_PIPELINE_FFMPEG`` or imageio-ffmpeg's static build; there is no ffprobe, so pydub
cannot read MP3).

Each call runs its own event loop (``asyncio.run``), so the engine can be used from
several worker threads at once. Failures are mapped onto the pipeline's errors so that
``synthesize_with_retry`` can decide: network trouble, timeouts, HTTP 5xx and "no audio"
are transient; HTTP 403 means the library is out of date and stops the run.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import math
import threading
from collections.abc import AsyncGenerator, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, TypeVar

import aiohttp
import edge_tts
from edge_tts import exceptions as edge_errors
from pydub import AudioSegment

from ..errors import ConfigError, EngineError, PipelineError, SynthesisError
from ..media import ffmpeg
from ..media.types import EncodeError, FfmpegUnavailable
from ..model import ClipRequest, Mark, Synthesis, VoiceSpec
from .edge_voices import EDGE_VOICES

OUTPUT_FORMAT = "audio-24khz-48kbitrate-mono-mp3"
SAMPLE_RATE = 24_000
SAMPLE_WIDTH = 2  # bytes: signed 16-bit
TICKS_PER_SECOND = 10_000_000  # boundary offsets and durations are in 100-ns units
# Bump when this module changes what it makes of the same service output.
ENGINE_REVISION = 1
EDGE_TTS_VERSION: str = edge_tts.__version__

PREFLIGHT_TEXT = "你好"
PREFLIGHT_VOICE = "zh-CN-XiaoxiaoNeural"

UPGRADE_MESSAGE = (
    f"edge service refused the request (HTTP 403); edge-tts {EDGE_TTS_VERSION} probably "
    "needs upgrading: pip install -U edge-tts"
)

T = TypeVar("T")


class Streamer(Protocol):
    """What the engine needs from ``edge_tts.Communicate``: one ``stream()`` call."""

    def stream(self) -> AsyncGenerator[Any, None]: ...


# Called like ``edge_tts.Communicate(text, voice, rate=..., volume=..., pitch=...,
# boundary=..., connect_timeout=..., receive_timeout=..., proxy=...)``.
CommunicateFactory = Callable[..., Streamer]


@dataclass(frozen=True)
class _Boundary:
    offset: int  # 100-ns ticks from the start of the paragraph's audio
    duration: int
    text: str


@dataclass(frozen=True)
class _Fetched:
    mp3: bytes
    boundaries: tuple[_Boundary, ...]


class EdgeEngine:
    """The edge-tts engine. Thread-safe: every call builds its own loop and connections."""

    name: ClassVar[str] = "edge"
    default_jobs: int = 4

    def __init__(
        self,
        *,
        connect_timeout: float = 10,
        receive_timeout: float = 60,
        total_timeout: float | None = 300.0,
        proxy: str | None = None,
        communicate_factory: CommunicateFactory | None = None,
    ) -> None:
        """``connect_timeout``/``receive_timeout`` go to edge-tts (whole seconds: it
        refuses floats); ``total_timeout`` bounds one paragraph's whole exchange.
        ``communicate_factory`` replaces ``edge_tts.Communicate`` (tests)."""
        self.connect_timeout = _whole_seconds("connect_timeout", connect_timeout)
        self.receive_timeout = _whole_seconds("receive_timeout", receive_timeout)
        if total_timeout is not None and not _positive_number(total_timeout):
            raise ConfigError(f"edge: total_timeout must be a positive number, not {total_timeout!r}")
        self.total_timeout = None if total_timeout is None else float(total_timeout)
        if proxy is not None and not isinstance(proxy, str):
            raise ConfigError(f"edge: proxy must be a URL string, not {proxy!r}")
        self.proxy = proxy
        self._factory = communicate_factory
        # The audio comes from the service, not the library: upgrading edge-tts (the cure
        # for 403 waves) must not invalidate every cached clip, so its version stays out.
        self.version = f"edge/{ENGINE_REVISION} {OUTPUT_FORMAT}"

    # -- the Engine protocol -------------------------------------------------------

    def synthesize(self, request: ClipRequest) -> Synthesis:
        spec = request.spec
        texts = [_join_sentences(p) for p in request.paragraphs]
        if not any(texts):
            raise SynthesisError("edge: nothing to speak (every paragraph is empty)")
        try:
            fetched = _run(self._fetch_all(spec, texts))
        except PipelineError:
            raise
        except Exception as exc:
            mapped = classify_error(exc, spec.voice)
            if mapped is None:
                raise
            raise mapped from exc
        return _assemble(texts, fetched)

    # -- internals -------------------------------------------------------------------

    async def _fetch_all(self, spec: VoiceSpec, texts: list[str]) -> list[_Fetched | None]:
        # Paragraphs go one after another: a worker holds one connection at a time.
        results: list[_Fetched | None] = []
        for text in texts:
            results.append(await self._fetch(spec, text) if text else None)
        return results

    async def _fetch(self, spec: VoiceSpec, text: str) -> _Fetched:
        communicate = self._communicate(spec, text)
        audio = bytearray()
        boundaries: list[_Boundary] = []
        async with asyncio.timeout(self.total_timeout):
            async for chunk in communicate.stream():
                kind = chunk.get("type")
                if kind == "audio":
                    audio += chunk["data"]
                elif kind == "SentenceBoundary":
                    boundaries.append(
                        _Boundary(
                            offset=int(chunk["offset"]),
                            duration=int(chunk["duration"]),
                            text=str(chunk["text"]),
                        )
                    )
        if not audio:
            raise edge_errors.NoAudioReceived("the stream ended without audio")
        return _Fetched(bytes(audio), tuple(boundaries))

    def _communicate(self, spec: VoiceSpec, text: str) -> Streamer:
        factory: CommunicateFactory = self._factory or edge_tts.Communicate
        try:
            return factory(
                text,
                spec.voice,
                rate=spec.rate,
                volume=spec.volume,
                pitch=spec.pitch,
                boundary="SentenceBoundary",
                connect_timeout=self.connect_timeout,
                receive_timeout=self.receive_timeout,
                proxy=self.proxy,
            )
        except (ValueError, TypeError) as exc:
            # edge-tts validates voice/rate/volume/pitch in its constructor.
            raise ConfigError(
                f"edge: invalid voice settings (voice={spec.voice!r}, rate={spec.rate!r}, "
                f"volume={spec.volume!r}, pitch={spec.pitch!r}): {exc}"
            ) from exc


# -- error mapping -----------------------------------------------------------------------


def _http_status(exc: BaseException) -> int | None:
    if isinstance(exc, aiohttp.ClientResponseError):
        return exc.status
    # edge-tts answers a 403 by adjusting its clock skew from the response's Date header
    # and trying again; without that header it raises SkewAdjustmentError from the 403.
    cause = exc.__cause__
    if isinstance(exc, edge_errors.SkewAdjustmentError) and isinstance(cause, aiohttp.ClientResponseError):
        return cause.status
    return None


def describe(exc: BaseException) -> str:
    """A short one-line description of a network or library error."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        # str() would include the repr of an SSLContext object.
        return f"Cannot connect to host {exc.host}:{exc.port} [{exc.strerror or exc.os_error}]"
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def classify_error(exc: BaseException, voice: str) -> PipelineError | None:
    """Map an exception from edge-tts/aiohttp to the pipeline's errors; None if unknown
    (a bug: the caller re-raises it untouched)."""
    status = _http_status(exc)
    if status == 403:
        return EngineError(UPGRADE_MESSAGE)
    if status is not None:
        message = getattr(exc, "message", "") or getattr(exc.__cause__, "message", "")
        return SynthesisError(
            f"edge service answered HTTP {status} {message}".rstrip(),
            transient=status >= 500 or status in (408, 429),
        )
    if isinstance(exc, edge_errors.NoAudioReceived):
        if voice not in EDGE_VOICES:
            return ConfigError(
                f"edge voice {voice!r} gave no audio and is not a known edge voice; check "
                "the name with `edge-tts --list-voices` (many Azure voices are not offered "
                "by the edge service)"
            )
        return SynthesisError("edge service sent no audio", transient=True)
    if isinstance(exc, TimeoutError):  # asyncio.TimeoutError, aiohttp.ServerTimeoutError, ...
        return SynthesisError(f"edge service timed out ({describe(exc)})", transient=True)
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return SynthesisError(f"no network: {describe(exc)}", transient=True)
    if isinstance(exc, aiohttp.ClientError | edge_errors.EdgeTTSException | OSError):
        # Dropped connections, WebSocket errors, unexpected frames: worth another try.
        return SynthesisError(f"edge connection failed: {describe(exc)}", transient=True)
    return None


# -- decoding and assembling ---------------------------------------------------------------


def decode_mp3(data: bytes) -> bytes:
    """Decode MP3 bytes to raw signed 16-bit little-endian mono PCM at 24 kHz."""
    args = [
        "-f", "mp3", "-i", "pipe:0",
        "-vn", "-f", "s16le", "-acodec", "pcm_s16le",
        "-ac", "1", "-ar", str(SAMPLE_RATE),
        "pipe:1",
    ]  # fmt: skip
    try:
        pcm, _ = ffmpeg.run(args, input=data, what="decode of the edge MP3", timeout=300)
    except FfmpegUnavailable as exc:  # a broken install: no retry helps
        raise EngineError(exc.message) from exc
    except EncodeError as exc:
        # The bytes came over the network: a corrupt (or stalled) stream may decode on the next try.
        raise SynthesisError(exc.message, transient=True) from exc
    return pcm[: len(pcm) - len(pcm) % SAMPLE_WIDTH]


def _frames_to_ms(frames: int) -> int:
    return round(frames * 1000 / SAMPLE_RATE)


def _assemble(texts: list[str], fetched: list[_Fetched | None]) -> Synthesis:
    pcm = bytearray()
    marks: list[Mark] = []
    for index, (text, item) in enumerate(zip(texts, fetched, strict=True)):
        if item is None:
            continue
        start_ms = _frames_to_ms(len(pcm) // SAMPLE_WIDTH)
        pcm += decode_mp3(item.mp3)
        end_ms = _frames_to_ms(len(pcm) // SAMPLE_WIDTH)
        length = end_ms - start_ms
        if not item.boundaries:
            marks.append(Mark(index, text, start_ms, end_ms))
            continue
        for b in item.boundaries:
            begin = min(length, max(0, round(b.offset * 1000 / TICKS_PER_SECOND)))
            end = min(length, max(begin, round((b.offset + b.duration) * 1000 / TICKS_PER_SECOND)))
            marks.append(Mark(index, b.text, start_ms + begin, start_ms + end))
    audio = AudioSegment(data=bytes(pcm), sample_width=SAMPLE_WIDTH, frame_rate=SAMPLE_RATE, channels=1)
    return Synthesis(audio=audio, marks=tuple(marks))


def _join_sentences(sentences: tuple[str, ...]) -> str:
    """Join a paragraph's sentences; a space only between Latin-script neighbours."""
    out = ""
    for raw in sentences:
        sentence = raw.strip()
        if not sentence:
            continue
        if out and out[-1].isascii() and sentence[0].isascii():
            out += " "
        out += sentence
    return out


# -- running coroutines from worker threads ---------------------------------------------


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on a fresh event loop; in a thread of its own if this thread already
    runs a loop (``asyncio.run`` refuses to nest)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _positive_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def _whole_seconds(name: str, value: object) -> int:
    if not _positive_number(value):
        raise ConfigError(f"edge: {name} must be a positive number of seconds, not {value!r}")
    assert isinstance(value, int | float)
    return max(1, math.ceil(value))


# -- pre-flight ------------------------------------------------------------------------------


def preflight(timeout: float = 3.0, *, communicate_factory: CommunicateFactory | None = None) -> str | None:
    """Try a tiny synthesis. None when the service answered with audio within ``timeout``
    seconds, else a one-line reason. Never raises for network trouble.

    The probe runs in a daemon thread that is abandoned after the deadline, so even a
    resolver that hangs (``asyncio.run`` waits for its executor threads) cannot hold the
    caller up.
    """
    outcome: list[str | None] = []

    def probe() -> None:
        try:
            outcome.append(asyncio.run(_probe(timeout, communicate_factory)))
        except Exception as exc:  # never let a probe failure escape
            outcome.append(_reason(exc, timeout))

    worker = threading.Thread(target=probe, name="edge-preflight", daemon=True)
    worker.start()
    worker.join(timeout + 0.5)
    if worker.is_alive() or not outcome:
        return f"timed out after {timeout:g} s"
    return outcome[0]


async def _probe(timeout: float, factory: CommunicateFactory | None) -> str | None:
    seconds = max(1, math.ceil(timeout))
    make: CommunicateFactory = factory or edge_tts.Communicate
    try:
        async with asyncio.timeout(timeout):
            communicate = make(
                PREFLIGHT_TEXT,
                PREFLIGHT_VOICE,
                boundary="SentenceBoundary",
                connect_timeout=seconds,
                receive_timeout=seconds,
            )
            async with contextlib.aclosing(communicate.stream()) as stream:
                async for chunk in stream:
                    if chunk.get("type") == "audio" and chunk.get("data"):
                        return None
        return "the edge service answered without audio"
    except Exception as exc:
        return _reason(exc, timeout)


def _reason(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"timed out after {timeout:g} s"
    mapped = classify_error(exc, PREFLIGHT_VOICE)
    if mapped is not None:
        return mapped.message
    return describe(exc)
