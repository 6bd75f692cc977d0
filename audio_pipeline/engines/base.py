"""The one small interface every engine implements, plus the retry loop around it."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import ClassVar, Protocol, runtime_checkable

from ..errors import SynthesisError
from ..model import ClipRequest, Synthesis

# Slowest plausible speech: ~2.2 Chinese characters or ~1.1 Latin words a second
# would already be very slow, so a clip shorter than this share of the expected
# length has been cut off (edge-tts truncates silently now and then).
TRUNCATION_RATIO = 0.35


class Engine(Protocol):
    """Synthesizes one clip. Implementations must be safe to call from several threads
    when ``default_jobs`` > 1."""

    name: ClassVar[str]
    # Part of every clip key: bump it when the engine's output for the same input changes.
    version: str
    # How many clips may be synthesized at once by default.
    default_jobs: int

    def synthesize(self, request: ClipRequest) -> Synthesis:
        """Return audio and sentence marks, or raise SynthesisError / EngineError."""
        ...


@runtime_checkable
class Warmable(Protocol):
    """An engine with a slow first call (a model to load, phonemizers to build) that can
    do that work ahead, e.g. when a watch starts, so the first edit is heard sooner."""

    def warm(self) -> None:
        """Load what the first synthesis would load; safe to call from any thread, again."""
        ...


def warm(engine: object) -> None:
    """``engine.warm()`` when the engine has one; nothing otherwise."""
    if isinstance(engine, Warmable):
        engine.warm()


def expected_ms(text: str) -> int:
    """A rough spoken length for ``text`` at a normal pace: CJK ~ 4.5 chars/s, other
    words ~ 2.7 words/s (a 'word' here is a Latin run or a digit run)."""
    cjk = 0
    words = 0
    in_word = False
    for ch in text:
        if "\u3400" <= ch <= "\u9fff" or "\u3040" <= ch <= "\u30ff" or "\uac00" <= ch <= "\ud7af":
            cjk += 1
            in_word = False
        elif ch.isalnum():
            if not in_word:
                words += 1
            in_word = True
        else:
            in_word = False
    return int(cjk / 4.5 * 1000 + words / 2.7 * 1000)


def looks_truncated(request: ClipRequest, result: Synthesis) -> bool:
    """True when the clip is far shorter than its text needs (or empty)."""
    if result.duration_ms <= 0:
        return True
    speed = max(request.spec.speed, 0.25)
    need = expected_ms(request.text) / speed
    return need > 1500 and result.duration_ms < need * TRUNCATION_RATIO


def synthesize_with_retry(
    engine: Engine,
    request: ClipRequest,
    *,
    attempts: int = 4,
    base_delay: float = 0.5,
    max_delay: float = 8.0,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
    synthesize: Callable[[ClipRequest], Synthesis] | None = None,
) -> Synthesis:
    """Call the engine, retrying transient faults with exponential backoff and full jitter.

    A permanent ``SynthesisError`` is raised at once; ``EngineError`` (for example an
    HTTP 403 from the edge service) is never retried and stops the caller's run.
    A clip that looks truncated counts as a transient fault. ``synthesize`` replaces
    ``engine.synthesize`` on the first try (e.g. one that reuses cached sentences).
    """
    rng = rng or random.Random()
    last: SynthesisError | None = None
    for attempt in range(attempts):
        try:
            # A retry asks the engine itself: the same cached pieces would give the same result.
            result = (synthesize if synthesize is not None and attempt == 0 else engine.synthesize)(request)
        except SynthesisError as exc:
            if not exc.transient:
                raise
            last = exc
        else:
            if not looks_truncated(request, result):
                return result
            last = SynthesisError(
                f"audio looks truncated ({result.duration_ms} ms for {len(request.text)} characters)",
                transient=True,
            )
        if attempt + 1 < attempts:
            sleep(rng.uniform(0, min(max_delay, base_delay * 2**attempt)))
    assert last is not None
    raise SynthesisError(f"gave up after {attempts} tries: {last.message}")
