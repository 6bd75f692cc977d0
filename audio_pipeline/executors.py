"""Who runs clip synthesis: threads in this process here, Ray actors on a cluster
(:mod:`audio_pipeline.cluster`).

An executor turns clip requests into :class:`Synthesis` results (or the final
``SynthesisError`` after retries) and hands them back to the driver, which alone
writes the clip cache and builds episodes. So a worker needs no shared file system:
it gets the request (and any sentences already cached, for engines that speak
sentence by sentence) and returns audio and marks.
"""

from __future__ import annotations

import concurrent.futures as cf
import functools
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Protocol

from . import fsutil
from .engines.base import Engine, synthesize_with_retry
from .engines.sentences import Int16Array, SentenceEngine, compose
from .errors import SynthesisError
from .model import ClipRequest, Synthesis

#: One sentence's cached samples by (sentence key, sample rate), or None: ``ClipCache.sentence``.
SentenceLookup = Callable[[str, int], Int16Array | None]
#: What an executor yields: the request's index and its audio, or why it failed for good.
Outcome = tuple[int, Synthesis | SynthesisError]
#: Requests handed to the local thread pool ahead of each worker.
QUEUED_PER_WORKER = 2


class Executor(Protocol):
    """Runs clip requests somewhere and yields each result as it finishes."""

    def results(
        self,
        requests: Sequence[ClipRequest],
        *,
        sentences: SentenceLookup | None = None,
        stop: threading.Event | None = None,
    ) -> Iterator[Outcome]:
        """Synthesize every request (transient faults retried), started in the order
        given; yield ``(index, Synthesis or SynthesisError)`` as each finishes.

        ``sentences`` finds sentences already cached (reused by sentence engines).
        When ``stop`` is set, requests not yet started are dropped (not yielded).
        ``EngineError`` (the engine is unusable as a whole) is raised at once."""
        ...

    def close(self) -> None:
        """Release workers (a no-op for threads)."""
        ...


def reusing_sentences(engine: Engine, lookup: SentenceLookup | None) -> Callable[[ClipRequest], Synthesis] | None:
    """For an engine that speaks sentence by sentence: its synthesis, with every sentence
    ``lookup`` finds (a cached clip in this voice has it) taken from there. An edited
    turn costs only its changed sentences. None for other engines, or without a lookup."""
    if lookup is None or not isinstance(engine, SentenceEngine):
        return None
    speaker = engine

    def synthesize(request: ClipRequest) -> Synthesis:
        def speak(sentence: str) -> Int16Array:
            found = lookup(request.sentence_key(sentence), speaker.sample_rate)
            return found if found is not None else speaker.sentence_pcm(sentence, request.spec, request.lang)

        return compose(request, speak, speaker.sample_rate, speaker.sentence_gap_ms)

    return synthesize


def prefetched(reused: Mapping[str, Int16Array]) -> SentenceLookup:
    """A lookup over sentences fetched beforehand (what a remote worker gets)."""

    def lookup(key: str, rate: int) -> Int16Array | None:
        return reused.get(key)

    return lookup


class _Cancelled(Exception):
    """A request not started because the run was stopped."""


class LocalExecutor:
    """Threads in this process sharing one engine (the default)."""

    def __init__(self, engine: Engine, *, workers: int | None = None, niceness: int = 0, retry_delay: float = 0.5):
        self.engine = engine
        self.workers = max(1, workers or engine.default_jobs)
        self.niceness = niceness
        self.retry_delay = retry_delay

    def results(
        self,
        requests: Sequence[ClipRequest],
        *,
        sentences: SentenceLookup | None = None,
        stop: threading.Event | None = None,
    ) -> Iterator[Outcome]:
        reuse = reusing_sentences(self.engine, sentences)

        def work(request: ClipRequest) -> Synthesis | SynthesisError:
            if stop is not None and stop.is_set():
                raise _Cancelled
            try:
                return synthesize_with_retry(self.engine, request, base_delay=self.retry_delay, synthesize=reuse)
            except SynthesisError as exc:
                return exc

        pool = cf.ThreadPoolExecutor(
            max_workers=self.workers,
            initializer=functools.partial(fsutil.lower_thread_priority, self.niceness) if self.niceness else None,
        )
        # A few requests queued ahead of the workers, not all of them: a fast engine
        # (espeak) would otherwise finish clips faster than the driver stores them, and
        # every finished one waiting holds its audio (a long render's memory grew with it).
        queued = iter(enumerate(requests))
        running: dict[cf.Future[Synthesis | SynthesisError], int] = {}

        def submit_next() -> None:
            if stop is not None and stop.is_set():
                return  # stopped: what is not started stays so
            item = next(queued, None)
            if item is not None:
                index, request = item
                running[pool.submit(work, request)] = index

        try:
            for _ in range(QUEUED_PER_WORKER * self.workers):
                submit_next()
            while running:
                done, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
                for future in sorted(done, key=running.__getitem__):
                    index = running.pop(future)
                    submit_next()
                    try:
                        outcome = future.result()
                    except _Cancelled:
                        continue
                    del future  # handed over below: only this batch of finished ones is held
                    yield index, outcome
        except BaseException:  # an EngineError, an interrupt, or the consumer gave up
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        finally:
            pool.shutdown(wait=True)

    def close(self) -> None:
        pass
