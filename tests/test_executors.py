"""The local executor: results handed over one by one, none kept behind."""

from __future__ import annotations

import gc
import weakref

from audio_pipeline.executors import LocalExecutor
from audio_pipeline.model import ClipRequest, VoiceSpec

from .fakes import ToneEngine


def _requests(count: int) -> list[ClipRequest]:
    spec = VoiceSpec("espeak", "cmn")
    return [ClipRequest(spec, ((f"第{i}句话，说得长一点。",),), "tone/1") for i in range(count)]


def test_every_request_is_answered_once() -> None:
    outcomes = dict(LocalExecutor(ToneEngine(), workers=2).results(_requests(6)))
    assert sorted(outcomes) == list(range(6))
    assert all(o.audio.duration_seconds > 0 for o in outcomes.values())  # type: ignore[union-attr]


def test_a_handed_over_clip_is_not_kept() -> None:
    """The executor holds no clip's audio once it has handed it over: a render's memory
    does not grow with its length (it once kept every finished future until the end)."""
    handed: list[weakref.ref[object]] = []
    for _index, outcome in LocalExecutor(ToneEngine(), workers=1).results(_requests(5)):
        gc.collect()
        # Every clip handed over before the previous one is gone; the generator may still
        # hold the one it handed over last until it moves on.
        assert all(ref() is None for ref in handed[:-1])
        handed.append(weakref.ref(outcome))
        del outcome
    assert len(handed) == 5


def test_only_a_few_requests_run_ahead_of_the_consumer() -> None:
    """A fast engine does not race through every request while the driver is still
    storing the first clips: what is finished and waiting is bounded."""
    import time

    from audio_pipeline.executors import QUEUED_PER_WORKER

    engine = ToneEngine()
    results = LocalExecutor(engine, workers=2).results(_requests(40))
    next(results)
    time.sleep(0.3)  # the consumer is busy; the workers have long finished their queue
    assert len(engine.calls) <= QUEUED_PER_WORKER * 2 + 1
    rest = list(results)
    assert len(rest) == 39 and len(engine.calls) == 40
