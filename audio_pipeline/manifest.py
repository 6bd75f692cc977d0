"""``manifest.json``: what one render made, and what the next render starts from.

The render builds a :class:`Manifest` from the files it wrote; the feed and the player
page derive from it alone; the next render reads it back (:func:`read`) for each
section's identity, publishing order and files, so unchanged episodes are kept. It is
written by :func:`write` only, its keys in the order of the fields here.

A manifest this version did not write (another ``version``, a key missing, a value of
the wrong type, a path out of the folder, not JSON at all) reads as no manifest: the
render then builds everything afresh, which costs time but never trusts a shape it
does not know.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

from . import fsutil

MANIFEST_VERSION = 1
FILE_NAME = "manifest.json"

_T = TypeVar("_T")
_SHA256 = re.compile(r"[0-9a-f]{64}")


def relative_path(rel: str) -> PurePosixPath | None:
    """``rel`` as a ``/``-separated path inside the output folder, or None when it is
    blank, absolute or leads out of it."""
    if not rel.strip():
        return None
    posix = PurePosixPath(rel.replace("\\", "/"))
    if posix.is_absolute() or ".." in posix.parts or re.match(r"^[A-Za-z]:", rel):
        return None
    return posix


@dataclass(frozen=True)
class Cover:
    image: str  # its file name beside feed.xml
    key: str  # export.cover.artwork_key: what the artwork is made of
    generated: bool  # drawn, not given

    def to_json(self) -> dict[str, Any]:
        return {"image": self.image, "key": self.key, "generated": self.generated}

    @classmethod
    def from_json(cls, data: _Fields) -> Cover:
        return cls(data.path("image"), data.text("key"), data.flag("generated"))


@dataclass(frozen=True)
class TimedTurn:
    """A turn as the episode plays it (``heading``: the section's heading, read aloud)."""

    speaker: str | None
    line: int
    heading: bool
    start_ms: int
    end_ms: int
    clip_key: str
    text: str

    def to_json(self) -> dict[str, Any]:
        return {
            "speaker": self.speaker,
            "line": self.line,
            "heading": self.heading,
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
            "clip_key": self.clip_key,
            "text": self.text,
        }

    @classmethod
    def from_json(cls, data: _Fields) -> TimedTurn:
        return cls(
            data.optional_text("speaker"), data.number("line"), data.flag("heading"), data.number("start_ms"),
            data.number("end_ms"), data.text("clip_key"), data.text("text"),
        )  # fmt: skip


@dataclass(frozen=True)
class Episode:
    """One section's episode: its files (paths relative to the output folder) and what
    the next render compares against."""

    id: str  # the section's identity (identity.py), which the feed's GUIDs derive from
    pub_order: int  # its place in the publishing order (from 1), kept across edits
    index: int  # its number in the transcript (from 1)
    title: str
    audio: str
    vtt: str
    srt: str
    chapters: str
    duration_ms: int
    bytes: int  # the MP3's size
    sha256: str  # the MP3's
    build_key: str  # the same: the files are up to date
    audio_key: str  # the same: the audio is, only the name or tags are not
    aac_frames: int  # of its AAC piece, for the whole-interview join
    speakers: tuple[str, ...]
    turns: tuple[TimedTurn, ...]

    @property
    def files(self) -> tuple[str, ...]:
        return self.audio, self.vtt, self.srt, self.chapters

    @property
    def spoken_text(self) -> str:
        """The turns' text, headings left out (what identity.py compares)."""
        return "\n".join(t.text for t in self.turns if not t.heading)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "pub_order": self.pub_order,
            "index": self.index,
            "title": self.title,
            "audio": self.audio,
            "vtt": self.vtt,
            "srt": self.srt,
            "chapters": self.chapters,
            "duration_ms": self.duration_ms,
            "bytes": self.bytes,
            "sha256": self.sha256,
            "build_key": self.build_key,
            "audio_key": self.audio_key,
            "aac_frames": self.aac_frames,
            "speakers": list(self.speakers),
            "turns": [t.to_json() for t in self.turns],
        }

    @classmethod
    def from_json(cls, data: _Fields) -> Episode:
        episode = cls(
            data.text("id"), data.number("pub_order"), data.number("index"), data.text("title"),
            data.path("audio"), data.path("vtt"), data.path("srt"), data.path("chapters"),
            data.number("duration_ms"), data.number("bytes"), data.digest("sha256"), data.text("build_key"),
            data.digest("audio_key"), data.number("aac_frames"), data.texts("speakers"),
            tuple(TimedTurn.from_json(t) for t in data.objects("turns")),
        )  # fmt: skip
        if not episode.id or episode.pub_order < 1:
            raise ValueError("manifest: a section without its identity or publishing order")
        return episode


