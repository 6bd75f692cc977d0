"""The options render, plan and check share: one definition, so their names, types
and defaults cannot drift apart (only the help text differs)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import click

from . import engines

F = TypeVar("F", bound=Callable[..., Any])


class EngineChoice(click.Choice[str]):
    """The registered engines (after ``auto`` with ``auto=True``), read from the registry
    when a command runs, not when this module loads: a stand-in registered later (the
    tests') is a valid ``--engine`` too."""

    def __init__(self, *, auto: bool = False) -> None:
        super().__init__(())
        self.auto = auto

    @property
    def choices(self) -> tuple[str, ...]:
        return (engines.AUTO, *engines.names()) if self.auto else engines.names()

    @choices.setter
    def choices(self, _: Iterable[str]) -> None:
        """click.Choice.__init__ sets its fixed list here: the registry has the say."""


def run_options(*, engine_help: str, out_help: str, jobs_help: str) -> Callable[[F], F]:
    """--config, --engine, --out, --sections, --cache and --jobs, in that order."""
    options = [
        click.option("--config", type=click.Path(dir_okay=False), help="voices.yaml to use."),
        click.option(
            "--engine",
            type=EngineChoice(auto=True),
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
