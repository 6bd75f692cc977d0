"""The edge engine against a stand-in Communicate that streams real MP3 audio.

Nothing here needs the internet except the opt-in ``live`` test
(AUDIO_PIPELINE_LIVE=1) and ``preflight`` on the real network stack, which only has
to answer quickly either way.
"""

from __future__ import annotations

import asyncio
import functools
import os
import random
import subprocess
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import aiohttp
import edge_tts
import pytest
from aiohttp.client_reqrep import ConnectionKey, RequestInfo
from edge_tts.exceptions import NoAudioReceived, SkewAdjustmentError, WebSocketError
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from audio_pipeline.engines.base import synthesize_with_retry
from audio_pipeline.engines.edge import (
    OUTPUT_FORMAT,
    EdgeEngine,
    decode_mp3,
    preflight,
)
from audio_pipeline.errors import ConfigError, EngineError, SynthesisError
from audio_pipeline.media.ffmpeg import ffmpeg_exe
from audio_pipeline.model import ClipRequest, Mark, VoiceSpec

TICKS_PER_MS = 10_000

Chunk = dict[str, Any]
Behaviour = Callable[[str], AsyncIterator[Chunk]]


# -- real MP3 audio, made with the same ffmpeg the engine decodes with ----------------------


@functools.cache
def mp3(seconds: float) -> bytes:
    """A sine tone encoded like the service's output: MP3, 24 kHz mono, 48 kbit/s."""
    cmd = [
        ffmpeg_exe(), "-hide_banner", "-loglevel", "error",
        "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=24000:duration={seconds}",
        "-ac", "1", "-ar", "24000", "-c:a", "libmp3lame", "-b:a", "48k", "-f", "mp3", "pipe:1",
    ]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, check=True).stdout
    assert len(out) > 1000
    return out


def decoded_ms(data: bytes) -> float:
    return len(decode_mp3(data)) / 2 / 24_000 * 1000


# -- the stand-in for edge_tts.Communicate ----------------------------------------------------


class FakeCommunicate:
    def __init__(self, text: str, voice: str, kwargs: dict[str, Any], behaviour: Behaviour):
        self.text = text
        self.voice = voice
        self.kwargs = kwargs
        self.behaviour = behaviour
        self.stream_calls = 0

    async def stream(self) -> AsyncGenerator[Chunk, None]:
        self.stream_calls += 1
        if self.stream_calls > 1:  # like the real one
            raise RuntimeError("stream can only be called once.")
        async for chunk in self.behaviour(self.text):
            yield chunk


class FakeService:
    """A Communicate factory: each new Communicate takes the next behaviour in line
    (the last one repeats)."""

    def __init__(self, *behaviours: Behaviour) -> None:
        assert behaviours
        self._line = list(behaviours)
        self._lock = threading.Lock()
        self.created: list[FakeCommunicate] = []

    def __call__(self, text: str, voice: str, **kwargs: Any) -> FakeCommunicate:
        with self._lock:
            behaviour = self._line.pop(0) if len(self._line) > 1 else self._line[0]
            comm = FakeCommunicate(text, voice, kwargs, behaviour)
            self.created.append(comm)
        return comm


def speak(
    audio: bytes,
    sentences: Sequence[tuple[int, int, str]] = (),
    *,
    pause: float = 0.0,
) -> Behaviour:
    """Stream ``audio`` in pieces, with a SentenceBoundary (start ms, length ms, text)
    before the piece it falls in, as the service does."""

    async def run(text: str) -> AsyncIterator[Chunk]:
        pending = list(sentences)
        piece = 1200
        for i in range(0, len(audio), piece):
            while pending and i >= pending[0][0] * 6:  # 48 kbit/s = 6 bytes per ms
                start, length, words = pending.pop(0)
                yield {
                    "type": "SentenceBoundary",
                    "offset": start * TICKS_PER_MS,
                    "duration": length * TICKS_PER_MS,
                    "text": words,
                }
            yield {"type": "audio", "data": audio[i : i + piece]}
            await asyncio.sleep(pause)
        for start, length, words in pending:
            yield {
                "type": "SentenceBoundary",
                "offset": start * TICKS_PER_MS,
                "duration": length * TICKS_PER_MS,
                "text": words,
            }

    return run


def fail(exc: BaseException, *, after_audio: bool = False) -> Behaviour:
    async def run(text: str) -> AsyncIterator[Chunk]:
        if after_audio:
            yield {"type": "audio", "data": mp3(0.5)[:600]}
        await asyncio.sleep(0)
        raise exc

    return run


