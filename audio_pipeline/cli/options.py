"""The options several commands share: one definition each, so their names, types and
defaults cannot drift apart (where the help text differs, it is a parameter)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol, TypeVar

import click

from .. import engines

F = TypeVar("F", bound=Callable[..., Any])


class Decorator(Protocol):
    """What ``click.option`` returns: the command function, its option added."""

    def __call__(self, func: F, /) -> F: ...


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


def apply_all(options: Sequence[Decorator]) -> Decorator:
    """One decorator for ``options``, listed in ``--help`` in the order given."""

    def apply(func: F) -> F:
        for option in reversed(options):
            func = option(func)
        return func

    return apply


def config_option(help: str = "voices.yaml to use.") -> Decorator:
    return click.option("--config", type=click.Path(dir_okay=False), help=help)


def out_option(help: str | None = None) -> Decorator:
    return click.option(
        "--out", "out_root", type=click.Path(file_okay=False), default="output", show_default=True, help=help
    )


def cache_option(help: str) -> Decorator:
    return click.option("--cache", "cache_dir", type=click.Path(file_okay=False), help=help)


def json_option(help: str | None = None) -> Decorator:
    return click.option("--json", "as_json", is_flag=True, help=help)


def run_options(*, engine_help: str, out_help: str, jobs_help: str) -> Decorator:
    """--config, --engine, --out, --sections, --cache and --jobs, in that order (render,
    serve, plan and check)."""
    return apply_all(
        [
            config_option(),
            click.option(
                "--engine",
                type=EngineChoice(auto=True),
                default="auto",
                show_default=True,
                help=engine_help,
            ),
            out_option(out_help),
            click.option("--sections", "sections_spec", help="Only these sections, e.g. 1,3-5."),
            cache_option("Clip cache folder [default: OUT/.cache/clips]."),
            click.option("--jobs", type=click.IntRange(1, 32), help=jobs_help),
        ]
    )


#: The cache commands' --out and --cache.
store_options: Decorator = apply_all([out_option(), cache_option("[default: OUT/.cache/clips]")])

cover_option: Decorator = click.option(
    "--cover",
    type=click.Path(dir_okay=False),
    help="Cover image (JPEG/PNG) [default: the front matter's cover:, else one is drawn].",
)

#: --progress and --quiet (render).
progress_options: Decorator = apply_all(
    [
        click.option(
            "--progress",
            type=click.Choice(["bar", "json"]),
            default="bar",
            show_default=True,
            help="bar: tqdm bars on stderr; json: one JSON object per event on stderr, for scripts.",
        ),
        click.option(
            "--quiet", "-q", is_flag=True, help="No progress or notices on stderr (warnings and errors still)."
        ),
    ]
)

executor_option: Decorator = click.option(
    "--executor",
    type=click.Choice(["local", "ray"]),
    default="local",
    show_default=True,
    help='Where clips are synthesized: threads here, or Ray actors (RAY_ADDRESS, else a local instance; '
    'pip install -e ".[cluster]"). With ray, --jobs is the number of actors.',
)

#: The run options with render's help texts (render, serve, plan).
render_options: Decorator = run_options(
    engine_help="auto: edge-tts when its service answers, else kokoro (offline).",
    out_help="Output root; files go to OUT/<transcript stem>/.",
    jobs_help="Clips synthesized at once [default: per engine].",
)
