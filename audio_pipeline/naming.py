"""Safe, distinct file names from section titles, whatever the titles hold."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

MAX_SLUG = 48


def slug(title: str) -> str:
    """Letters, digits, '-' and '_' only (any script); never empty, never a path."""
    text = unicodedata.normalize("NFKC", title)
    out = []
    for ch in text:
        category = unicodedata.category(ch)
        if category[0] in "LN" or ch in "-_":
            out.append(ch)
        elif category[0] in "ZP" or ch in "/\\":
            out.append("-")
    joined = re.sub(r"-{2,}", "-", "".join(out)).strip("-_")
    return joined[:MAX_SLUG].rstrip("-_") or "section"


def episode_stem(index: int, count: int, title: str) -> str:
    """``07-title``: the index prefix keeps names distinct and never a reserved device name."""
    width = max(2, len(str(count)))
    return f"{index:0{width}d}-{slug(title)}"


def episode_piece(out_dir: Path, audio_key: str) -> Path:
    """An episode's AAC piece for the M4B, written beside its MP3 by the same encode and
    named by the episode's audio (not its tags or name: a re-tag or rename keeps it)."""
    return out_dir / ".parts" / f"episode-{audio_key[:32]}.aac"
