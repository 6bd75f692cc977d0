"""``plan``: what render would do for each transcript, without doing it."""

from __future__ import annotations

import sys
from typing import Any

import click

from .. import batch
from .. import render as render_mod
from ..errors import PipelineError
from ..progress import silent
from .common import Engines, echo_error, echo_json, prepare, reports_errors
from .options import cover_option, json_option, render_options


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@render_options
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
                file, config, engine, out_root, sections_spec, cache_dir, jobs, None, silent, cover,
                choose=chosen.choose,
            )  # fmt: skip
            made = _make_plan(item)
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
            click.echo((f"{file}: " if len(files) > 1 else "") + _plan_line(result))
    if as_json:
        echo_json(plans if len(files) > 1 else plans[0])
    elif len(plans) > 1:
        shared = sum(p["clips_to_synthesize"] for p in plans) - len(distinct)
        click.echo(f"all: {len(distinct)} distinct clips to synthesize ({shared} shared between transcripts)")
    if failed:
        sys.exit(batch.exit_code(failed))


def _make_plan(item: batch.Prepared) -> render_mod.Plan:
    settings = item.settings
    return render_mod.make_plan(
        item.transcript, item.vmap, item.engine, settings.clip_cache(), settings.out_dir(item.transcript),
        settings.sections, cover=settings.cover,
    )  # fmt: skip


def _plan_line(result: dict[str, Any]) -> str:
    """One transcript's plan (``Plan.to_json``) in words."""
    return (
        f"engine {result['engine']}: {result['clips_to_synthesize']} clips to synthesize, "
        f"{result['clips_cached']} cached; sections to build {result['sections_to_build'] or 'none'} "
        f"(to encode {result['sections_to_encode'] or 'none'}), "
        f"up to date {result['sections_up_to_date'] or 'none'}"
    )
