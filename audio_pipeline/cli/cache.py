"""``cache info`` and ``cache prune``: the clip cache, looked at and tidied."""

from __future__ import annotations

from pathlib import Path

import click

from .. import render as render_mod
from .. import voices
from ..cache import ClipCache
from .common import echo_json, find_config, read_transcript, reports_errors
from .options import config_option, json_option, store_options


@click.group()
def cache() -> None:
    """Inspect or prune the clip cache."""


def _store(out_root: str, cache_dir: str | None) -> ClipCache:
    """The clip cache a render into ``out_root`` with ``--cache cache_dir`` uses."""
    return render_mod.Settings(out_root=Path(out_root), cache_dir=Path(cache_dir) if cache_dir else None).clip_cache()


@cache.command("info")
@store_options
@json_option()
@reports_errors
def cache_info(out_root: str, cache_dir: str | None, as_json: bool) -> None:
    """Entries and size of the clip cache."""
    store = _store(out_root, cache_dir)
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
    store = _store(out_root, cache_dir)
    keep = render_mod.keys_in_use(parsed, vmap)
    removed, freed = store.prune(keep)
    click.echo(f"{store.root}: removed {removed} clips ({freed / 1e6:.1f} MB); kept those in use")
