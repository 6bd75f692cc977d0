"""The click layer: argument parsing, printing, progress bars and exit codes.

Everything else lives in the library; a ``PipelineError`` becomes one clear line
(one per problem) and its exit code, never a traceback.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from . import __version__, batch, transcript, voices
from . import render as render_mod
from .cli_options import EngineChoice, run_options
from .engines.base import Engine
from .engines.base import warm as warm_engine
from .errors import PipelineError
from .executors import Executor
from .model import Transcript
from .progress import Event, Reporter

if TYPE_CHECKING:
    from tqdm import tqdm

F = TypeVar("F", bound=Callable[..., Any])


def _reports_errors(func: F) -> F:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except PipelineError as exc:
            for line in str(exc).splitlines():
                click.echo(f"Error: {line}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("Interrupted: finished clips are cached; run again to resume.", err=True)
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


def find_config(config: str | None, transcript_path: str | None) -> Path:
    """--config, else ./voices.yaml, else voices.yaml beside the transcript or one folder
    up, else the one shipped in the package (with a notice)."""
    if config:
        return Path(config)
    candidates = [Path("voices.yaml")]
    if transcript_path:
        here = Path(transcript_path).resolve().parent
        candidates += [here / "voices.yaml", here.parent / "voices.yaml"]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    shipped = voices.shipped_config()
    click.echo(f"notice: no voices.yaml here or beside the transcript; using the shipped defaults: {shipped}", err=True)
    return shipped


def read_transcript(file: str, vmap: voices.VoiceMap) -> Transcript:
    """FILE parsed with voices.yaml's names known and its aliases applied
    (``Speaker 0`` -> ``Prof. Lee``) before any voice is assigned."""
    return transcript.read(file, vmap.speakers | set(vmap.aliases), vmap.aliases)


def echo_transcript_report(parsed: Transcript, quiet: bool = False) -> None:
    """On stderr: what the parser skipped or doubts, and each speaker with its turn count,
    so a transcript read wrongly shows before anything is rendered (``quiet``: warnings only)."""
    for notice in parsed.notices:
        where = f"{parsed.source}:{notice.line}" if notice.line is not None else parsed.source
        if not quiet or notice.level == "warning":
            click.echo(f"{notice.level}: {where}: {notice.message}", err=True)
    if quiet:
        return
    counts = transcript.speaker_counts(parsed)
    for name, count in counts.items():
        click.echo(f"speaker: {name} ({count} turn{'s' if count != 1 else ''})", err=True)
    if not counts:
        click.echo("speaker: none found; everything is read by the narrator", err=True)


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="audio-pipeline")
def main() -> None:
    """Turn an interview transcript written in Markdown into chaptered audio."""


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--config", type=click.Path(dir_okay=False), help="voices.yaml (its speakers count as known names).")
@click.option("--json", "as_json", is_flag=True, help="Print the parsed transcript as JSON.")
@_reports_errors
def parse(file: str, config: str | None, as_json: bool) -> None:
    """Split FILE into sections and speaker turns."""
    parsed = read_transcript(file, voices.load(config)) if config else transcript.read(file)
    echo_transcript_report(parsed)
    if as_json:
        _echo_json(transcript.to_json(parsed))
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
@click.option("--config", type=click.Path(dir_okay=False), help="voices.yaml to use.")
@click.option("--engine", type=EngineChoice(), default="kokoro", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the assignment as JSON.")
@_reports_errors
def voices_command(file: str, config: str | None, engine: str, as_json: bool) -> None:
    """Show the voice each speaker of FILE (and the narrator) gets."""
    vmap = voices.load(find_config(config, file))
    parsed = read_transcript(file, vmap)
    cast = vmap.cast(parsed, engine)
    # The transcript's language first, then the voices of turns in other languages.
    order = sorted(cast.voices, key=lambda who_lang: who_lang[1] != cast.lang)
    rows = [{**voices.spec_json(who, cast.voices[(who, code)]), "lang": code} for who, code in order]
    if as_json:
        _echo_json(rows)
        return
    for row in rows:
        extras = ", ".join(f"{k}={v}" for k, v in row.items() if k not in ("speaker", "engine", "voice", "lang"))
        who = row["speaker"] or "(narrator)"
        click.echo(f"{who} [{row['lang']}]: {row['engine']} {row['voice']}" + (f" ({extras})" if extras else ""))


class TqdmReporter:
    """Feeds the core's progress events to tqdm bars on stderr; notices and finished
    episodes print as lines. The audio bar counts seconds of audio, so its ETA holds
    whether a clip lasts one second or sixty."""

    def __init__(self) -> None:
        self.bars: dict[str, tqdm] = {}
        self.cached: dict[str, int] = {}

    def __call__(self, event: Event) -> None:
        from tqdm import tqdm  # ~70 ms: only when there is something to show

        if event.kind == "notice":
            tqdm.write(event.message, file=sys.stderr)
        elif event.kind == "episode":
            tqdm.write(f"episode {int(event.total)} ready: {event.message}", file=sys.stderr)
        elif event.kind == "start":
            self.cached[event.stage] = 0
            if event.unit == "s":
                self.bars[event.stage] = tqdm(
                    total=round(event.total, 1), desc=event.stage, unit="s", unit_scale=False, file=sys.stderr,
                    bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s of audio "
                    "[{elapsed}<{remaining}, {rate_fmt}]",
                )  # fmt: skip
            else:
                self.bars[event.stage] = tqdm(total=event.total, desc=event.stage, unit="", file=sys.stderr)
        elif event.kind == "step" and event.stage in self.bars:
            bar = self.bars[event.stage]
            if event.unit == "s":
                bar.total = max(round(event.total, 1), bar.n + event.amount)
                bar.update(event.amount)
            elif event.cached:
                self.cached[event.stage] += 1
                # Cached steps cost nothing: keep them out of the rate so the ETA is honest.
                bar.total -= 1
                bar.refresh()
            else:
                bar.update(1)
                bar.set_postfix_str(f"cached {self.cached[event.stage]}, new {bar.n}", refresh=False)
        elif event.kind == "end" and event.stage in self.bars:
            self.bars.pop(event.stage).close()

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
        self.bars.clear()


class JsonReporter:
    """``--progress json``: one JSON object per line on stderr, for scripts."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.done: dict[str, float] = {}
        self.totals: dict[str, float] = {}

    def __call__(self, event: Event) -> None:
        out: dict[str, Any] = {"event": event.kind}
        if event.kind in ("start", "step", "end"):
            if event.kind == "start":
                self.done[event.stage] = 0
            if event.kind == "step" and not event.cached:
                self.done[event.stage] = self.done.get(event.stage, 0) + event.amount
            if event.kind in ("start", "step") and (event.total or event.kind == "start"):
                self.totals[event.stage] = event.total
            done, total = self.done.get(event.stage, 0), self.totals.get(event.stage, 0)
            elapsed = time.monotonic() - self.started
            out.update(stage=event.stage, done=round(done, 3), total=round(total, 3), unit=event.unit or "step")
            if event.unit == "s" and done > 0 and total >= done:
                out["eta_s"] = round(elapsed * (total - done) / done, 1)
        elif event.kind == "episode":
            out.update(section=int(event.total), path=event.message)
        else:
            out["message"] = event.message
        click.echo(json.dumps(out, ensure_ascii=False), err=True)

    def close(self) -> None:
        pass


