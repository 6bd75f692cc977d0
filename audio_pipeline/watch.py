"""Wait for saves of a few files (the transcript, voices.yaml), debounced.

watchfiles watches the files' folders, not the files: editors save by writing a new
file and renaming it over the old one, which a watch on the old file would miss.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

DEBOUNCE_MS = 300


def changes(
    paths: Sequence[Path], *, stop: threading.Event | None = None, debounce_ms: int = DEBOUNCE_MS
) -> Iterator[set[Path]]:
    """Yield the set of ``paths`` saved since the last yield, until ``stop`` is set."""
    import watchfiles

    targets = {p.resolve(): p for p in paths}
    folders = sorted({p.parent for p in targets})

    def wanted(_change: watchfiles.Change, path: str) -> bool:
        return Path(path).resolve() in targets

    for batch in watchfiles.watch(
        *folders, watch_filter=wanted, debounce=debounce_ms, stop_event=stop, rust_timeout=500, yield_on_timeout=False
    ):
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
    ``run`` handles its own errors: a bad edit must not end the loop."""
    run(set(paths))
    for saved in changes(paths, stop=stop, debounce_ms=debounce_ms):
        run(saved)