def hang() -> Behaviour:
    async def run(text: str) -> AsyncIterator[Chunk]:
        await asyncio.sleep(3600)
        yield {"type": "audio", "data": b""}

    return run


def http_error(
    status: int, cls: type[aiohttp.ClientResponseError] = aiohttp.WSServerHandshakeError
) -> aiohttp.ClientResponseError:
    url = URL("wss://speech.platform.bing.com/consumer/speech/synthesize/readaloud/edge/v1")
    info = RequestInfo(url, "GET", CIMultiDictProxy(CIMultiDict()), url)
    headers = CIMultiDictProxy(CIMultiDict({"Date": "Mon, 01 Jan 2024 00:00:00 GMT"}))
    return cls(info, (), status=status, message="Invalid response status", headers=headers)


def dns_error() -> aiohttp.ClientConnectorDNSError:
    key = ConnectionKey("speech.platform.bing.com", 443, True, True, None, None, None)
    return aiohttp.ClientConnectorDNSError(key, OSError(-2, "Name or service not known"))


class TopOfRange(random.Random):
    """Always the largest delay the jitter allows, so the backoff shape is visible."""

    def uniform(self, a: float, b: float) -> float:
        return b


def request(*paragraphs: tuple[str, ...], voice: str = "zh-CN-XiaoxiaoNeural") -> ClipRequest:
    spec = VoiceSpec(engine="edge", voice=voice, rate="+5%", pitch="-2Hz", volume="+0%")
    return ClipRequest(spec=spec, paragraphs=paragraphs, engine_version="test")


SHORT = request(("你好。", "世界。"))  # short enough that no truncation check applies


# -- success -----------------------------------------------------------------------------------


def test_one_paragraph_audio_and_marks() -> None:
    service = FakeService(speak(mp3(1.0), [(50, 400, "你好。"), (500, 420, "世界。")]))
    result = EdgeEngine(communicate_factory=service).synthesize(SHORT)

    assert abs(result.duration_ms - 1000) <= 80  # MP3 decoder delay adds ~50 ms
    assert result.audio.frame_rate == 24_000
    assert result.audio.channels == 1
    assert result.audio.sample_width == 2
    assert result.audio.dBFS > -30  # the tone (ffmpeg sine: ~-21 dBFS) came through, not silence
    assert result.marks == (Mark(0, "你好。", 50, 450), Mark(0, "世界。", 500, 920))

    (comm,) = service.created
    assert comm.text == "你好。世界。"
    assert comm.voice == "zh-CN-XiaoxiaoNeural"
    assert comm.kwargs["rate"] == "+5%"
    assert comm.kwargs["pitch"] == "-2Hz"
    assert comm.kwargs["volume"] == "+0%"
    assert comm.kwargs["boundary"] == "SentenceBoundary"
    assert isinstance(comm.kwargs["connect_timeout"], int)  # edge-tts refuses floats
    assert isinstance(comm.kwargs["receive_timeout"], int)


def test_paragraphs_are_concatenated_and_marks_offset() -> None:
    first, second = mp3(1.0), mp3(0.5)
    service = FakeService(
        speak(first, [(0, 800, "第一段。")]),
        speak(second, [(100, 300, "第二段。"), (420, 60, "完。")]),
    )
    req = request(("第一段。",), ("第二段。", "完。"))
    result = EdgeEngine(communicate_factory=service).synthesize(req)

    one = round(decoded_ms(first))
    two = round(decoded_ms(second))
    assert abs(result.duration_ms - (one + two)) <= 1
    assert [c.text for c in service.created] == ["第一段。", "第二段。完。"]
    assert result.marks == (
        Mark(0, "第一段。", 0, 800),
        Mark(1, "第二段。", one + 100, one + 400),
        Mark(1, "完。", one + 420, one + 480),
    )


def test_without_boundaries_one_mark_per_paragraph() -> None:
    service = FakeService(speak(mp3(1.0)), speak(mp3(0.5)))
    req = request(("甲。", "乙。"), ("丙。",))
    result = EdgeEngine(communicate_factory=service).synthesize(req)
    one = round(decoded_ms(mp3(1.0)))
    assert result.marks == (
        Mark(0, "甲。乙。", 0, one),
        Mark(1, "丙。", one, result.duration_ms),
    )


