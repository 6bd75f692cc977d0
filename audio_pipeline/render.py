"""render() synthesizes a transcript's missing clips and builds its files (what must be
made: :mod:`audio_pipeline.plan`; the files: :mod:`audio_pipeline.outputs`).

Data flows one way: transcript -> clip jobs -> cached clips -> section timelines ->
episode files -> whole-interview files -> manifest.
"""

from __future__ import annotations

import contextlib
import fcntl
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from . import engines
from .cache import CachedClip, ClipCache
from .engines.base import Engine
from .errors import RenderError
from .executors import Executor
from .model import Job, Transcript
from .outputs import Outputs, Result, sweep_partials
from .plan import Plan, Settings, keys_in_use, make_plan, parse_sections
from .progress import Event, Reporter, silent
from .synth import Failure, failure_error, synthesize_missing
from .voices import VoiceMap

# The render API: what callers build a render from and get back.
__all__ = [
    "Plan",
    "Result",
    "Settings",
    "choose_engine",
    "keys_in_use",
    "locked",
    "make_plan",
    "parse_sections",
    "render",
    "silent",
]

# While the engine runs: the first episode is built at normal priority, the engine a
# step below (so that episode gets a core), later episodes well below the engine.
ENGINE_NICENESS = 2


def choose_engine(
    settings: Settings, vmap: VoiceMap, report: Reporter = silent, *, recorded: str | None = None
) -> Engine:
    """The engine for the whole run: ``settings.engine``, ``auto`` resolved by
    :func:`engines.resolve` (``recorded``: the engine of the last render, for check)."""
    resolved = engines.resolve(settings.engine, recorded=recorded, timeout=settings.preflight_timeout)
    if resolved.notice:
        report(Event("notice", message=resolved.notice))
    name = resolved.name
    options = vmap.engine(name).options
    engine = engines.create(name, options)
    missing = getattr(engine, "missing_voices", None)
    if missing is not None:
        config = vmap.engine(name)
        specs = [
            spec
            for block in (config, *config.languages.values())
            for spec in (block.narrator, *block.speakers.values(), *block.pool)
            if spec is not None
        ]
        if any(missing(spec.voice) for spec in specs):
            from .voicepack import PACKAGE, VERSION

            report(
                Event(
                    "notice",
                    message=f"notice: Kokoro's native voices ({PACKAGE}@{VERSION}) are not installed, so Japanese "
                    "voices stand in for them; `make setup` (or `python -m audio_pipeline.voicepack install`) "
                    "installs them",
                )
            )
    return engine


@contextlib.contextmanager
def locked(out_dir: Path) -> Iterator[None]:
    """One render per output folder: a second one is refused with a clear message."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / ".lock", "a") as handle:  # "a": no truncation, no mtime change
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RenderError(f"another render is writing to {out_dir}; wait for it to finish") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def render(
    transcript: Transcript,
    vmap: VoiceMap,
    engine: Engine,
    settings: Settings,
    report: Reporter = silent,
    *,
    executor: Executor | None = None,
) -> Result:
    """Synthesize in section order and build each episode as soon as its clips exist,
    beside the engine (at a lower priority); after each episode the manifest, feed and
    page list the episodes finished so far. The whole-interview files come last.
    ``executor``: where the clips are synthesized (default: threads here sharing ``engine``)."""
    out_dir = settings.out_dir(transcript)
    # Every speaker must have a voice before anything is written (no lock, no folders).
    vmap.cast(transcript, engine.name)
    cache = settings.clip_cache()
    with locked(out_dir):
        sweep_partials(out_dir)
        plan = make_plan(
            transcript, vmap, engine, cache, out_dir, settings.sections, settings.rebuild, cover=settings.cover
        )
        needed = list(plan.title_jobs) + [
            j
            for s in plan.sections
            if s.section.index in plan.selected and s.section.index not in plan.up_to_date
            for j in s.jobs
        ]
        assembly = Outputs(plan, cache, settings, report)
        try:
            clips, failures = _synthesize_streaming(needed, engine, cache, settings, report, plan, assembly, executor)
            if failures:
                # What the engine did make is kept: episodes whose clips all exist are built
                # and listed, so only the failed sections wait for the retry.
                assembly.build_rest({**plan.found, **clips}, complete_only=True)
                raise failure_error(failures, transcript.source)
            assembly.build_rest({**plan.found, **clips})
            return assembly.finish()
        finally:
            assembly.close()


def _synthesize_streaming(
    needed: list[Job],
    engine: Engine,
    cache: ClipCache,
    settings: Settings,
    report: Reporter,
    plan: Plan,
    assembly: Outputs,
    executor: Executor | None = None,
) -> tuple[dict[str, CachedClip], list[Failure]]:
    """Run the engine in a thread of its own while this one builds episodes in order."""
    found: dict[str, CachedClip] = dict(plan.found)
    ready = threading.Condition()
    stop = threading.Event()
    outcome: dict[str, Any] = {}

    def on_clip(job: Job, clip: CachedClip) -> None:
        # An edit's clip is listed as a preview before anything waits on it.
        assembly.preview(job, clip)
        with ready:
            found[job.key] = clip
            ready.notify_all()

    def synthesize() -> None:
        try:
            outcome["result"] = synthesize_missing(
                needed, engine, cache, workers=settings.jobs, report=report, known=plan.found,
                on_clip=on_clip, stop=stop, niceness=ENGINE_NICENESS if settings.stream else 0, executor=executor,
            )  # fmt: skip
        except BaseException as exc:  # handed to the caller's thread
            outcome["error"] = exc
        finally:
            with ready:
                outcome["done"] = True
                ready.notify_all()

    thread = threading.Thread(target=synthesize, name="synthesize", daemon=True)
    thread.start()
    try:
        for sp in assembly.queue() if settings.stream else []:
            keys = [j.key for j in sp.jobs]
            with ready:
                ready.wait_for(lambda keys=keys: all(k in found for k in keys) or "done" in outcome)  # type: ignore[misc]
                if "done" in outcome:
                    break  # the engine has finished: build the rest side by side
                clips = dict(found)
            assembly.build_streaming(sp, clips)
    finally:
        if thread.is_alive() and sys.exc_info()[0] is not None:
            stop.set()  # interrupted or failed: finished clips are cached, the rest waits
        thread.join()
    if "error" in outcome:
        raise outcome["error"]
    clips, failures = outcome["result"]
    return clips, failures
