"""Wait for saves of a few files (the transcript, voices.yaml), debounced.

watchfiles watches the files' folders, not the files: editors save by writing a new
file and renaming it over the old one, which a watch on the old file would miss.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

DEBOUNCE_MS = 300
#: How long the first render waits for the watch to be in place.
WATCH_START_S = 5.0


def changes(
    paths: Sequence[Path],
    *,
    stop: threading.Event | None = None,
    debounce_ms: int = DEBOUNCE_MS,
    watching: threading.Event | None = None,
) -> Iterator[set[Path]]:
    """Yield the set of ``paths`` saved since the last yield, until ``stop`` is set.
    ``watching`` is set once the watch is in place (saves from then on are seen)."""
    import watchfiles

    targets = {p.resolve(): p for p in paths}
    folders = sorted({p.parent for p in targets})

    def wanted(_change: watchfiles.Change, path: str) -> bool:
        return Path(path).resolve() in targets

    # A short timeout yields an empty batch as soon as the watcher runs: that says it is.
    for batch in watchfiles.watch(
        *folders, watch_filter=wanted, debounce=debounce_ms, stop_event=stop, rust_timeout=100, yield_on_timeout=True
    ):
        if watching is not None:
            watching.set()
        saved = {targets[Path(p).resolve()] for _, p in batch if Path(p).resolve() in targets}
        if saved:
            yield saved


def loop(
    paths: Sequence[Path],
    run: Callable[[set[Path]], None],
    *,
    stop: threading.Event | None = None,
    debounce_ms: int = DEBOUNCE_MS,
) -> None:
    """Call ``run`` once with every path, then again with the saved ones after each save.
    ``run`` handles its own errors: a bad edit must not end the loop.

    The watch starts before the first ``run``: a save made while a render runs (a cold
    render can take an hour) is rendered once it ends, several saves by one render."""
    stop = stop or threading.Event()
    pending: queue.Queue[set[Path]] = queue.Queue()
    watching = threading.Event()

    def collect() -> None:
        for saved in changes(paths, stop=stop, debounce_ms=debounce_ms, watching=watching):
            pending.put(saved)

    watcher = threading.Thread(target=collect, name="watch", daemon=True)
    watcher.start()
    watching.wait(WATCH_START_S)
    try:
        run(set(paths))
        while not stop.is_set() and watcher.is_alive():
            try:
                saved = pending.get(timeout=0.2)
            except queue.Empty:
                continue
            while not pending.empty():
                saved |= pending.get_nowait()
            run(saved)
    finally:
        stop.set()  # the watcher ends with the loop, however the loop ends
        watcher.join()