def make_reporter(progress: str, quiet: bool) -> TqdmReporter | JsonReporter | _Quiet:
    if quiet:
        return _Quiet()
    return JsonReporter() if progress == "json" else TqdmReporter()


class _Quiet:
    def __call__(self, event: Event) -> None:
        pass

    def close(self) -> None:
        pass


_cover_option = click.option(
    "--cover",
    type=click.Path(dir_okay=False),
    help="Cover image (JPEG/PNG) [default: the front matter's cover:, else one is drawn].",
)
_progress_options = (
    click.option(
        "--progress",
        type=click.Choice(["bar", "json"]),
        default="bar",
        show_default=True,
        help="bar: tqdm bars on stderr; json: one JSON object per event on stderr, for scripts.",
    ),
    click.option("--quiet", "-q", is_flag=True, help="No progress or notices on stderr (warnings and errors still)."),
)


def _with_progress(func: F) -> F:
    for option in reversed(_progress_options):
        func = option(func)
    return func


_render_options = run_options(
    engine_help="auto: edge-tts when its service answers, else kokoro (offline).",
    out_help="Output root; files go to OUT/<transcript stem>/.",
    jobs_help="Clips synthesized at once [default: per engine].",
)


def _prepare(
    file: str,
    config: str | None,
    engine_name: str,
    out_root: str,
    sections_spec: str | None,
    cache_dir: str | None,
    jobs: int | None,
    base_url: str | None,
    report: Reporter,
    cover: str | None = None,
    announce: bool = False,
    quiet: bool = False,
    choose: Callable[[render_mod.Settings, voices.VoiceMap, Reporter], Engine] = render_mod.choose_engine,
) -> tuple[Transcript, voices.VoiceMap, Engine, render_mod.Settings]:
    vmap = voices.load(find_config(config, file))
    parsed = read_transcript(file, vmap)
    settings = render_mod.Settings(
        out_root=Path(out_root),
        cache_dir=Path(cache_dir) if cache_dir else None,
        engine=engine_name,
        sections=render_mod.parse_sections(sections_spec, len(parsed.sections)),
        jobs=jobs,
        base_url=base_url,
        cover=Path(cover) if cover else None,
    )
    engine = choose(settings, vmap, report)
    settings = dataclasses.replace(settings, engine=engine.name)  # "auto" resolved
    if announce:  # once the options are known to be good: a bad one prints only its error
        echo_transcript_report(parsed, quiet)
    return parsed, vmap, engine, settings