def test_boundaries_are_clamped_to_the_paragraph_audio() -> None:
    service = FakeService(speak(mp3(0.5), [(300, 900, "太长了。")]))
    result = EdgeEngine(communicate_factory=service).synthesize(SHORT)
    (mark,) = result.marks
    assert mark.start_ms == 300
    assert mark.end_ms == result.duration_ms


def test_latin_sentences_are_joined_with_a_space() -> None:
    service = FakeService(speak(mp3(0.5)))
    EdgeEngine(communicate_factory=service).synthesize(request(("Hello there.", "How are you?")))
    assert service.created[0].text == "Hello there. How are you?"


def test_works_when_called_from_inside_a_running_loop() -> None:
    engine = EdgeEngine(communicate_factory=FakeService(speak(mp3(0.5))))

    async def main() -> int:
        return engine.synthesize(SHORT).duration_ms

    assert abs(asyncio.run(main()) - 500) <= 80  # MP3 decoder delay adds ~50 ms


def test_version_names_format_not_library() -> None:
    version = EdgeEngine().version
    # Upgrading edge-tts must not invalidate the cache: the audio comes from the service.
    assert edge_tts.__version__ not in version
    assert OUTPUT_FORMAT in version
    assert EdgeEngine.name == "edge"
    assert EdgeEngine.default_jobs == 4


# -- retries through synthesize_with_retry ---------------------------------------------------


def test_timeouts_then_success_backs_off_exponentially_with_fresh_communicates() -> None:
    service = FakeService(
        fail(TimeoutError()),
        fail(aiohttp.ConnectionTimeoutError("Connection timeout to host")),
        fail(aiohttp.SocketTimeoutError("Timeout on reading data from socket"), after_audio=True),
        speak(mp3(1.0), [(0, 900, "你好。世界。")]),
    )
    sleeps: list[float] = []
    result = synthesize_with_retry(
        EdgeEngine(communicate_factory=service),
        SHORT,
        attempts=4,
        base_delay=0.5,
        sleep=sleeps.append,
        rng=TopOfRange(),
    )
    assert abs(result.duration_ms - 1000) <= 80  # MP3 decoder delay adds ~50 ms
    assert sleeps == [0.5, 1.0, 2.0]
    assert len(service.created) == 4
    assert len({id(c) for c in service.created}) == 4
    assert all(c.stream_calls == 1 for c in service.created)


def test_backoff_delays_stay_within_the_jitter_range() -> None:
    service = FakeService(fail(TimeoutError()))
    sleeps: list[float] = []
    with pytest.raises(SynthesisError):
        synthesize_with_retry(
            EdgeEngine(communicate_factory=service),
            SHORT,
            attempts=6,
            base_delay=0.5,
            max_delay=4.0,
            sleep=sleeps.append,
            rng=random.Random(1234),
        )
    assert len(sleeps) == 5
    for attempt, delay in enumerate(sleeps):
        assert 0 <= delay <= min(4.0, 0.5 * 2**attempt)


def test_no_audio_twice_then_success() -> None:
    service = FakeService(
        fail(NoAudioReceived("No audio was received.")),
        fail(NoAudioReceived("No audio was received.")),
        speak(mp3(1.0)),
    )
    sleeps: list[float] = []
    result = synthesize_with_retry(EdgeEngine(communicate_factory=service), SHORT, sleep=sleeps.append)
    assert abs(result.duration_ms - 1000) <= 80  # MP3 decoder delay adds ~50 ms
    assert len(sleeps) == 2
    assert len(service.created) == 3


def test_always_timing_out_gives_up_naming_the_reason() -> None:
    service = FakeService(fail(aiohttp.ConnectionTimeoutError("Connection timeout to host")))
    sleeps: list[float] = []
    with pytest.raises(SynthesisError) as info:
        synthesize_with_retry(EdgeEngine(communicate_factory=service), SHORT, attempts=4, sleep=sleeps.append)
    assert not info.value.transient
    assert "gave up after 4 tries" in str(info.value)
    assert "timed out" in str(info.value)
    assert len(service.created) == 4
    assert len(sleeps) == 3


