"""The click layer: argument parsing, printing, progress bars and exit codes.

Everything else lives in the library; a ``PipelineError`` becomes one clear line
(one per problem) and its exit code, never a traceback.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from . import __version__, transcript, voices
from . import render as render_mod
from .cli_options import run_options
from .engines.base import Engine
from .errors import PipelineError
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
    known: frozenset[str] = frozenset()
    if config:
        known = voices.load(config).speakers
    parsed = transcript.read(file, known)
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
@click.option("--engine", type=click.Choice(voices.ENGINE_NAMES), default="kokoro", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the assignment as JSON.")
@_reports_errors
def voices_command(file: str, config: str | None, engine: str, as_json: bool) -> None:
    """Show the voice each speaker of FILE (and the narrator) gets."""
    vmap = voices.load(find_config(config, file))
    parsed = transcript.read(file, vmap.speakers)
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
    """Feeds the core's progress events to tqdm bars on stderr; notices print as lines."""

    def __init__(self) -> None:
        self.bars: dict[str, tqdm] = {}
        self.cached: dict[str, int] = {}

    def __call__(self, event: Event) -> None:
        from tqdm import tqdm  # ~70 ms: only when there is something to show

        if event.kind == "notice":
            tqdm.write(event.message, file=sys.stderr)
        elif event.kind == "start":
            self.cached[event.stage] = 0
            self.bars[event.stage] = tqdm(total=event.total, desc=event.stage, unit="", file=sys.stderr, leave=True)
        elif event.kind == "step" and event.stage in self.bars:
            bar = self.bars[event.stage]
            if event.cached:
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
) -> tuple[Transcript, voices.VoiceMap, Engine, render_mod.Settings]:
    vmap = voices.load(find_config(config, file))
    parsed = transcript.read(file, vmap.speakers)
    settings = render_mod.Settings(
        out_root=Path(out_root),
        cache_dir=Path(cache_dir) if cache_dir else None,
        engine=engine_name,
        sections=render_mod.parse_sections(sections_spec, len(parsed.sections)),
        jobs=jobs,
        base_url=base_url,
    )
    engine = render_mod.choose_engine(settings, vmap, report)
    return parsed, vmap, engine, settings


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@_render_options
@click.option("--base-url", help="Absolute URL where the output folder will be published (for feed.xml).")
@_reports_errors
def render(
    file: str,
    config: str | None,
    engine: str,
    out_root: str,
    sections_spec: str | None,
    cache_dir: str | None,
    jobs: int | None,
    base_url: str | None,
) -> None:
    """Render FILE: episodes per section, the whole interview, subtitles, manifest, feed, player."""
    reporter = TqdmReporter()
    try:
        parsed, vmap, chosen, settings = _prepare(
            file, config, engine, out_root, sections_spec, cache_dir, jobs, base_url, reporter
        )
        result = render_mod.render(parsed, vmap, chosen, settings, reporter)
    finally:
        reporter.close()
    plan = result.plan
    click.echo(
        f"{result.out_dir}: engine {plan.engine_name}; clips {len(plan.missing)} new, {len(plan.cached)} cached; "
        f"sections built {list(result.built) or 'none'}; "
        f"whole interview {'rebuilt' if result.whole_built else 'unchanged'}"
    )


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@_render_options
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@_reports_errors
def plan(
    file: str,
    config: str | None,
    engine: str,
    out_root: str,
    sections_spec: str | None,
    cache_dir: str | None,
    jobs: int | None,
    as_json: bool,
) -> None:
    """Say what render would do, without doing it."""
    parsed, vmap, chosen, settings = _prepare(
        file, config, engine, out_root, sections_spec, cache_dir, jobs, None, render_mod.silent
    )
    result = render_mod.make_plan(
        parsed, vmap, chosen, settings.clip_cache(), settings.out_dir(parsed), settings.sections
    ).to_json()
    if as_json:
        _echo_json(result)
    else:
        click.echo(
            f"engine {result['engine']}: {result['clips_to_synthesize']} clips to synthesize, "
            f"{result['clips_cached']} cached; sections to build {result['sections_to_build'] or 'none'}, "
            f"up to date {result['sections_up_to_date'] or 'none'}"
        )


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
    parsed = transcript.read(file, vmap.speakers)
    store = render_mod.Settings(out_root=Path(out_root), cache_dir=Path(cache_dir) if cache_dir else None).clip_cache()
    keep = render_mod.keys_in_use(parsed, vmap)
    removed, freed = store.prune(keep)
    click.echo(f"{store.root}: removed {removed} clips ({freed / 1e6:.1f} MB); kept those in use")


from .cli_check import check  # noqa: E402  (the command lives in its own module)

main.add_command(check)

if __name__ == "__main__":
    main()