class _Engines:
    """Engines (and executors) for a run over several transcripts: "auto" is resolved
    once, and each engine configuration is built once (Kokoro loads its tables once;
    Ray's actors stay up for the whole batch)."""

    def __init__(self, executor: str = "local", jobs: int | None = None) -> None:
        self.executor = executor
        self.jobs = jobs
        self.resolved: str | None = None
        self.made: dict[str, Engine] = {}
        self.executors: dict[str, Executor] = {}

    @staticmethod
    def _key(name: str, vmap: voices.VoiceMap) -> str:
        return json.dumps([name, dict(vmap.engine(name).options)], sort_keys=True, default=str)

    def choose(self, settings: render_mod.Settings, vmap: voices.VoiceMap, report: Reporter) -> Engine:
        if settings.engine == "auto" and self.resolved:
            settings = dataclasses.replace(settings, engine=self.resolved)
        if settings.engine != "auto" and self._key(settings.engine, vmap) in self.made:
            return self.made[self._key(settings.engine, vmap)]
        engine = render_mod.choose_engine(settings, vmap, report)
        self.resolved = engine.name
        notice = getattr(engine, "notice", None)
        if notice and self.executor == "local":
            report(Event("notice", message=notice))
        self.made[self._key(engine.name, vmap)] = engine
        return engine

    def executor_for(self, item: batch.Prepared, report: Reporter) -> Executor | None:
        if self.executor == "local":
            return None
        key = self._key(item.engine.name, item.vmap)
        if key not in self.executors:
            from . import cluster

            options = item.vmap.engine(item.engine.name).options
            self.executors[key] = cluster.executor_for(item.engine, options, workers=self.jobs, report=report)
        return self.executors[key]

    def close(self) -> None:
        for executor in self.executors.values():
            executor.close()
        self.executors.clear()


def _warm_quietly(engine: Engine) -> None:
    # Only a head start: when loading fails, the render that needs the model says why.
    with contextlib.suppress(Exception):
        warm_engine(engine)


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
    warm: bool = False,
) -> list[batch.Outcome]:
    """Render each file in turn (one clip cache, one executor); a failing one is
    reported and the others go on. Raises the error itself when there is one file.
    ``warm``: load the engine's model beside the render (a watch: the next edit is heard sooner)."""
    reporter = make_reporter(progress, quiet)
    chosen = _Engines(executor, jobs)

    def prepare(file: str) -> batch.Prepared:
        parsed, vmap, engine_, settings = _prepare(
            file, config, engine, out_root, sections_spec, cache_dir, jobs, base_url, reporter, cover,
            announce=True, quiet=quiet, choose=chosen.choose,
        )  # fmt: skip
        if warm:
            threading.Thread(target=_warm_quietly, args=(engine_,), name="warm", daemon=True).start()
        return batch.Prepared(parsed, vmap, engine_, settings)

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
            for line in str(outcome.error).splitlines():
                click.echo(f"Error: {_located(outcome.source, line)}", err=True)

    try:
        outcomes = batch.render_all(
            files, prepare, reporter, executor_for=lambda item: chosen.executor_for(item, reporter), on_done=done
        )
    finally:
        chosen.close()
        reporter.close()
    if len(files) == 1 and outcomes[0].error is not None:
        raise outcomes[0].error
    return outcomes


def _located(source: str, line: str) -> str:
    """An error line of one transcript in a batch, naming it when the line does not."""
    return line if line.startswith(source) else f"{source}: {line}"


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
    from . import watch

    paths = [Path(file)]
    with contextlib.suppress(PipelineError):
        paths.append(find_config(config, file))

    def run(saved: set[Path]) -> None:
        if len(saved) < len(paths) or len(paths) == 1:
            click.echo(f"changed: {', '.join(sorted(str(p) for p in saved))}", err=True)
        try:
            render_once()
        except PipelineError as exc:
            for line in str(exc).splitlines():
                click.echo(f"Error: {line}", err=True)
        click.echo(f"watching {', '.join(str(p) for p in paths)} (Ctrl-C stops)", err=True)

    watch.loop(paths, run, stop=stop)


