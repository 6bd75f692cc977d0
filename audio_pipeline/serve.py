"""Serve an output folder on 127.0.0.1: the player page, the audio (with HTTP Range, so
seeking works in every browser) and a live-reload event stream.

aiohttp (which edge-tts already brings) does the HTTP: ``FileResponse`` answers Range
requests with 206 and conditional ones with 304. This module decides only *which*
file a path names: never one outside the folder (``..``, absolute paths, symlinks that
lead out) and never a hidden one (``.cache``, ``.lock``, partial files).

``/__events`` is a Server-Sent Events stream: one ``manifest`` event whenever
``manifest.json`` changes, which the player page uses to refresh its data in place.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from . import manifest
from .errors import PipelineError

EVENTS_NAME = "__events"
# A stat of manifest.json per open page this often: cheap, and what an edit waits for last.
POLL_SECONDS = 0.1
DEFAULT_HOST = "127.0.0.1"
LIVE_META = f'<head><meta name="audio-pipeline-live" content="{EVENTS_NAME}">'.encode()


class ServeError(PipelineError):
    """The server cannot start (the port is taken, the folder is missing)."""


def resolve_folder(root: Path, path: str) -> Path | None:
    """The folder or file ``path`` (URL path, percent-decoded) names inside ``root``, or None."""
    parts = [p for p in path.replace("\\", "/").split("/") if p not in ("", ".")]
    if any(p == ".." or p.startswith(".") or "\x00" in p for p in parts):
        return None
    target = root.joinpath(*parts) if parts else root
    try:
        real = target.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    base = root.resolve()
    if real != base and base not in real.parents:
        return None  # a symlink that leads out of the folder
    return real


def resolve(root: Path, path: str) -> Path | None:
    """The file ``path`` names inside ``root`` (a folder: its index.html), or None."""
    real = resolve_folder(root, path)
    if real is None:
        return None
    if real.is_dir():
        real = real / "index.html"
        if not real.is_file():
            return None
    return real if real.is_file() else None


def manifest_version(root: Path) -> str:
    """Changes whenever manifest.json is replaced (renders write it by rename)."""
    try:
        st = (root / manifest.FILE_NAME).stat()
    except OSError:
        return ""
    return f"{st.st_mtime_ns}-{st.st_size}-{st.st_ino}"


def make_app(root: Path, poll_seconds: float = POLL_SECONDS) -> web.Application:
    root = root.resolve()

    async def events(request: web.Request, folder: Path) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        )
        await response.prepare(request)
        seen = manifest_version(folder)
        await response.write(f"event: hello\ndata: {seen}\n\n".encode())
        try:
            while request.transport is not None and not request.transport.is_closing():
                await asyncio.sleep(poll_seconds)
                now = manifest_version(folder)
                if now != seen and now:
                    seen = now
                    await response.write(f"event: manifest\ndata: {now}\n\n".encode())
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        return response

    async def files(request: web.Request) -> web.StreamResponse:
        tail = request.match_info.get("tail", "")
        folder_path, _, name = tail.rpartition("/")
        if name == EVENTS_NAME:  # the event stream of the page in that folder
            folder = resolve_folder(root, folder_path)
            if folder is None or not folder.is_dir():
                raise web.HTTPNotFound()
            return await events(request, folder)
        target = resolve(root, tail)
        if target is None:
            raise web.HTTPNotFound()
        headers = {"Cache-Control": "no-cache"}  # renders replace files in place
        if target.suffix == ".html":
            # The page learns it is served live (a static host has no event stream).
            page = target.read_bytes().replace(b"<head>", LIVE_META, 1)
            return web.Response(body=page, content_type="text/html", charset="utf-8", headers=headers)
        return web.FileResponse(target, headers=headers)

    app = web.Application()
    app.router.add_get("/{tail:.*}", files)
    return app


@dataclass
class Server:
    """A running server; ``url`` is where it listens."""

    url: str
    stop: Callable[[], None]


@contextlib.contextmanager
def running(root: Path, host: str = DEFAULT_HOST, port: int = 0) -> Iterator[Server]:
    """Run the server in a background thread for the duration of the ``with`` block."""
    server = start(root, host, port)
    try:
        yield server
    finally:
        server.stop()


def start(root: Path, host: str = DEFAULT_HOST, port: int = 0) -> Server:
    """Start serving ``root`` in a daemon thread; port 0 picks a free port."""
    if not root.is_dir():
        raise ServeError(f"{root}: no such folder to serve (render first)")
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    state: dict[str, object] = {}

    async def main() -> None:
        # A page left open keeps its event stream: stopping must not wait for it.
        runner = web.AppRunner(make_app(root), handle_signals=False, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            state["error"] = exc
            ready.set()
            await runner.cleanup()
            return
        state["port"] = runner.addresses[0][1]  # the bound port when 0 was asked
        state["runner"] = runner
        ready.set()
        stop = asyncio.Event()
        state["stop"] = stop
        await stop.wait()
        await runner.cleanup()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True, name="serve")
    thread.start()
    ready.wait()
    if "error" in state:
        thread.join()
        raise ServeError(f"cannot listen on {host}:{port}: {state['error']}")

    def stop() -> None:
        event = state.get("stop")
        if isinstance(event, asyncio.Event):
            loop.call_soon_threadsafe(event.set)
        thread.join(timeout=5)

    shown = f"[{host}]" if ":" in host else host
    return Server(f"http://{shown}:{state['port']}/", stop)
