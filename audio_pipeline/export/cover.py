"""Cover art: the user's image made fit for podcast apps, or one typeset here.

Apple asks for a square JPEG or PNG of 1400-3000 px under 512 KB, in RGB. The
feed's cover (``cover-<key>.jpg`` beside feed.xml) is 3000x3000; the one embedded in
every MP3 (APIC) and the M4B (covr) is 1400x1400, so each episode carries a small
copy. A given image is centre-cropped to a square and scaled; without one, the
cover is set here: the interview's title and speakers on a colour derived from the
title, in Noto Sans CJK (from the ``noto-cjk-sans-otc`` package: never a system
font a fresh machine may lack).

Deterministic: the same title, speakers and image give the same bytes (Pillow's
JPEG encoder is), and the results are kept in ``.parts`` under a key of their
inputs, so a render that finds them does not draw again.
"""

from __future__ import annotations

import colorsys
import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import PipelineError
from ..fsutil import atomic_path

__all__ = ["Artwork", "file_name", "CoverError", "artwork_key", "piece_names", "prepare"]

FEED_SIZE = 3000
EMBED_SIZE = 1400
MAX_BYTES = 512 * 1024
_VERSION = "cover/1"
_SC_FACE = 2  # Noto Sans CJK SC in the collection


class CoverError(PipelineError):
    """A cover image that cannot be read."""

    exit_code = 2


@dataclass(frozen=True)
class Artwork:
    """The cover, ready to publish: ``feed`` (3000 px JPEG file) and ``embed`` (1400 px
    JPEG bytes, for the audio files); ``key`` names both (it changes when either does)."""

    feed: Path
    embed: bytes
    key: str
    generated: bool

    mime: str = "image/jpeg"


def _font_path() -> Path:
    try:
        import noto_cjk_sans_otc
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise CoverError("the noto-cjk-sans-otc package is missing: reinstall audio-pipeline") from exc
    return Path(str(noto_cjk_sans_otc.FONT_PATH))


def _jpeg(image: object, limit: int = MAX_BYTES) -> bytes:
    from PIL import Image

    assert isinstance(image, Image.Image)
    for quality in (90, 85, 80, 72, 64, 56, 48, 40):
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=quality, optimize=True, progressive=False, subsampling=2)
        if buffer.tell() <= limit:
            return buffer.getvalue()
    raise CoverError(f"the cover does not fit in {limit // 1024} KB even at low quality")


def _square(data: bytes, source: Path) -> object:
    from PIL import Image, UnidentifiedImageError

    try:
        opened = Image.open(io.BytesIO(data))
        opened.load()
        image: Image.Image = opened
    except (UnidentifiedImageError, OSError) as exc:
        raise CoverError(f"not an image Pillow can read: {exc}", path=str(source)) from exc
    if image.mode != "RGB":
        background = Image.new("RGB", image.size, (255, 255, 255))
        rgba = image.convert("RGBA")
        background.paste(rgba, mask=rgba.getchannel("A"))
        image = background
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    return image.crop((left, top, left + side, top + side))


def _wrap(draw: object, text: str, font: object, width: int) -> list[str]:
    """Lines of ``text`` no wider than ``width``: at spaces for Latin text, anywhere in CJK."""
    from PIL import ImageDraw, ImageFont

    assert isinstance(draw, ImageDraw.ImageDraw) and isinstance(font, ImageFont.FreeTypeFont)
    lines: list[str] = []
    line = ""
    tokens: list[str] = []
    for ch in text:
        if tokens and ch.isascii() and ch.isalnum() and tokens[-1][-1:].isascii() and tokens[-1][-1:].isalnum():
            tokens[-1] += ch
        else:
            tokens.append(ch)
    for token in tokens:
        trial = line + token
        if line and draw.textlength(trial, font=font) > width:
            lines.append(line.rstrip())
            line = token.lstrip()
        else:
            line = trial
    if line.strip():
        lines.append(line.rstrip())
    return lines


