"""``serve``: the player of a rendered interview over HTTP, rendering again on every
save with ``--watch``."""

from __future__ import annotations

import threading
from pathlib import Path

import click

from .. import render as render_mod
from .. import voices
from ..errors import PipelineError
from .common import find_config, read_transcript, reports_errors
from .options import cover_option, render_options
from .render import render_files, watch_renders


@click.command()
@click.argument("target", required=False, type=click.Path())
@render_options
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="0: any free port.")
@cover_option
@click.option("--watch", is_flag=True, help="With a transcript: render it again whenever it or voices.yaml is saved.")
@reports_errors
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
    from .. import serve as serve_mod

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
            watch_renders(target, config, lambda: render_files(*args, warm=True))
        else:
            threading.Event().wait()
    finally:
        server.stop()