@pytest.mark.parametrize(
    "fault",
    [
        http_error(403),
        http_error(403, aiohttp.ClientResponseError),
        SkewAdjustmentError("No server date in headers."),
    ],
    ids=["handshake", "response", "skew-adjustment"],
)
def test_http_403_stops_at_once_and_says_upgrade(fault: Exception) -> None:
    if isinstance(fault, SkewAdjustmentError):
        fault.__cause__ = http_error(403)  # how edge-tts raises it
    service = FakeService(fail(fault), speak(mp3(1.0)))
    sleeps: list[float] = []
    with pytest.raises(EngineError) as info:
        synthesize_with_retry(EdgeEngine(communicate_factory=service), SHORT, sleep=sleeps.append)
    message = str(info.value)
    assert "403" in message
    assert "pip install -U edge-tts" in message
    assert edge_tts.__version__ in message
    assert len(service.created) == 1
    assert sleeps == []


@pytest.mark.parametrize(
    "fault",
    [
        http_error(503),
        http_error(502, aiohttp.ClientResponseError),
        aiohttp.ServerDisconnectedError(),
        aiohttp.ClientConnectionResetError("Cannot write to closing transport"),
        WebSocketError("Unknown error"),
        dns_error(),
        ConnectionRefusedError(111, "Connection refused"),
    ],
    ids=["503", "502", "disconnected", "reset", "websocket", "dns", "oserror"],
)
def test_transient_faults_are_retried(fault: Exception) -> None:
    service = FakeService(fail(fault), speak(mp3(1.0)))
    sleeps: list[float] = []
    result = synthesize_with_retry(EdgeEngine(communicate_factory=service), SHORT, sleep=sleeps.append)
    assert abs(result.duration_ms - 1000) <= 80  # MP3 decoder delay adds ~50 ms
    assert len(service.created) == 2
    assert len(sleeps) == 1


def test_dns_failure_is_reported_as_no_network() -> None:
    service = FakeService(fail(dns_error()))
    with pytest.raises(SynthesisError) as info:
        EdgeEngine(communicate_factory=service).synthesize(SHORT)
    assert info.value.transient
    assert str(info.value).startswith("no network: Cannot connect to host speech.platform")


def test_other_http_errors_are_permanent() -> None:
    service = FakeService(fail(http_error(400)))
    with pytest.raises(SynthesisError) as info:
        synthesize_with_retry(EdgeEngine(communicate_factory=service), SHORT, sleep=lambda s: None)
    assert "HTTP 400" in str(info.value)
    assert len(service.created) == 1


LONG_ENOUGH = request(("今天我们来谈谈人工智能。",))  # ~2.4 s of speech expected


def test_truncated_audio_is_retried() -> None:
    service = FakeService(speak(mp3(0.2)), speak(mp3(2.0)))
    sleeps: list[float] = []
    result = synthesize_with_retry(EdgeEngine(communicate_factory=service), LONG_ENOUGH, sleep=sleeps.append)
    assert abs(result.duration_ms - 2000) <= 80  # MP3 decoder delay adds ~50 ms
    assert len(service.created) == 2
    assert len(sleeps) == 1


def test_always_truncated_is_reported() -> None:
    service = FakeService(speak(mp3(0.2)))
    with pytest.raises(SynthesisError) as info:
        synthesize_with_retry(EdgeEngine(communicate_factory=service), LONG_ENOUGH, sleep=lambda s: None)
    assert "truncated" in str(info.value)
    assert len(service.created) == 4


def test_undecodable_audio_names_ffmpegs_complaint() -> None:
    garbage = b"this is not an mp3 stream" * 40
    service = FakeService(speak(garbage))
    with pytest.raises(SynthesisError) as info:
        EdgeEngine(communicate_factory=service).synthesize(SHORT)
    assert info.value.transient
    assert "ffmpeg" in str(info.value)
    assert "Invalid data" in str(info.value) or "Error" in str(info.value)


