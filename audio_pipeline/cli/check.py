"""``audio-pipeline check``: hear what the listener hears.

Registered in cli/__init__.py with ``main.add_command(check)``.
"""

from __future__ import annotations

import functools
import sys
import unicodedata
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from .. import batch, fsutil, manifest, naming
from .. import render as render_mod
from ..cache import ClipCache
from ..check import heard, listen, recognizer, scoring
from ..check.listen import TurnCheck
from ..errors import PipelineError
from ..model import TITLE_SECTION, Job
from ..progress import Event, Reporter
from .common import echo_error, echo_json, prepare, reports_errors
from .options import json_option, run_options
from .progress import TqdmReporter


def _jobs(item: batch.Prepared) -> list[Job]:
    """The clips a render with these settings uses, in reading order (the title only
    when every section is chosen), resolved exactly as render resolves them."""
    parsed, settings = item.transcript, item.settings
    plan = render_mod.make_plan(
        parsed, item.vmap, item.engine, settings.clip_cache(), settings.out_dir(parsed), settings.sections
    )
    jobs = list(plan.title_jobs) if settings.sections is None else []
    jobs += [job for sp in plan.sections if sp.section.index in plan.selected for job in sp.jobs]
    return jobs


def _recorded_engine(file: str, out_root: str) -> str | None:
    """The engine of the last render into ``out_root`` (its manifest says)."""
    out_dir = Path(out_root) / naming.slug(Path(file).stem)
    recorded = manifest.read(out_dir)
    name = recorded.engine if recorded else None
    return name if isinstance(name, str) else None


def _digest(clips: ClipCache, key: str) -> str | None:
    clip = clips.get(key)
    return fsutil.sha256_file(clip.path) if clip else None


def fix(
    checks: list[TurnCheck],
    item: batch.Prepared,
    listener: recognizer.Listener,
    results: heard.ResultCache,
    *,
    threshold: float,
    worst: int,
    report: Reporter,
) -> tuple[list[TurnCheck], list[str]]:
    """Re-synthesize the failing clips, rebuild their sections, and check them again.

    Returns the updated checks and notes for the user (clips that came back identical:
    a deterministic engine says the same thing again, so only a text or lexicon change
    helps there).
    """
    flagged = [c for c in checks if c.failed]
    if not flagged:
        return checks, []
    parsed, vmap, engine, settings = item.transcript, item.vmap, item.engine, item.settings
    clips = settings.clip_cache()
    keys = {c.job.key for c in flagged}
    before = {key: _digest(clips, key) for key in keys}
    for key in keys:
        clips.discard(key)
        results.discard(key)
    sections = {c.job.section for c in flagged if c.job.section != TITLE_SECTION}
    report(Event("notice", message=f"re-synthesizing {len(keys)} clip(s); rebuilding sections {sorted(sections)}"))
    chosen = frozenset(sections)
    render_mod.render(parsed, vmap, engine, replace(settings, sections=chosen, rebuild=chosen), report)
    again = listen.check_jobs(
        [c.job for c in flagged], clips, listener, results, threshold=threshold, worst=worst,
        lexicon=vmap.lexicon, report=report,
    )
    by_key = {c.job.key: c for c in again}
    notes = []
    for key in sorted(keys, key=lambda k: next(c.job.line for c in flagged if c.job.key == k)):
        job = by_key[key].job
        if before[key] is not None and before[key] == _digest(clips, key):
            notes.append(
                f"{parsed.source}:{job.line}: re-synthesized audio is identical ({engine.name} is deterministic): "
                "change the text or add a lexicon entry"
            )
    updated = [by_key.get(c.job.key, c) for c in checks]
    # Lexicon suggestions across the whole run, with the new hearing of the fixed clips.
    listen.mark_suggestions(updated, vmap.lexicon)
    return updated, notes


def _pad(text: str, width: int) -> str:
    """``text`` padded to ``width`` terminal columns (CJK characters take two)."""
    used = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
    return text + " " * max(0, width - used)


def _row(check: TurnCheck) -> str:
    where = "title" if check.job.section == TITLE_SECTION else f"§{check.job.section}"
    who = _pad(check.job.speaker or "(narrator)", 10)
    if check.score is None:
        return f"{where:>5} {check.job.line:5d}  {who}  -  missing (not rendered yet)"
    spans = "; ".join(f"{s.expected or '∅'} → {s.heard or '∅'}" for s in check.score.worst).replace("\n", " ")
    problems = "".join(f" [{p}]" for p in check.fast_problems)
    return f"{where:>5} {check.job.line:5d}  {who}  {check.score.error_rate:5.2f}  {check.verdict}  {spans}{problems}"


