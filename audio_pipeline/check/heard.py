"""What the recognizer heard in each clip, kept so a clip is listened to once.

Results are cached per clip key under ``checks/<model-id>/`` beside the clip cache, so a
second check only listens to new clips; scores are recomputed from the cached text every
time (cheap), so changing the threshold needs no listening.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from .. import fsutil
from ..cache import ClipCache


class ResultCache:
    """What was heard in each clip, one JSON file per clip key (written atomically)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def beside(cls, clips: ClipCache, model: str) -> ResultCache:
        """``<clip cache>/../checks/<model id>/``."""
        return cls(clips.root.parent / "checks" / model)

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str, language: str) -> str | None:
        try:
            data = json.loads(self._path(key).read_text("utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("key") != key or data.get("language") != language:
            return None
        heard = data.get("heard")
        return heard if isinstance(heard, str) else None

    def put(self, key: str, language: str, heard: str, seconds: float) -> None:
        data = {"key": key, "language": language, "heard": heard, "seconds": round(seconds, 3)}
        fsutil.write_text(self._path(key), json.dumps(data, ensure_ascii=False, sort_keys=True))

    def discard(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(key).unlink()
