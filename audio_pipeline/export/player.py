"""A static, self-contained web player (``index.html``) for one rendered interview.

The page is the template ``player.html`` beside this module with the manifest
embedded as ``<script type="application/json" id="manifest">``: browsers refuse
``fetch()`` of a local file from a ``file://`` page, so the data travels inside
the page and the page works opened from disk as well as from any static host.
It has no external resources at all (inline CSS and JS, no fonts, no icons).

Every render rewrites the page from ``manifest.json``; the bytes depend on the
manifest only (and on whether ``feed.xml`` exists, for the subscribe link, and
which linked files exist, so downloads are offered only for those), and an
unchanged page is not rewritten.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..fsutil import write_if_changed
from ..manifest import Manifest
from .feed import FEED_NAME, PLAYER_NAME, PublishError, guess_language, resolve_output_path

__all__ = ["PLAYER_NAME", "render_player", "script_json", "write_player"]

_TEMPLATE = "player.html"
_PLACEHOLDER = re.compile(r"__AP_(LANG|TITLE|COVER|NOSCRIPT|MANIFEST|CONFIG)__")
_NOSCRIPT = {
    "zh": "此播放器需要 JavaScript。音频文件在 episodes/ 文件夹中。",
    "en": "This player needs JavaScript. The audio files are in the episodes/ folder.",
}


def script_json(data: Any) -> str:
    """JSON that is safe inside ``<script type="application/json">``.

    ``<``, ``>`` and ``&`` become ``\\u003c``/``\\u003e``/``\\u0026`` (so no
    ``</script>`` or ``<!--`` can appear), as do U+2028/U+2029. ``JSON.parse``
    reads the escapes back to the same characters.
    """
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _template() -> str:
    try:
        return resources.files("audio_pipeline.export").joinpath(_TEMPLATE).read_text(encoding="utf-8")
    except (FileNotFoundError, OSError) as exc:  # pragma: no cover - broken install
        raise PublishError(f"player template {_TEMPLATE} is missing from the package: {exc}") from exc


def _linked_files(manifest: Manifest) -> list[str]:
    """Every file path the page may offer for download, in manifest order."""
    whole = manifest.whole.files if manifest.whole else ()
    return list(dict.fromkeys([*whole, *(name for section in manifest.sections for name in section.files)]))


def render_player(manifest: Manifest, *, feed: str | None = None, present: Sequence[str] | None = None) -> str:
    """The HTML of the player page for ``manifest``.

    ``feed`` is the feed's relative URL, if any. ``present`` lists the linked
    files that exist (the page offers only those for download); ``None``
    offers every file the manifest names.
    """
    language = guess_language(manifest)
    short = "zh" if language.startswith("zh") else "en"
    image = manifest.cover.image
    cover = ""
    if present is None or image in present:
        src = html.escape(quote(image, safe="/"), quote=True)
        cover = f'<img class="cover" id="cover" src="{src}" alt="" width="64" height="64">'
    values = {
        "LANG": html.escape(language, quote=True),
        "TITLE": html.escape(manifest.title, quote=True),
        "COVER": cover,
        "NOSCRIPT": html.escape(_NOSCRIPT[short]),
        "MANIFEST": script_json(manifest.to_json()),
        "CONFIG": script_json({"feed": feed, "present": None if present is None else list(present)}),
    }
    # One pass, so a value (say, a title containing "__AP_LANG__") is never substituted again.
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], _template())


def _exists(out_dir: Path, rel: str) -> bool:
    try:
        return (out_dir / resolve_output_path(out_dir, rel, what="file")).is_file()
    except PublishError:
        return False


def write_player(out_dir: Path, manifest: Manifest) -> Path:
    """Write ``out_dir/index.html`` for ``manifest``; return its path.

    Call it after :func:`audio_pipeline.export.feed.write_feed` so the page
    links the feed. Written atomically, and only when the bytes change.
    """
    out_dir = Path(out_dir)
    feed = FEED_NAME if (out_dir / FEED_NAME).is_file() else None
    present = [rel for rel in [*_linked_files(manifest), manifest.cover.image] if _exists(out_dir, rel)]
    data = render_player(manifest, feed=feed, present=present).encode("utf-8")
    target = out_dir / PLAYER_NAME
    write_if_changed(target, data)
    return target
