"""``render``: transcripts to episodes, the whole interview, subtitles, manifest, feed
and player; once, for a batch, or again on every save (``--watch``, also used by serve)."""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import click

from .. import batch
from .. import render as render_mod
from ..engines.base import Engine
from ..engines.base import warm as warm_engine
from ..errors import PipelineError
from .common import Engines, echo_error, find_config, prepare, reports_errors
from .options import cover_option, executor_option, progress_options, render_options
from .progress import make_reporter


def _warm_quietly(engine: Engine) -> None:
    # Only a head start: when loading fails, the render that needs the model says why.
    with contextlib.suppress(Exception):
        warm_engine(engine)


def render_files(
    files: tuple[str, ...],
    config: str | None,
    engine: str,
    out_root: str,
    sections_spec: str | None,
    cache_dir: str | None,
    jobs: int | None,
    base_url: str | None,
    cover: str | None = None,
    progress: str = "bar",
    quiet: bool = False,
    executor: str = "local",
    warm: bool = False,
) -> list[batch.Outcome]:
    """Render each file in turn (one clip cache, one executor); a failing one is
    reported and the others go on. Raises the error itself when there is one file.
    ``warm``: a watch: load the engine's model beside the render, and list an edit's new
    clips as previews (the next edit is heard sooner)."""
    reporter = make_reporter(progress, quiet)
    chosen = Engines(executor, jobs)

    def prepare_one(file: str) -> batch.Prepared:
        prepared = prepare(
            file, config, engine, out_root, sections_spec, cache_dir, jobs, base_url, reporter, cover,
            announce=True, quiet=quiet, choose=chosen.choose, previews=warm,
        )  # fmt: skip
        if warm:
            threading.Thread(target=_warm_quietly, args=(prepared.engine,), name="warm", daemon=True).start()
        return prepared

    def done(outcome: batch.Outcome) -> None:
        if outcome.result is not None:
            click.echo(_result_line(outcome.result))
        elif outcome.error is not None and len(files) > 1:
            reporter.close()  # the error lines go below any bar
            echo_error(outcome.error, outcome.source)

    try:
        outcomes = batch.render_all(
            files, prepare_one, reporter, executor_for=lambda item: chosen.executor_for(item, reporter), on_done=done
        )
    finally:
        chosen.close()
        reporter.close()
    if len(files) == 1 and outcomes[0].error is not None:
        raise outcomes[0].error
    return outcomes


def _result_line(result: render_mod.Result) -> str:
    """What one render did, on stdout."""
    plan = result.plan
    return (
        f"{result.out_dir}: engine {plan.engine_name}; clips {len(plan.missing)} new, "
        f"{len(plan.cached)} cached; sections built {list(result.built) or 'none'} "
        f"(encoded {list(result.encoded) or 'none'}); "
        f"whole interview {'rebuilt' if result.whole_built else 'unchanged'}"
    )


def _batch_summary(outcomes: list[batch.Outcome]) -> None:
    failed = [o.source for o in outcomes if not o.ok]
    click.echo(
        f"{len(outcomes) - len(failed)} of {len(outcomes)} transcripts done"
        + (f"; failed: {', '.join(failed)}" if failed else ""),
        err=True,
    )
    if failed:
        sys.exit(batch.exit_code(outcomes))


def watch_renders(
    file: str, config: str | None, render_once: Callable[[], object], stop: threading.Event | None = None
) -> None:
    """Render now and after every save of FILE or its voices.yaml; a bad edit prints its
    error and the loop goes on, the last good outputs staying in place."""
    from .. import watch

    paths = [Path(file)]
    with contextlib.suppress(PipelineError):
        paths.append(find_config(config, file))

    def run(saved: set[Path]) -> None:
        if len(saved) < len(paths) or len(paths) == 1:
            click.echo(f"changed: {', '.join(sorted(str(p) for p in saved))}", err=True)
        try:
            render_once()
        except PipelineError as exc:
            echo_error(exc)
        click.echo(f"watching {', '.join(str(p) for p in paths)} (Ctrl-C stops)", err=True)

    watch.loop(paths, run, stop=stop)


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@render_options
@click.option("--base-url", help="Absolute URL where the output folder will be published (for feed.xml).")
@cover_option
@progress_options
@executor_option
@click.option("--watch", is_flag=True, help="Render again whenever FILE or voices.yaml is saved (one FILE only).")
@reports_errors
def render(
    files: tuple[str, ...],
    config: str | None,
    engine: str,
    out_root: str,
    sections_spec: str | None,
    cache_dir: str | None,
    jobs: int | None,
    base_url: str | None,
    cover: str | None,
    progress: str,
    quiet: bool,
    executor: str,
    watch: bool,
) -> None:
    """Render each FILE: episodes per section, the whole interview, subtitles, manifest, feed, player.

    Episodes are built as soon as their clips exist, while the engine goes on; the
    manifest, feed and player list each finished episode at once. Several FILEs share
    one clip cache (a turn they share is synthesized once) and get a folder each under
    OUT; one that fails is reported, the others finish, and the exit code is non-zero.
    """
    if watch and len(files) > 1:
        raise PipelineError("--watch follows one transcript; give one FILE")
    args = (files, config, engine, out_root, sections_spec, cache_dir, jobs, base_url, cover, progress, quiet, executor)
    if watch:
        watch_renders(files[0], config, lambda: render_files(*args, warm=True))
        return
    outcomes = render_files(*args)
    if len(files) > 1:
        _batch_summary(outcomes)
