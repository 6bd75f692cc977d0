"""The click layer: argument parsing, printing, progress bars and exit codes.

Everything else lives in the library; a ``PipelineError`` becomes one clear line
(one per problem) and its exit code, never a traceback.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from .. import __version__, batch, transcript, voices
from .. import render as render_mod
from ..errors import PipelineError
from .check import check
from .common import (
    Engines,
    echo_error,
    echo_json,
    echo_transcript_report,
    find_config,
    prepare,
    read_transcript,
    reports_errors,
)
from .options import (
    config_option,
    cover_option,
    executor_option,
    json_option,
    progress_options,
    run_options,
    store_options,
)
from .progress import make_reporter


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="audio-pipeline")
def main() -> None:
    """Turn an interview transcript written in Markdown into chaptered audio."""


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@config_option(help="voices.yaml (its speakers count as known names).")
@json_option("Print the parsed transcript as JSON.")
@reports_errors
def parse(file: str, config: str | None, as_json: bool) -> None:
    """Split FILE into sections and speaker turns."""
    parsed = read_transcript(file, voices.load(config)) if config else transcript.read(file)
    echo_transcript_report(parsed)
    if as_json:
        echo_json(transcript.to_json(parsed))
        return
    click.echo(f"{parsed.title}  ({len(parsed.sections)} sections, {len(parsed.turns)} turns)")
    for section in parsed.sections:
        chars = sum(len(t.text) for t in section.turns)
        click.echo(f"{section.index:3d}. {section.title}  [{len(section.turns)} turns, {chars} chars]")
        for turn in section.turns:
            who = turn.speaker or "(narrator)"
            preview = turn.text.replace("\n", " ")
            click.echo(f"       {turn.line:5d} {who}: {preview[:60]}{'…' if len(preview) > 60 else ''}")


@main.command(name="voices")
@click.argument("file", type=click.Path(dir_okay=False))
@config_option()
@click.option("--engine", type=click.Choice(voices.ENGINE_NAMES), default="kokoro", show_default=True)
@json_option("Print the assignment as JSON.")
@reports_errors
def voices_command(file: str, config: str | None, engine: str, as_json: bool) -> None:
    """Show the voice each speaker of FILE (and the narrator) gets."""
    vmap = voices.load(find_config(config, file))
    parsed = read_transcript(file, vmap)
    cast = vmap.cast(parsed, engine)
    # The transcript's language first, then the voices of turns in other languages.
    order = sorted(cast.voices, key=lambda who_lang: who_lang[1] != cast.lang)
    rows = [{**voices.spec_json(who, cast.voices[(who, code)]), "lang": code} for who, code in order]
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        extras = ", ".join(f"{k}={v}" for k, v in row.items() if k not in ("speaker", "engine", "voice", "lang"))
        who = row["speaker"] or "(narrator)"
        click.echo(f"{who} [{row['lang']}]: {row['engine']} {row['voice']}" + (f" ({extras})" if extras else ""))


_render_options = run_options(
    engine_help="auto: edge-tts when its service answers, else kokoro (offline).",
    out_help="Output root; files go to OUT/<transcript stem>/.",
    jobs_help="Clips synthesized at once [default: per engine].",
)


def _render_files(
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
) -> list[batch.Outcome]:
    """Render each file in turn (one clip cache, one executor); a failing one is
    reported and the others go on. Raises the error itself when there is one file."""
    reporter = make_reporter(progress, quiet)
    chosen = Engines(executor, jobs)

    def prepare_one(file: str) -> batch.Prepared:
        return prepare(
            file, config, engine, out_root, sections_spec, cache_dir, jobs, base_url, reporter, cover,
            announce=True, quiet=quiet, choose=chosen.choose,
        )  # fmt: skip

    def done(outcome: batch.Outcome) -> None:
        if outcome.result is not None:
            result = outcome.result
            plan = result.plan
            click.echo(
                f"{result.out_dir}: engine {plan.engine_name}; clips {len(plan.missing)} new, "
                f"{len(plan.cached)} cached; sections built {list(result.built) or 'none'} "
                f"(encoded {list(result.encoded) or 'none'}); "
                f"whole interview {'rebuilt' if result.whole_built else 'unchanged'}"
            )
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


def _batch_summary(outcomes: list[batch.Outcome]) -> None:
    failed = [o.source for o in outcomes if not o.ok]
    click.echo(
        f"{len(outcomes) - len(failed)} of {len(outcomes)} transcripts done"
        + (f"; failed: {', '.join(failed)}" if failed else ""),
        err=True,
    )
    if failed:
        sys.exit(batch.exit_code(outcomes))


def _watch_renders(
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


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@_render_options
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
        _watch_renders(files[0], config, lambda: _render_files(*args))
        return
    outcomes = _render_files(*args)
    if len(files) > 1:
        _batch_summary(outcomes)


@main.command()
@click.argument("target", required=False, type=click.Path())
@_render_options
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="0: any free port.")
@cover_option
@click.option("--watch", is_flag=True, help="With a transcript: render it again whenever it or voices.yaml is saved.")
@reports_errors
def serve(
    target: str | None,
    config: str | None,
    engine: str,
    out_root: str,
    sections_spec: str | None,
    cache_dir: str | None,
    jobs: int | None,
    host: str,
    port: int,
    cover: str | None,
    watch: bool,
) -> None:
    """Serve a rendered interview (TARGET: its transcript or output folder) with its player.

    Seeking works (HTTP Range) and the page refreshes itself when a render changes the
    manifest. With --watch and a transcript: edit, save, listen.
    """
    from .. import serve as serve_mod

    is_transcript = target is not None and Path(target).is_file()
    if watch and not is_transcript:
        raise PipelineError("--watch needs the transcript to render (serve FILE --watch)")
    if is_transcript:
        assert target is not None
        vmap = voices.load(find_config(config, target))
        folder = render_mod.Settings(out_root=Path(out_root)).out_dir(read_transcript(target, vmap))
        folder.mkdir(parents=True, exist_ok=True)
    else:
        folder = Path(target or out_root)
    server = serve_mod.start(folder, host, port)
    click.echo(f"serving {folder} at {server.url} (Ctrl-C stops)", err=True)
    try:
        if watch:
            assert target is not None
            args = ((target,), config, engine, out_root, sections_spec, cache_dir, jobs, None, cover)
            _watch_renders(target, config, lambda: _render_files(*args))
        else:
            threading.Event().wait()
    finally:
        server.stop()


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@_render_options
@cover_option
@json_option("Print the plan as JSON (a list, with several FILEs).")
@reports_errors
def plan(
    files: tuple[str, ...],
    config: str | None,
    engine: str,
    out_root: str,
    sections_spec: str | None,
    cache_dir: str | None,
    jobs: int | None,
    cover: str | None,
    as_json: bool,
) -> None:
    """Say what render would do for each FILE, without doing it."""
    chosen = Engines()
    plans: list[dict[str, Any]] = []
    failed: list[batch.Outcome] = []
    distinct: set[str] = set()
    for file in files:
        try:
            item = prepare(
                file, config, engine, out_root, sections_spec, cache_dir, jobs, None, render_mod.silent, cover,
                choose=chosen.choose,
            )  # fmt: skip
            settings = item.settings
            made = render_mod.make_plan(
                item.transcript, item.vmap, item.engine, settings.clip_cache(), settings.out_dir(item.transcript),
                settings.sections, cover=settings.cover,
            )  # fmt: skip
        except PipelineError as exc:
            if len(files) == 1:
                raise
            failed.append(batch.Outcome(file, error=exc))
            echo_error(exc, file)
            continue
        distinct |= made.missing
        result = made.to_json()
        plans.append({"file": file, **result} if len(files) > 1 else result)
        if not as_json:
            click.echo(
                (f"{file}: " if len(files) > 1 else "")
                + f"engine {result['engine']}: {result['clips_to_synthesize']} clips to synthesize, "
                f"{result['clips_cached']} cached; sections to build {result['sections_to_build'] or 'none'} "
                f"(to encode {result['sections_to_encode'] or 'none'}), "
                f"up to date {result['sections_up_to_date'] or 'none'}"
            )
    if as_json:
        echo_json(plans if len(files) > 1 else plans[0])
    elif len(plans) > 1:
        shared = sum(p["clips_to_synthesize"] for p in plans) - len(distinct)
        click.echo(f"all: {len(distinct)} distinct clips to synthesize ({shared} shared between transcripts)")
    if failed:
        sys.exit(batch.exit_code(failed))


@main.group()
def cache() -> None:
    """Inspect or prune the clip cache."""


@cache.command("info")
@store_options
@json_option()
@reports_errors
def cache_info(out_root: str, cache_dir: str | None, as_json: bool) -> None:
    """Entries and size of the clip cache."""
    store = render_mod.Settings(out_root=Path(out_root), cache_dir=Path(cache_dir) if cache_dir else None).clip_cache()
    entries, size = store.info()
    if as_json:
        echo_json({"path": str(store.root), "entries": entries, "bytes": size})
    else:
        click.echo(f"{store.root}: {entries} clips, {size / 1e6:.1f} MB")


@cache.command("prune")
@click.argument("file", type=click.Path(dir_okay=False))
@config_option()
@store_options
@reports_errors
def cache_prune(file: str, config: str | None, out_root: str, cache_dir: str | None) -> None:
    """Drop every cached clip FILE no longer uses (with any engine configured in voices.yaml)."""
    vmap = voices.load(find_config(config, file))
    parsed = read_transcript(file, vmap)
    store = render_mod.Settings(out_root=Path(out_root), cache_dir=Path(cache_dir) if cache_dir else None).clip_cache()
    keep = render_mod.keys_in_use(parsed, vmap)
    removed, freed = store.prune(keep)
    click.echo(f"{store.root}: removed {removed} clips ({freed / 1e6:.1f} MB); kept those in use")


main.add_command(check)

if __name__ == "__main__":
    main()
