"""The Podcasting 2.0 namespace (``https://podcastindex.org/namespace/1.0``) as a small
feedgen extension, for :mod:`audio_pipeline.export.feed`: ``podcast:chapters`` (JSON
chapters), ``podcast:transcript`` (WebVTT and SRT) and ``podcast:person`` on every
item; ``podcast:person``, ``podcast:locked`` and ``podcast:guid`` (and Apple's
``itunes:explicit`` as ``true``/``false``) on the channel.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.util import xml_elem

__all__ = [
    "PODCAST_NS",
    "PodcastIndexExtension",
    "PodcastIndexEntryExtension",
]

PODCAST_NS = "https://podcastindex.org/namespace/1.0"
ITUNES_NS = "http://www.itunes.com/dtds/podcast-1.0.dtd"
#: Namespace UUID that podcast:guid values are derived from (Podcasting 2.0 spec).
PODCAST_GUID_NAMESPACE = uuid.UUID("ead4c236-bf58-58c6-a2c6-a6b28d128cb6")
CHAPTERS_TYPE = "application/json+chapters"
VTT_TYPE = "text/vtt"
SRT_TYPE = "application/x-subrip"


def add_persons(parent: Any, persons: Sequence[tuple[str, str | None]]) -> None:
    """A ``podcast:person`` (group cast, and its role when known) under ``parent`` for each."""
    for name, role in persons:
        attrs = {"group": "cast"}
        if role:
            attrs["role"] = role
        xml_elem(f"{{{PODCAST_NS}}}person", parent, **attrs).text = name


class PodcastIndexExtension(BaseExtension):  # type: ignore[misc]
    """feedgen channel extension for the Podcasting 2.0 namespace.

    Declares ``xmlns:podcast`` on ``<rss>`` and writes ``podcast:guid``.
    """

    def __init__(self) -> None:
        self._guid: str | None = None
        self._locked: tuple[bool, str] | None = None
        self._persons: list[tuple[str, str | None]] = []
        self._explicit: bool | None = None

    def extend_ns(self) -> dict[str, str]:
        return {"podcast": PODCAST_NS}

    def extend_rss(self, feed: Any) -> Any:
        channel = feed[0]
        if self._explicit is not None:  # Apple's values: true / false
            xml_elem(f"{{{ITUNES_NS}}}explicit", channel).text = "true" if self._explicit else "false"
        if self._guid:
            elem = xml_elem(f"{{{PODCAST_NS}}}guid", channel)
            elem.text = self._guid
        if self._locked is not None:
            locked, owner = self._locked
            xml_elem(f"{{{PODCAST_NS}}}locked", channel, owner=owner).text = "yes" if locked else "no"
        add_persons(channel, self._persons)
        return feed

    def explicit(self, value: bool) -> None:
        """Set ``itunes:explicit`` (``true``/``false``, as Apple now asks)."""
        self._explicit = value

    def locked(self, value: bool, owner: str) -> None:
        """Set ``podcast:locked`` (yes: no other platform may import the feed), with its owner's email."""
        self._locked = (value, owner)

    def person(self, name: str, role: str | None = None) -> None:
        """Add a ``podcast:person`` (group cast; ``role`` host or guest when known)."""
        self._persons.append((name, role))

    def extend_atom(self, feed: Any) -> Any:
        return feed

    def guid(self, value: str | None = None) -> str | None:
        """Get or set ``podcast:guid`` (a UUIDv5 of the feed URL)."""
        if value is not None:
            self._guid = str(uuid.UUID(value))
        return self._guid


class PodcastIndexEntryExtension(BaseEntryExtension):  # type: ignore[misc]
    """feedgen item extension: ``podcast:chapters`` and ``podcast:transcript``."""

    def __init__(self) -> None:
        self._chapters: dict[str, str] | None = None
        self._transcripts: list[dict[str, str]] = []
        self._persons: list[tuple[str, str | None]] = []

    def extend_ns(self) -> dict[str, str]:
        return {"podcast": PODCAST_NS}

    def extend_rss(self, entry: Any) -> Any:
        if self._chapters:
            xml_elem(f"{{{PODCAST_NS}}}chapters", entry, **self._chapters)
        for attrs in self._transcripts:
            xml_elem(f"{{{PODCAST_NS}}}transcript", entry, **attrs)
        add_persons(entry, self._persons)
        return entry

    def person(self, name: str, role: str | None = None) -> None:
        """Add a ``podcast:person`` to the item (group cast; ``role`` when known)."""
        self._persons.append((name, role))

    def extend_atom(self, entry: Any) -> Any:
        return entry

    def chapters(self, url: str | None = None, type: str = CHAPTERS_TYPE) -> dict[str, str] | None:
        """Get or set the item's chapters file."""
        if url is not None:
            self._chapters = {"url": url, "type": type}
        return self._chapters

    def transcript(
        self,
        url: str | None = None,
        type: str = VTT_TYPE,
        *,
        language: str | None = None,
        rel: str | None = None,
    ) -> list[dict[str, str]]:
        """Add a transcript (call once per file); return all of them."""
        if url is not None:
            attrs = {"url": url, "type": type}
            if language:
                attrs["language"] = language
            if rel:
                attrs["rel"] = rel
            self._transcripts.append(attrs)
        return list(self._transcripts)
