"""What every command shares: reading the transcript as voices.yaml names its speakers,
the report of what was read, library errors as one line each, JSON on stdout, and the
engine and settings of a run.

Library errors (``PipelineError``) become ``Error: ...`` lines and the error's exit code,
never a traceback; the library itself never prints.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from .. import batch, transcript, voices
from .. import render as render_mod
from ..engines.base import Engine
from ..errors import PipelineError
from ..executors import Executor
from ..model import Transcript
from ..progress import Event, Reporter

F = TypeVar("F", bound=Callable[..., Any])


def reports_errors(func: F) -> F:
    """``func`` with a library error printed as its lines and turned into its exit code,
    and Ctrl-C into a word on the cache and exit code 130: no traceback either way."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except PipelineError as exc:
            echo_error(exc)
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


def echo_json(data: Any) -> None:
    """``data`` as indented JSON on stdout, non-ASCII text as it is."""
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


def echo_error(exc: PipelineError, source: str | None = None) -> None:
    """Each line of ``exc`` as ``Error: ...`` on stderr. With ``source`` (a transcript of a
    batch), a line that does not name it starts with it, so the user knows which one failed."""
    for line in str(exc).splitlines():
        click.echo(f"Error: {line if source is None else _located(source, line)}", err=True)


def _located(source: str, line: str) -> str:
    """An error line of one transcript in a batch, naming it when the line does not."""
    return line if line.startswith(source) else f"{source}: {line}"


def prepare(
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
    previews: bool = False,
) -> batch.Prepared:
    """FILE read with its voices.yaml, the render settings from the command's options, and
    the engine ``choose`` picks for them. ``announce``: print the transcript report
    (``quiet``: its warnings only) once all of that has worked. ``previews``: see
    ``Settings.previews``."""
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
        previews=previews,
    )
    engine = choose(settings, vmap, report)
    settings = dataclasses.replace(settings, engine=engine.name)  # "auto" resolved
    if announce:  # once the options are known to be good: a bad one prints only its error
        echo_transcript_report(parsed, quiet)
    return batch.Prepared(parsed, vmap, engine, settings)


class Engines:
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
            from .. import cluster

            options = item.vmap.engine(item.engine.name).options
            self.executors[key] = cluster.executor_for(item.engine, options, workers=self.jobs, report=report)
        return self.executors[key]

    def close(self) -> None:
        for executor in self.executors.values():
            executor.close()
        self.executors.clear()
