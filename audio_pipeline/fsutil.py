"""Atomic file writes (a reader sees the old file or the new one, never half of one),
and what tells files apart: their version and their digest."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Collection, Iterator
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it into place on success.

    The temporary name starts with ``.`` and ends with ``.part`` so it is easy to
    recognise and sweep. On any exception the temporary file is removed and the
    old ``target`` (if any) is left untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem[:40]}.", suffix=f"{target.suffix}.part", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp makes the file private; give it the permissions a plain open() would.
    os.chmod(tmp_path, 0o666 & ~_umask())
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def write_bytes(target: str | os.PathLike[str], data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def write_text(target: str | os.PathLike[str], text: str) -> None:
    write_bytes(target, text.encode("utf-8"))


def write_if_changed(target: str | os.PathLike[str], data: bytes) -> bool:
    """Atomically write ``data`` unless the file already holds exactly that.

    Returns whether the file was written; an unchanged file keeps its bytes and mtime.
    """
    path = Path(target)
    try:
        if path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data:
            return False
    except OSError:
        pass
    write_bytes(path, data)
    return True


def file_version(path: str | os.PathLike[str]) -> tuple[str, int, int, int]:
    """(resolved path, size, mtime_ns, inode): what tells one version of a file from the
    next, for results remembered per file. Files here are replaced by rename (a new
    inode), never rewritten in place."""
    src = Path(path).resolve()
    st = src.stat()
    return str(src), st.st_size, st.st_mtime_ns, st.st_ino


def remove_except(folder: Path, keep: Collection[str]) -> None:
    """Delete the files in ``folder`` not named in ``keep``; temporaries (``.``-prefixed)
    are left to the sweep that owns them. No folder: nothing to do."""
    for path in folder.glob("*"):
        if path.name not in keep and not path.name.startswith("."):
            with contextlib.suppress(FileNotFoundError, IsADirectoryError):
                path.unlink()


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes, read block by block: memory stays small however
    large the file (model weights, a whole interview's audio)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def lower_thread_priority(niceness: int) -> None:
    """Raise the calling thread's nice value by ``niceness`` (Linux keeps it per thread;
    processes the thread starts inherit it). Elsewhere, or when refused, nothing."""
    import threading

    with contextlib.suppress(AttributeError, OSError):
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + niceness)
