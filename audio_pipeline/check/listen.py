"""Listening back: each clip of a render checked against its text.

``check_jobs`` runs the fast checks (``quality``) on each clip, has the recognizer
(``recognizer``) hear the clips not heard before (``heard`` keeps what was heard, so a
second check only listens to new clips), scores what was heard against the text and
gives each clip a verdict (``scoring``). Scores are recomputed from the kept text every
time (cheap), so changing the threshold needs no listening.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..cache import CachedClip, ClipCache
from ..model import ClipRequest, Job
from ..progress import Event, Reporter, silent
from . import quality
from .heard import ResultCache
from .recognizer import Listener
from .scoring import (
    DEFAULT_THRESHOLD,
    DEFAULT_WORST,
    Score,
    Verdict,
    judge,
    language_of,
    score,
    suggest_lexicon,
    units,
)


@dataclass
class TurnCheck:
    """The verdict on one clip of the transcript (a turn, a heading or the title)."""

    job: Job
    verdict: Verdict
    heard: str | None = None
    score: Score | None = None
    fast_problems: list[str] = field(default_factory=list)
    suggest_lexicon: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.verdict == "fail"

    def to_json(self) -> dict[str, Any]:
        return {
            "section": self.job.section,
            "line": self.job.line,
            "speaker": self.job.speaker,
            "clip_key": self.job.key,
            "error_rate": self.score.error_rate if self.score else None,
            "verdict": self.verdict,
            "worst": [{"expected": s.expected, "heard": s.heard} for s in self.score.worst] if self.score else [],
            "fast_problems": list(self.fast_problems),
            "suggest_lexicon": list(self.suggest_lexicon),
            "heard": self.heard,
        }


def check_jobs(
    jobs: Sequence[Job],
    clips: ClipCache,
    listener: Listener,
    results: ResultCache,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    worst: int = DEFAULT_WORST,
    lexicon: Iterable[str] = (),
    report: Reporter = silent,
    fast: Callable[[ClipRequest, CachedClip], list[str]] = quality.fast_check,
) -> list[TurnCheck]:
    """Check every job's clip: fast checks, then what the recognizer hears (cached).

    A job whose clip is not in the cache gets the verdict ``missing``. A clip fails
    when its error rate is above ``threshold`` or a fast check found a problem.
    """
    found: dict[str, CachedClip] = {}
    for job in jobs:
        clip = clips.get(job.key)
        if clip is not None:
            found[job.key] = clip
    heard = _hear(jobs, found, listener, results, report)
    checks: list[TurnCheck] = []
    for job in jobs:
        clip = found.get(job.key)
        if clip is None:
            checks.append(TurnCheck(job, "missing"))
            continue
        problems = fast(job.request, clip)
        result = score(job.request.text, heard[job.key], worst=worst)
        checks.append(TurnCheck(job, judge(result, problems, threshold), heard[job.key], result, problems))
    mark_suggestions(checks, lexicon)
    return checks


def _hear(
    jobs: Sequence[Job], found: Mapping[str, CachedClip], listener: Listener, results: ResultCache, report: Reporter
) -> dict[str, str]:
    """What was heard in each found clip, by clip key: kept in ``results``, else heard now
    (each clip once, however many jobs share it) and kept."""
    heard: dict[str, str] = {}
    todo: dict[str, Job] = {}
    for job in jobs:
        if job.key in found and job.key not in heard and job.key not in todo:
            cached = results.get(job.key, language_of(job.request.text))
            if cached is None:
                todo[job.key] = job
            else:
                heard[job.key] = cached
    if todo:
        report(Event("start", stage="listen", total=len(todo)))
    for job in todo.values():
        language = language_of(job.request.text)
        started = time.perf_counter()
        text = listener.hear(found[job.key].path, language, len(units(job.request.text, language)))
        results.put(job.key, language, text, time.perf_counter() - started)
        heard[job.key] = text
        report(Event("step", stage="listen"))
    if todo:
        report(Event("end", stage="listen"))
    return heard


def mark_suggestions(checks: Sequence[TurnCheck], lexicon: Iterable[str]) -> None:
    """Set each check's ``suggest_lexicon``: its misheard Latin words that keep failing
    across all of ``checks`` (``scoring.suggest_lexicon``), less those in ``lexicon``."""
    suggested = set(suggest_lexicon((c.score for c in checks if c.score), lexicon))
    for c in checks:
        if c.score:
            c.suggest_lexicon = sorted({w for w in c.score.failed_words if w in suggested})
