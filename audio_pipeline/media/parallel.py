"""Work on up to two threads, for the in-process loudness and limiter: their heavy parts
(FFTs, gathers, ufuncs over large arrays) run in numpy without the GIL, so a section
levelled alone (an edit) uses both cores."""

from __future__ import annotations

import concurrent.futures as cf
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

_T = TypeVar("_T")
_POOL_LOCK = threading.Lock()
_POOL: cf.ThreadPoolExecutor | None = None


def _pool() -> cf.ThreadPoolExecutor:
    global _POOL
    with _POOL_LOCK:  # two sections may level at once: make one pool, not two
        if _POOL is None:
            _POOL = cf.ThreadPoolExecutor(max_workers=min(2, os.cpu_count() or 1), thread_name_prefix="loudness")
        return _POOL


def in_parallel(work: Callable[[int, int], _T], ranges: Sequence[tuple[int, int]]) -> list[_T]:
    """``work(a, b)`` for every range, on up to two threads, results in order. Each range
    writes only its own slice."""
    if len(ranges) < 2:
        return [work(a, b) for a, b in ranges]
    return [done.result() for done in [_pool().submit(work, a, b) for a, b in ranges]]


def chunks(n: int, size: int) -> Iterator[tuple[int, int]]:
    """(start, stop) of ``n`` items in ranges of ``size``, the last shorter."""
    for start in range(0, n, size):
        yield start, min(n, start + size)
