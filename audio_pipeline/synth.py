"""Which clips a transcript needs, and making the missing ones.

A clip is one turn (or a title/heading read by the narrator) in one voice. Its key
covers everything that shapes the audio, so "is it cached?" is the whole question.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from . import lang, text
from .cache import CachedClip, ClipCache
from .check import quality
from .engines.base import Engine, expected_ms
from .errors import RenderError, SynthesisError
from .executors import Executor, LocalExecutor
from .model import TITLE_SECTION, ClipRequest, Job, Transcript, VoiceSpec
from .progress import Event, Reporter, silent
from .voices import VoiceMap


def jobs_for(
    transcript: Transcript,
    vmap: VoiceMap,
    engine_name: str,
    engine_version: str,
    *,
    engine: Engine | None = None,
) -> list[Job]:
    """Every clip the transcript needs, in reading order (title, then each section).

    Each turn (and title, heading) is read in its own language (:func:`lang.of_turn`)
    by its speaker's voice for that language. ``engine``, when given, may stand in
    voices it lacks (``resolve``) and key clips per voice (``version_for``), as Kokoro
    does for the voices of its voice pack.
    """
    cast = vmap.cast(transcript, engine_name)
    lexicon = vmap.lexicon
    resolve: Callable[[VoiceSpec], VoiceSpec] = getattr(engine, "resolve", lambda spec: spec)
    version_for: Callable[[VoiceSpec], str] = getattr(engine, "version_for", lambda spec: engine_version)

    jobs: list[Job] = []

    def add(section: int, turn: int | None, line: int, speaker: str | None, paragraphs: Iterable[str]) -> None:
        paragraphs = list(paragraphs)
        spoken, shown = text.prepare(paragraphs, lexicon)
        if spoken:
            code = lang.of_turn("\n".join(paragraphs), cast.lang)
            spec = resolve(cast.voice(speaker, code))
            request = ClipRequest(spec, spoken, version_for(spec), lang="en" if code == "en" else "zh")
            jobs.append(Job(section, turn, line, speaker, request, shown))

    if vmap.read_title:
        add(TITLE_SECTION, None, 1, None, [transcript.title])
    for section in transcript.sections:
        # A first section named like the interview would have its title read twice.
        repeats_title = vmap.read_title and section.index == 1 and _same_words(section.title, transcript.title)
        if vmap.read_headings and not repeats_title:
            add(section.index, None, section.line, None, [section.title])
        for i, turn in enumerate(section.turns):
            add(section.index, i, turn.line, turn.speaker, turn.paragraphs)
    return jobs


def _same_words(a: str, b: str) -> bool:
    def words(text: str) -> str:
        return "".join(ch for ch in text.casefold() if ch.isalnum())

    return words(a) == words(b)


@dataclass(frozen=True)
class Failure:
    job: Job
    reason: str


def synthesize_missing(
    jobs: list[Job],
    engine: Engine,
    cache: ClipCache,
    *,
    workers: int | None = None,
    report: Reporter = silent,
    retry_delay: float = 0.5,
    known: Mapping[str, CachedClip] | None = None,
    on_clip: Callable[[Job, CachedClip], None] | None = None,
    stop: threading.Event | None = None,
    niceness: int = 0,
    executor: Executor | None = None,
) -> tuple[dict[str, CachedClip], list[Failure]]:
    """Make every clip not in the cache. Returns all clips found or made, and failures.

    ``known``: clips already read from the cache (by the planner), not read again.
    Jobs are started in the order given (reading order), so sections finish in order;
    ``on_clip`` hears of each new clip as it lands. Setting ``stop`` cancels the jobs
    not yet started. ``niceness`` lowers the engine threads' priority a little, so an
    episode being built beside them at normal priority gets a core. ``executor`` runs the
    engine elsewhere (Ray actors); by default threads here share ``engine``. Either way
    the audio comes back here and this thread alone writes the cache.

    Progress is reported in seconds of audio (stage "audio"): the total is estimated
    from the text, then corrected by how long finished clips came out against their
    estimates.

    A failing clip does not stop the others. ``EngineError`` (the engine as a whole is
    unusable, e.g. the edge service refusing us) stops the run at once. Interrupting
    loses at most the clips in flight: every finished clip is already in the cache.
    """
    clips, todo = _cached(jobs, cache, known or {})
    estimate = _AudioEstimate({key: expected_ms(job.request.text) / 1000 for key, job in todo.items()})
    if clips:
        report(Event("notice", message=f"{len(clips)} clips cached, {len(todo)} to synthesize"))
    report(Event("start", stage="audio", total=estimate.total(), unit="s"))
    failures: list[Failure] = []
    pending = list(todo.values())
    runner = executor or LocalExecutor(engine, workers=workers, niceness=niceness, retry_delay=retry_delay)
    try:
        for index, outcome in runner.results([job.request for job in pending], sentences=cache.sentence, stop=stop):
            job = pending[index]
            if isinstance(outcome, SynthesisError):
                failures.append(Failure(job, outcome.message))
                report(Event("step", stage="audio", amount=0, total=estimate.failed(job.key), unit="s"))
                continue
            # The driver alone writes the cache, whichever executor made the audio.
            clip = cache.put(job.key, outcome)
            clips[job.key] = clip
            if on_clip is not None:
                on_clip(job, clip)
            _report_clip(job, clip, estimate, report)
    finally:
        if executor is None:
            runner.close()
    report(Event("end", stage="audio"))
    if stop is not None and stop.is_set():
        raise KeyboardInterrupt  # cancelled: what finished is cached
    # Failures in reading order, so the report matches the transcript.
    order = {job.key: i for i, job in enumerate(jobs)}
    failures.sort(key=lambda f: order[f.job.key])
    return clips, failures


def _cached(
    jobs: list[Job], cache: ClipCache, known: Mapping[str, CachedClip]
) -> tuple[dict[str, CachedClip], dict[str, Job]]:
    """(clips found, by key; jobs to synthesize, one per key, in the order given)."""
    clips: dict[str, CachedClip] = {}
    todo: dict[str, Job] = {}
    for job in jobs:
        if job.key in clips or job.key in todo:
            continue
        found = known.get(job.key) or cache.get(job.key)
        if found is not None:
            clips[job.key] = found
        else:
            todo[job.key] = job
    return clips, todo


def _report_clip(job: Job, clip: CachedClip, estimate: _AudioEstimate, report: Reporter) -> None:
    """A new clip: what the cheap checks find in it, and the audio it adds."""
    # Cheap checks on every new clip (truncation, silence, clipping): a notice,
    # not a failure; `audio-pipeline check` listens properly.
    for problem in quality.fast_check(job.request, clip):
        report(Event("notice", message=f"{job.describe()}, line {job.line}: {problem}"))
    seconds = clip.duration_ms / 1000
    report(Event("step", stage="audio", amount=seconds, total=estimate.done(job.key, seconds), unit="s"))


class _AudioEstimate:
    """Seconds of audio still to come: text estimates of the pending clips, scaled by how
    the finished ones compared with theirs (voices differ in pace by 30 % and more)."""

    def __init__(self, pending: dict[str, float]) -> None:
        self.pending = dict(pending)
        self.actual = 0.0
        self.estimated_done = 0.0

    def total(self) -> float:
        ratio = self.actual / self.estimated_done if self.estimated_done > 0 else 1.0
        return round(self.actual + ratio * sum(self.pending.values()), 3)

    def done(self, key: str, seconds: float) -> float:
        self.estimated_done += self.pending.pop(key, 0.0)
        self.actual += seconds
        return self.total()

    def failed(self, key: str) -> float:
        self.pending.pop(key, None)
        return self.total()


def failure_error(failures: list[Failure], source: str) -> RenderError:
    lines = [f"{len(failures)} clip(s) failed; every other clip is cached, run again to retry:"]
    lines += [f"{source}:{f.job.line}: {f.job.describe()}: {f.reason}" for f in failures]
    return RenderError("\n".join(lines))