def test_decoding_runs_the_pipelines_ffmpeg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The engine decodes with the binary $AUDIO_PIPELINE_FFMPEG names, as the rest of the
    pipeline does; one that cannot run stops the run (no retry helps)."""
    data = mp3(0.2)
    monkeypatch.setenv("AUDIO_PIPELINE_FFMPEG", str(tmp_path / "no-ffmpeg"))
    with pytest.raises(EngineError, match="cannot run ffmpeg .*no-ffmpeg"):
        decode_mp3(data)


# -- configuration errors ------------------------------------------------------------------------


def test_bad_rate_is_a_config_error_before_any_network() -> None:
    spec = VoiceSpec(engine="edge", voice="zh-CN-XiaoxiaoNeural", rate="fast")
    req = ClipRequest(spec=spec, paragraphs=(("你好。",),), engine_version="test")
    with pytest.raises(ConfigError, match="rate"):
        EdgeEngine().synthesize(req)  # the real Communicate validates in its constructor


def test_malformed_voice_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="voice"):
        EdgeEngine().synthesize(request(("你好。",), voice="Xiaoxiao"))


def test_unknown_voice_without_audio_is_a_config_error_not_retried() -> None:
    service = FakeService(fail(NoAudioReceived("No audio was received.")))
    req = request(("你好。",), voice="zh-CN-XiaohanNeural")  # an Azure voice, not on edge
    with pytest.raises(ConfigError, match="XiaohanNeural"):
        synthesize_with_retry(EdgeEngine(communicate_factory=service), req, sleep=lambda s: None)
    assert len(service.created) == 1


@pytest.mark.parametrize("options", [{"connect_timeout": "soon"}, {"receive_timeout": 0}])
def test_bad_engine_options(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        EdgeEngine(**options)


def test_float_timeouts_are_rounded_up_for_edge_tts() -> None:
    service = FakeService(speak(mp3(0.5)))
    EdgeEngine(connect_timeout=2.5, communicate_factory=service).synthesize(SHORT)
    assert service.created[0].kwargs["connect_timeout"] == 3


# -- concurrency ---------------------------------------------------------------------------------


def test_eight_calls_from_four_threads() -> None:
    active = 0
    peak = 0
    threads: set[int] = set()
    lock = threading.Lock()
    inner = speak(mp3(1.0), [(0, 500, "你好。"), (520, 400, "世界。")], pause=0.01)

    def tracked(text: str) -> AsyncIterator[Chunk]:
        async def run() -> AsyncIterator[Chunk]:
            nonlocal active, peak
            with lock:
                active += 1
                peak = max(peak, active)
                threads.add(threading.get_ident())
            try:
                async for chunk in inner(text):
                    yield chunk
            finally:
                with lock:
                    active -= 1

        return run()

    service = FakeService(tracked)
    engine = EdgeEngine(communicate_factory=service)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: engine.synthesize(SHORT), range(8)))

    assert len(results) == 8
    for result in results:
        assert abs(result.duration_ms - 1000) <= 80  # MP3 decoder delay adds ~50 ms
        assert [m.text for m in result.marks] == ["你好。", "世界。"]
    assert len(service.created) == 8
    assert peak >= 2  # they really overlapped
    assert len(threads) >= 2


# -- pre-flight ----------------------------------------------------------------------------------


def test_preflight_on_the_real_network_answers_quickly() -> None:
    started = time.monotonic()
    reason = preflight(timeout=3.0)
    elapsed = time.monotonic() - started
    assert elapsed < 5
    if reason is not None:  # offline here; online it may well answer
        assert reason.strip()
        assert "\n" not in reason


def test_preflight_with_audio_is_none() -> None:
    assert preflight(communicate_factory=FakeService(speak(mp3(0.2)))) is None


def test_preflight_timeout_is_bounded() -> None:
    started = time.monotonic()
    reason = preflight(timeout=0.3, communicate_factory=FakeService(hang()))
    assert reason == "timed out after 0.3 s"
    assert time.monotonic() - started < 2


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (dns_error(), "no network: Cannot connect to host speech.platform.bing.com:443"),
        (http_error(403), "pip install -U edge-tts"),
        (aiohttp.ConnectionTimeoutError("Connection timeout"), "timed out after 3 s"),
        (NoAudioReceived("No audio was received."), "no audio"),
    ],
    ids=["dns", "403", "timeout", "no-audio"],
)
def test_preflight_reasons(fault: Exception, expected: str) -> None:
    reason = preflight(communicate_factory=FakeService(fail(fault)))
    assert reason is not None
    assert expected in reason


# -- live ------------------------------------------------------------------------------------------


@pytest.mark.live
@pytest.mark.skipif(os.environ.get("AUDIO_PIPELINE_LIVE") != "1", reason="set AUDIO_PIPELINE_LIVE=1")
def test_live_chinese_sentence() -> None:
    req = request(("今天天气很好，", "我们一起去公园散步吧。"))
    result = synthesize_with_retry(EdgeEngine(), req)
    assert 1500 < result.duration_ms < 10_000
    assert result.marks
    assert all(0 <= m.start_ms <= m.end_ms <= result.duration_ms for m in result.marks)