def _summary(checks: list[TurnCheck], threshold: float, listener: recognizer.Listener) -> list[str]:
    heard = [c for c in checks if c.score]
    missing = sum(1 for c in checks if c.verdict == "missing")
    failed = sum(1 for c in checks if c.failed)
    unsure = sum(1 for c in checks if c.verdict == "unsure")
    rates = sorted(c.score.error_rate for c in heard if c.score)
    lines = [
        f"{len(heard)} clip(s) checked, {failed} failed (threshold {threshold:.2f}), "
        f"{missing} missing (not rendered yet: run render first)"
    ]
    if unsure:
        lines.append(
            f"{unsure} clip(s) too short for the recognizer to judge (<= {scoring.SHORT_UNITS} syllables or words, "
            "heard differently): listen to them yourself"
        )
    if rates:
        mean = sum(rates) / len(rates)
        lines.append(f"error rate: mean {mean:.3f}, median {rates[len(rates) // 2]:.3f}, worst {rates[-1]:.3f}")
    if isinstance(listener, recognizer.WhisperListener) and listener.calls:
        speed = listener.audio_s / listener.busy_s if listener.busy_s else 0.0
        lines.append(
            f"recognizer: {listener.calls} clip(s), {listener.audio_s:.0f} s of audio in "
            f"{listener.busy_s:.0f} s ({speed:.1f}× real time); the rest came from the results cache"
        )
    words = sorted({w for c in checks for w in c.suggest_lexicon})
    if words:
        lines.append(f"misheard Latin words, candidates for the voices.yaml lexicon: {', '.join(words)}")
    return lines


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@run_options(
    engine_help="auto: the engine of the last render into OUT (from its manifest), else as render picks.",
    out_help="Output root the transcript was rendered into.",
    jobs_help="Clips synthesized at once by --fix [default: per engine].",
)
@json_option("Print a JSON list, one object per clip.")
@click.option(
    "--threshold",
    type=click.FloatRange(0.0, 10.0),
    default=scoring.DEFAULT_THRESHOLD,
    show_default=True,
    help="Fail a clip whose syllable (or word) error rate is above this.",
)
@click.option(
    "--worst",
    type=click.IntRange(0, 20),
    default=scoring.DEFAULT_WORST,
    show_default=True,
    help="Spans shown per clip.",
)
@click.option("--fix", is_flag=True, help="Re-synthesize failing clips, rebuild their sections, check them again.")
def check(
    files: tuple[str, ...],
    config: str | None,
    engine: str,
    out_root: str,
    sections_spec: str | None,
    cache_dir: str | None,
    jobs: int | None,
    as_json: bool,
    threshold: float,
    worst: int,
    fix: bool,
) -> None:
    """Listen to each FILE's rendered clips with an offline recognizer and compare them with the text.

    Exit 1 when any clip fails, 0 otherwise (with several FILEs: a FILE that cannot be
    checked is reported and the others are). Needs the optional extra: pip install -e ".[check]".
    """
    options = (config, engine, out_root, sections_spec, cache_dir, jobs, as_json, threshold, worst, fix)
    if len(files) == 1:
        if reports_errors(_run)(files[0], *options):
            sys.exit(1)
        return
    code = 0
    for file in files:
        click.echo(f"== {file}", err=as_json)
        try:
            failed = _run(file, *options)
        except PipelineError as exc:
            echo_error(exc, file)
            code = max(code, exc.exit_code)
        else:
            code = max(code, 1 if failed else 0)
    if code:
        sys.exit(code)


def _run(
    file: str,
    config: str | None,
    engine_name: str,
    out_root: str,
    sections_spec: str | None,
    cache_dir: str | None,
    jobs: int | None,
    as_json: bool,
    threshold: float,
    worst: int,
    do_fix: bool,
) -> bool:
    """Check one transcript and print its table; True when any clip failed."""
    recognizer.require()
    reporter = TqdmReporter()
    notes: list[str] = []
    try:
        # "auto" checks the clips of the last render's engine (engines.resolve).
        choose = functools.partial(render_mod.choose_engine, recorded=_recorded_engine(file, out_root))
        item = prepare(
            file, config, engine_name, out_root, sections_spec, cache_dir, jobs, None, reporter, choose=choose
        )
        clip_jobs = _jobs(item)
        clips = item.settings.clip_cache()
        listener = recognizer.WhisperListener()
        results = heard.ResultCache.beside(clips, listener.model_id)
        checks = listen.check_jobs(
            clip_jobs, clips, listener, results,
            threshold=threshold, worst=worst, lexicon=item.vmap.lexicon, report=reporter,
        )  # fmt: skip
        if do_fix:
            checks, notes = fix(checks, item, listener, results, threshold=threshold, worst=worst, report=reporter)
    finally:
        reporter.close()
    if as_json:
        data: list[dict[str, Any]] = [c.to_json() for c in checks]
        echo_json(data)
    else:
        for c in checks:
            click.echo(_row(c))
    for line in [*notes, *_summary(checks, threshold, listener)]:
        click.echo(line, err=as_json)
    return any(c.failed for c in checks)
