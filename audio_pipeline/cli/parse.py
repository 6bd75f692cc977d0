"""``parse`` and ``voices``: what the parser and voices.yaml make of a transcript,
before anything is rendered."""

from __future__ import annotations

import click

from .. import transcript, voices
from .common import echo_json, echo_transcript_report, find_config, read_transcript, reports_errors
from .options import EngineChoice, config_option, json_option


@click.command()
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


@click.command(name="voices")
@click.argument("file", type=click.Path(dir_okay=False))
@config_option()
@click.option("--engine", type=EngineChoice(), default="kokoro", show_default=True)
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
