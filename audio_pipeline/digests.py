"""sha256 of large, rarely changing files (model weights), remembered across runs.

Hashing Kokoro's 92 MB model costs ~0.1 s in every process that creates the engine,
which a render with nothing to do cannot afford. A digest is reused while the
file's path, size, modification time and inode are unchanged (much the test
``make`` and rsync use); any change hashes it again. The store is a small JSON file in
``$XDG_CACHE_HOME/audio_pipeline``; when it cannot be read or written, digests are
simply computed.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from pathlib import Path

from . import fsutil

_MAX_ENTRIES = 64  # a handful of model files; old entries go first
_LOCK = threading.Lock()
_MEMORY: dict[str, str] = {}


def store_path() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "audio_pipeline" / "digests.json"


def _load(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str) and len(v) == 64}


def file_digest(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of ``path``'s bytes (remembered per file version, see the module doc)."""
    version = fsutil.file_version(path)
    src = Path(version[0])
    key = "|".join(str(part) for part in version)
    with _LOCK:
        found = _MEMORY.get(key)
        if found is not None:
            return found
        store = store_path()
        known = _load(store)
        found = known.get(key)
        if found is None:
            found = fsutil.sha256_file(src)
            known.pop(key, None)
            known[key] = found
            kept = dict(list(known.items())[-_MAX_ENTRIES:])
            with contextlib.suppress(OSError):  # a read-only home: compute again next time
                store.parent.mkdir(parents=True, exist_ok=True)
                fsutil.write_text(store, json.dumps(kept, indent=1) + "\n")
        _MEMORY[key] = found
        return found