_executor_option = click.option(
    "--executor",
    type=click.Choice(["local", "ray"]),
    default="local",
    show_default=True,
    help='Where clips are synthesized: threads here, or Ray actors (RAY_ADDRESS, else a local instance; '
    'pip install -e ".[cluster]"). With ray, --jobs is the number of actors.',
)


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@_render_options
@click.option("--base-url", help="Absolute URL where the output folder will be published (for feed.xml).")
@_cover_option
@_with_progress
@_executor_option
@click.option("--watch", is_flag=True, help="Render again whenever FILE or voices.yaml is saved (one FILE only).")
@_reports_errors
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
        _watch_renders(files[0], config, lambda: _render_files(*args, warm=True))
        return
    outcomes = _render_files(*args)
    if len(files) > 1:
        _batch_summary(outcomes)


@main.command()
@click.argument("target", required=False, type=click.Path())
@_render_options
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="0: any free port.")
@_cover_option
@click.option("--watch", is_flag=True, help="With a transcript: render it again whenever it or voices.yaml is saved.")
@_reports_errors
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
    from . import serve as serve_mod

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
            _watch_renders(target, config, lambda: _render_files(*args, warm=True))
        else:
            threading.Event().wait()
    finally:
        server.stop()


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@_render_options
@_cover_option
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON (a list, with several FILEs).")
@_reports_errors
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
    chosen = _Engines()
    plans: list[dict[str, Any]] = []
    failed: list[batch.Outcome] = []
    distinct: set[str] = set()
    for file in files:
        try:
            parsed, vmap, engine_, settings = _prepare(
                file, config, engine, out_root, sections_spec, cache_dir, jobs, None, render_mod.silent, cover,
                choose=chosen.choose,
            )  # fmt: skip
            made = render_mod.make_plan(
                parsed, vmap, engine_, settings.clip_cache(), settings.out_dir(parsed), settings.sections,
                cover=settings.cover,
            )  # fmt: skip
        except PipelineError as exc:
            if len(files) == 1:
                raise
            failed.append(batch.Outcome(file, error=exc))
            for line in str(exc).splitlines():
                click.echo(f"Error: {_located(file, line)}", err=True)
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
        _echo_json(plans if len(files) > 1 else plans[0])
    elif len(plans) > 1:
        shared = sum(p["clips_to_synthesize"] for p in plans) - len(distinct)
        click.echo(f"all: {len(distinct)} distinct clips to synthesize ({shared} shared between transcripts)")
    if failed:
        sys.exit(batch.exit_code(failed))


@main.group()
def cache() -> None:
    """Inspect or prune the clip cache."""


@cache.command("info")
@click.option("--out", "out_root", type=click.Path(file_okay=False), default="output", show_default=True)
@click.option("--cache", "cache_dir", type=click.Path(file_okay=False), help="[default: OUT/.cache/clips]")
@click.option("--json", "as_json", is_flag=True)
@_reports_errors
def cache_info(out_root: str, cache_dir: str | None, as_json: bool) -> None:
    """Entries and size of the clip cache."""
    store = render_mod.Settings(out_root=Path(out_root), cache_dir=Path(cache_dir) if cache_dir else None).clip_cache()
    entries, size = store.info()
    if as_json:
        _echo_json({"path": str(store.root), "entries": entries, "bytes": size})
    else:
        click.echo(f"{store.root}: {entries} clips, {size / 1e6:.1f} MB")


@cache.command("prune")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--config", type=click.Path(dir_okay=False), help="voices.yaml to use.")
@click.option("--out", "out_root", type=click.Path(file_okay=False), default="output", show_default=True)
@click.option("--cache", "cache_dir", type=click.Path(file_okay=False), help="[default: OUT/.cache/clips]")
@_reports_errors
def cache_prune(file: str, config: str | None, out_root: str, cache_dir: str | None) -> None:
    """Drop every cached clip FILE no longer uses (with any engine configured in voices.yaml)."""
    vmap = voices.load(find_config(config, file))
    parsed = read_transcript(file, vmap)
    store = render_mod.Settings(out_root=Path(out_root), cache_dir=Path(cache_dir) if cache_dir else None).clip_cache()
    keep = render_mod.keys_in_use(parsed, vmap)
    removed, freed = store.prune(keep)
    click.echo(f"{store.root}: removed {removed} clips ({freed / 1e6:.1f} MB); kept those in use")


from .cli_check import check  # noqa: E402  (the command lives in its own module)

main.add_command(check)

if __name__ == "__main__":
    main()