@dataclass(frozen=True)
class WholeChapter:
    """A section's chapter in a whole-interview file; ``index`` (the section's) is
    recorded for the MP3's chapters, not for the M4B's."""

    title: str
    start_ms: int
    end_ms: int
    index: int | None = None

    def to_json(self) -> dict[str, Any]:
        times = {"title": self.title, "start_ms": self.start_ms, "end_ms": self.end_ms}
        return times if self.index is None else {"index": self.index, **times}

    @classmethod
    def from_json(cls, data: _Fields) -> WholeChapter:
        index = data.number("index") if "index" in data.data else None
        return cls(data.text("title"), data.number("start_ms"), data.number("end_ms"), index)


@dataclass(frozen=True)
class Whole:
    """The whole-interview files."""

    mp3: str
    m4b: str
    vtt: str
    srt: str
    duration_ms: int
    build_key: str
    chapters: tuple[WholeChapter, ...]  # the MP3's
    m4b_chapters: tuple[WholeChapter, ...]
    parts: tuple[str, ...]  # the title and gap pieces in .parts it was joined from

    @property
    def files(self) -> tuple[str, ...]:
        return self.mp3, self.m4b, self.vtt, self.srt

    def to_json(self) -> dict[str, Any]:
        return {
            "mp3": self.mp3,
            "m4b": self.m4b,
            "vtt": self.vtt,
            "srt": self.srt,
            "duration_ms": self.duration_ms,
            "build_key": self.build_key,
            "chapters": [c.to_json() for c in self.chapters],
            "m4b_chapters": [c.to_json() for c in self.m4b_chapters],
            "parts": list(self.parts),
        }

    @classmethod
    def from_json(cls, data: _Fields) -> Whole:
        return cls(
            data.path("mp3"), data.path("m4b"), data.path("vtt"), data.path("srt"), data.number("duration_ms"),
            data.text("build_key"), tuple(WholeChapter.from_json(c) for c in data.objects("chapters")),
            tuple(WholeChapter.from_json(c) for c in data.objects("m4b_chapters")), data.texts("parts"),
        )  # fmt: skip


@dataclass(frozen=True)
class Preview:
    """A clip an edit changed, playable on its own while its episode is rebuilt (listed
    by the render's progress manifests only: a finished render has none)."""

    section: int  # the section's index
    audio: str  # the clip, levelled and encoded on its own
    clip_key: str  # the turn's clip_key once the new episode is listed
    replaces: str | None  # the key of the turn it replaces in the listed episode, if known
    speaker: str | None
    line: int
    duration_ms: int

    def to_json(self) -> dict[str, Any]:
        return {
            "section": self.section,
            "audio": self.audio,
            "clip_key": self.clip_key,
            "replaces": self.replaces,
            "speaker": self.speaker,
            "line": self.line,
            "duration_ms": self.duration_ms,
        }

    @classmethod
    def from_json(cls, data: _Fields) -> Preview:
        return cls(
            data.number("section"), data.path("audio"), data.text("clip_key"), data.optional_text("replaces"),
            data.optional_text("speaker"), data.number("line"), data.number("duration_ms"),
        )  # fmt: skip