def _drawn(title: str, speakers: tuple[str, ...]) -> object:
    from PIL import Image, ImageDraw, ImageFont

    digest = hashlib.sha256(title.encode("utf-8")).digest()
    hue = digest[0] / 255
    background = tuple(round(c * 255) for c in colorsys.hls_to_rgb(hue, 0.30, 0.45))
    accent = tuple(round(c * 255) for c in colorsys.hls_to_rgb(hue, 0.75, 0.60))
    size = FEED_SIZE
    image = Image.new("RGB", (size, size), background)
    draw = ImageDraw.Draw(image)
    font_path = str(_font_path())
    margin = size // 10
    width = size - 2 * margin
    # The largest title size (down to a floor) whose lines fit in the upper part.
    for points in range(300, 119, -20):
        font = ImageFont.truetype(font_path, points, index=_SC_FACE)
        lines = _wrap(draw, title, font, width)
        if len(lines) * points * 1.3 <= size * 0.55:
            break
    lines = lines[:6]
    y = margin * 1.5
    for line in lines:
        draw.text((margin, y), line, font=font, fill=(255, 255, 255))
        y += points * 1.3
    draw.rectangle((margin, y + points * 0.4, margin + size // 6, y + points * 0.4 + size // 120), fill=accent)
    if speakers:
        small = ImageFont.truetype(font_path, 140, index=_SC_FACE)
        names = _wrap(draw, " · ".join(speakers), small, width)[:3]
        y = size - margin - len(names) * 140 * 1.3
        for line in names:
            draw.text((margin, y), line, font=small, fill=accent)
            y += 140 * 1.3
    return image


def _read(source: Path) -> bytes:
    try:
        return source.read_bytes()
    except OSError as exc:
        raise CoverError(f"cannot read the cover image: {exc.strerror or exc}", path=str(source)) from exc


def _check_image(data: bytes, source: Path) -> None:
    """Refuse a file that is not an image, before a render makes any audio (reads the
    header only)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise CoverError(f"not an image Pillow can read: {exc}", path=str(source)) from exc


def artwork_key(title: str, speakers: tuple[str, ...], source: Path | None = None) -> str:
    """What names the artwork :func:`prepare` makes: its inputs (the image's bytes, or
    the title, speakers and font), without drawing anything."""
    if source is not None:
        data = _read(source)
        _check_image(data, source)
        inputs: list[object] = [_VERSION, "file", hashlib.sha256(data).hexdigest()]
    else:
        inputs = [_VERSION, "drawn", title, list(speakers), _font_path().name]
    return hashlib.sha256(json.dumps(inputs, ensure_ascii=False).encode("utf-8")).hexdigest()[:16]


def file_name(key: str) -> str:
    """The cover's name beside feed.xml: it changes with the image, as Apple asks (apps
    do not fetch an image again under the same URL, and it must end in .jpg)."""
    return f"cover-{key[:8]}.jpg"


def piece_names(key: str) -> tuple[str, str]:
    """The files in ``.parts`` that hold the artwork of ``key`` (feed size, embedded size)."""
    return f"cover-{key}.jpg", f"cover-{key}-{EMBED_SIZE}.jpg"


def prepare(parts: Path, title: str, speakers: tuple[str, ...], source: Path | None = None) -> Artwork:
    """The interview's artwork, from ``source`` (an image file) or typeset from the title
    and speakers; made once and kept in ``parts`` under :func:`artwork_key`."""
    from PIL import Image

    key = artwork_key(title, speakers, source)
    feed_name, embed_name = piece_names(key)
    feed_path, embed_path = parts / feed_name, parts / embed_name
    if not (feed_path.is_file() and embed_path.is_file()):
        square = _square(_read(source), source) if source is not None else _drawn(title, speakers)
        assert isinstance(square, Image.Image)
        big = square if square.width == FEED_SIZE else square.resize((FEED_SIZE, FEED_SIZE), Image.Resampling.LANCZOS)
        small = square.resize((EMBED_SIZE, EMBED_SIZE), Image.Resampling.LANCZOS)
        parts.mkdir(parents=True, exist_ok=True)
        for path, image, limit in ((feed_path, big, MAX_BYTES), (embed_path, small, MAX_BYTES // 2)):
            with atomic_path(path) as tmp:
                tmp.write_bytes(_jpeg(image, limit))
    return Artwork(feed_path, embed_path.read_bytes(), key, source is None)
