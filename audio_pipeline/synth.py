"""Which clips a transcript needs, and making the missing ones.

A clip is one turn (or a title/heading read by the narrator) in one voice. Its key
covers everything that shapes the audio, so "is it cached?" is the whole question.
"""

from __future__ import annotations

import concurrent.futures as cf
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from . import lang, quality, text
from .cache import CachedClip, ClipCache
from .engines.base import Engine, synthesize_with_retry
from .engines.sentences import Int16Array, SentenceEngine, compose
from .errors import EngineError, RenderError, SynthesisError
from .model import ClipRequest, Synthesis, Transcript, VoiceSpec
from .progress import Event, Reporter, silent
from .voices import VoiceMap

# Where a clip sits: a section's turn, its heading (turn None), or the interview
# title (section 0, turn None).
TITLE_SECTION = 0


@dataclass(frozen=True)
class Job:
    section: int
    turn: int | None
    line: int
    speaker: str | None
    request: ClipRequest
    # The sentences as written (``request`` holds them as spoken), for subtitles.
    shown: tuple[tuple[str, ...], ...]

    @property
    def key(self) -> str:
        return self.request.key

    def describe(self) -> str:
        who = self.speaker or "narrator"
        where = "title" if self.section == TITLE_SECTION else f"section {self.section}"
        return f"{where}, {who}"


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
        if vmap.read_headings:
            add(section.index, None, section.line, None, [section.title])
        for i, turn in enumerate(section.turns):
            add(section.index, i, turn.line, turn.speaker, turn.paragraphs)
    return jobs


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
) -> tuple[dict[str, CachedClip], list[Failure]]:
    """Make every clip not in the cache. Returns all clips found or made, and failures.

    ``known``: clips already read from the cache (by the planner), not read again.

    A failing clip does not stop the others. ``EngineError`` (the engine as a whole is
    unusable, e.g. the edge service refusing us) stops the run at once. Interrupting
    loses at most the clips in flight: every finished clip is already in the cache.
    """
    clips: dict[str, CachedClip] = {}
    todo: dict[str, Job] = {}
    for job in jobs:
        if job.key in clips or job.key in todo:
            continue
        found = (known or {}).get(job.key) or cache.get(job.key)
        if found is not None:
            clips[job.key] = found
        else:
            todo[job.key] = job
    report(Event("start", stage="clips", total=len(clips) + len(todo)))
    for _ in clips:
        report(Event("step", stage="clips", cached=True))
    failures: list[Failure] = []
    lock = threading.Lock()

    reuse = _reusing_sentences(engine, cache)

    def work(job: Job) -> CachedClip:
        result = synthesize_with_retry(engine, job.request, base_delay=retry_delay, synthesize=reuse)
        return cache.put(job.key, result)

    pool = cf.ThreadPoolExecutor(max_workers=max(1, workers or engine.default_jobs))
    try:
        futures = {pool.submit(work, job): job for job in todo.values()}
        for future in cf.as_completed(futures):
            job = futures[future]
            try:
                clip = future.result()
            except SynthesisError as exc:
                with lock:
                    failures.append(Failure(job, exc.message))
            else:
                clips[job.key] = clip
                # Cheap checks on every new clip (truncation, silence, clipping): a notice,
                # not a failure; `audio-pipeline check` listens properly.
                for problem in quality.fast_check(job.request, clip):
                    report(Event("notice", message=f"{job.describe()}, line {job.line}: {problem}"))
            report(Event("step", stage="clips"))
    except (EngineError, KeyboardInterrupt):
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=True)
    report(Event("end", stage="clips"))
    # Failures in reading order, so the report matches the transcript.
    order = {job.key: i for i, job in enumerate(jobs)}
    failures.sort(key=lambda f: order[f.job.key])
    return clips, failures


def _reusing_sentences(engine: Engine, cache: ClipCache) -> Callable[[ClipRequest], Synthesis] | None:
    """For an engine that speaks sentence by sentence: its synthesis, with every sentence
    some cached clip already has (in this voice) taken from there. An edited turn
    costs only its changed sentences. None for other engines."""
    if not isinstance(engine, SentenceEngine):
        return None
    speaker = engine

    def synthesize(request: ClipRequest) -> Synthesis:
        def speak(sentence: str) -> Int16Array:
            found = cache.sentence(request.sentence_key(sentence), speaker.sample_rate)
            return found if found is not None else speaker.sentence_pcm(sentence, request.spec, request.lang)

        return compose(request, speak, speaker.sample_rate, speaker.sentence_gap_ms)

    return synthesize


def failure_error(failures: list[Failure], source: str) -> RenderError:
    lines = [f"{len(failures)} clip(s) failed; every other clip is cached, run again to retry:"]
    lines += [f"{source}:{f.job.line}: {f.job.describe()}: {f.reason}" for f in failures]
    return RenderError("\n".join(lines))