@dataclass(frozen=True)
class Manifest:
    title: str
    source: str  # the transcript's file name
    meta: Mapping[str, Any] = field(hash=False)  # its front matter
    engine: str
    base_url: str | None
    feed_id: str  # the feed's identity (a UUID)
    cover: Cover
    sections: tuple[Episode, ...]  # those with files, in reading order
    whole: Whole | None  # None until every section is rendered
    previews: tuple[Preview, ...] = ()  # while a render runs: the clips an edit changed

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "version": MANIFEST_VERSION,
            "title": self.title,
            "source": self.source,
            "meta": dict(self.meta),
            "engine": self.engine,
            "base_url": self.base_url,
            "feed_id": self.feed_id,
            "cover": self.cover.to_json(),
            "sections": [s.to_json() for s in self.sections],
            "whole": None if self.whole is None else self.whole.to_json(),
        }
        if self.previews:  # only while a render runs: a finished manifest has no such key
            data["previews"] = [p.to_json() for p in self.previews]
        return data

    @classmethod
    def from_json(cls, data: object) -> Manifest:
        """The manifest ``data`` (parsed JSON) holds; ValueError unless it is one this
        version writes."""
        fields = _Fields(data)
        if fields.number("version") != MANIFEST_VERSION:
            raise ValueError(f"manifest: version {fields.data['version']}, not {MANIFEST_VERSION}")
        feed_id = fields.text("feed_id")
        uuid.UUID(feed_id)  # ValueError unless it is one
        whole = None if fields.is_null("whole") else Whole.from_json(fields.object("whole"))
        return cls(
            fields.text("title"), fields.text("source"), fields.value("meta", dict), fields.text("engine"),
            fields.optional_text("base_url"), feed_id, Cover.from_json(fields.object("cover")),
            tuple(Episode.from_json(s) for s in fields.objects("sections")), whole,
            tuple(Preview.from_json(p) for p in fields.objects("previews")) if "previews" in fields.data else (),
        )  # fmt: skip


def read(out_dir: Path) -> Manifest | None:
    """The manifest of the last render into ``out_dir``, or None: none there, or not one
    this version wrote (see the module's note)."""
    try:
        return Manifest.from_json(json.loads((out_dir / FILE_NAME).read_text("utf-8")))
    except (OSError, ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return None


def write(out_dir: Path, manifest: Manifest) -> bool:
    """Write ``out_dir/manifest.json`` (atomically, and only when its bytes change);
    True when it was written."""
    text = json.dumps(manifest.to_json(), ensure_ascii=False, indent=2) + "\n"
    return fsutil.write_if_changed(out_dir / FILE_NAME, text.encode())


class _Fields:
    """One JSON object of a manifest, read key by key; each read checks the value's type
    (ValueError when it is missing or another type: a bool is no number here)."""

    def __init__(self, data: object) -> None:
        if not isinstance(data, dict):
            raise ValueError(f"manifest: expected an object, got {data!r:.40}")
        self.data: dict[str, Any] = data

    def value(self, key: str, kind: type[_T]) -> _T:
        value = self.data.get(key)
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise ValueError(f"manifest: {key!r} is not a {kind.__name__}: {value!r:.40}")
        return value

    def is_null(self, key: str) -> bool:
        return key in self.data and self.data[key] is None

    def text(self, key: str) -> str:
        return self.value(key, str)

    def optional_text(self, key: str) -> str | None:
        return None if self.is_null(key) else self.text(key)

    def number(self, key: str) -> int:
        return self.value(key, int)

    def flag(self, key: str) -> bool:
        return self.value(key, bool)

    def path(self, key: str) -> str:
        rel = self.text(key)
        if relative_path(rel) is None:
            raise ValueError(f"manifest: {key!r} is not a path inside the output folder: {rel!r}")
        return rel

    def digest(self, key: str) -> str:
        hexdigest = self.text(key)
        if not _SHA256.fullmatch(hexdigest):
            raise ValueError(f"manifest: {key!r} is not a SHA-256: {hexdigest!r}")
        return hexdigest

    def texts(self, key: str) -> tuple[str, ...]:
        items = self.value(key, list)
        if not all(isinstance(item, str) for item in items):
            raise ValueError(f"manifest: {key!r} is not a list of strings")
        return tuple(items)

    def object(self, key: str) -> _Fields:
        return _Fields(self.value(key, dict))

    def objects(self, key: str) -> list[_Fields]:
        return [_Fields(item) for item in self.value(key, list)]
