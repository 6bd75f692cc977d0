"""The options render, plan and check share: one definition, so their names, types
and defaults cannot drift apart (only the help text differs)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from .. import voices

F = TypeVar("F", bound=Callable[..., Any])


def run_options(*, engine_help: str, out_help: str, jobs_help: str) -> Callable[[F], F]:
    """--config, --engine, --out, --sections, --cache and --jobs, in that order."""
    options = [
        click.option("--config", type=click.Path(dir_okay=False), help="voices.yaml to use."),
        click.option(
            "--engine",
            type=click.Choice(["auto", *voices.ENGINE_NAMES]),
            default="auto",
            show_default=True,
            help=engine_help,
        ),
        click.option(
            "--out", "out_root", type=click.Path(file_okay=False), default="output", show_default=True, help=out_help
        ),
        click.option("--sections", "sections_spec", help="Only these sections, e.g. 1,3-5."),
        click.option(
            "--cache",
            "cache_dir",
            type=click.Path(file_okay=False),
            help="Clip cache folder [default: OUT/.cache/clips].",
        ),
        click.option("--jobs", type=click.IntRange(1, 32), help=jobs_help),
    ]

    def apply(func: F) -> F:
        for option in reversed(options):
            func = option(func)
        return func

    return apply
