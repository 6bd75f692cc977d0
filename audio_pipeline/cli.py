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
from typing import Any, TypeVar

import click

from . import __version__, transcript, voices
from .errors import PipelineError

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
    """--config, else ./voices.yaml, else voices.yaml beside the transcript or one folder up."""
    if config:
        return Path(config)
    candidates = [Path("voices.yaml")]
    if transcript_path:
        here = Path(transcript_path).resolve().parent
        candidates += [here / "voices.yaml", here.parent / "voices.yaml"]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise PipelineError("no voices.yaml here or beside the transcript; pass --config PATH")


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
    assignment = vmap.assign(parsed, engine)
    rows = [voices.spec_json(speaker, spec) for speaker, spec in assignment.items()]
    if as_json:
        _echo_json(rows)
        return
    for row in rows:
        extras = ", ".join(f"{k}={v}" for k, v in row.items() if k not in ("speaker", "engine", "voice"))
        who = row["speaker"] or "(narrator)"
        click.echo(f"{who}: {row['engine']} {row['voice']}" + (f" ({extras})" if extras else ""))


if __name__ == "__main__":
    main()
