"""Many transcripts in one run.

They are rendered one after another, each into its own output folder, through one
clip cache and one executor (on Ray, the same actors with their engines loaded stay
up for the whole batch). A turn that two transcripts share has one clip key, so it is
synthesized once: the later transcript finds it cached. Each render streams as a
single one does (episodes built while the engine works on).

Why one after another, not every transcript's clips through the executor at once: the
executor is already kept full within a transcript (a render's clips are its work
queue, submitted in reading order), the first episodes of the first transcript come
soonest, a failing transcript stops nothing else, and a killed batch resumes from the
cache like a single render. The cost is the tail of each transcript, when fewer
clips remain than workers (at most about one clip's synthesis per worker), and the
transcript's last episodes and whole-interview files, built after its synthesis ends.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import render
from .engines.base import Engine
from .errors import PipelineError
from .executors import Executor
from .model import Transcript
from .progress import Event, Reporter, silent
from .voices import VoiceMap


@dataclass(frozen=True)
class Prepared:
    """One transcript, read and ready to render."""

    transcript: Transcript
    vmap: VoiceMap
    engine: Engine
    settings: render.Settings


@dataclass(frozen=True)
class Outcome:
    source: str
    result: render.Result | None = None
    error: PipelineError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def render_all(
    sources: Sequence[str],
    prepare: Callable[[str], Prepared],
    report: Reporter = silent,
    *,
    executor_for: Callable[[Prepared], Executor | None] | None = None,
    on_done: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Render every source in turn; one that fails (bad input, failed turns, two
    transcripts that would share an output folder) is reported and the rest go on.

    ``prepare`` reads a source (a ``PipelineError`` there fails that source only);
    ``executor_for`` picks the executor for it (None: threads here)."""
    outcomes: list[Outcome] = []
    writers: dict[Path, str] = {}
    for number, source in enumerate(sources, 1):
        if len(sources) > 1:
            report(Event("notice", message=f"[{number}/{len(sources)}] {source}"))
        try:
            item = prepare(source)
            out_dir = item.settings.out_dir(item.transcript).resolve()
            if out_dir in writers:
                raise PipelineError(
                    f"would write to {out_dir}, as {writers[out_dir]} does: rename one of them", path=source
                )
            writers[out_dir] = source
            executor = executor_for(item) if executor_for is not None else None
            result = render.render(item.transcript, item.vmap, item.engine, item.settings, report, executor=executor)
        except PipelineError as exc:
            outcome = Outcome(source, error=exc)
        else:
            outcome = Outcome(source, result=result)
        outcomes.append(outcome)
        if on_done is not None:
            on_done(outcome)
    return outcomes


def exit_code(outcomes: Sequence[Outcome]) -> int:
    """0 when every transcript succeeded, else the highest failing exit code
    (2: bad input or options, 1: failed turns)."""
    return max((o.error.exit_code for o in outcomes if o.error is not None), default=0)
