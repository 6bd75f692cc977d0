"""Podcast RSS feed (``feed.xml``) for the episodes of one rendered interview.

The feed is RSS 2.0 written with feedgen, with the iTunes namespace (feedgen's
``podcast`` extension) and the Podcasting 2.0 namespace
(``https://podcastindex.org/namespace/1.0``) through the small feedgen
extension defined here: ``podcast:chapters`` (JSON chapters),
``podcast:transcript`` (WebVTT and SRT) and ``podcast:person`` (its speakers) on
every item; ``podcast:person`` for every speaker (role host or guest when the front
matter says), ``podcast:locked`` when asked, and ``podcast:guid`` when the feed has
a public URL, on the channel. The channel also carries the cover (``itunes:image``
and ``<image>``), owner, author, Apple categories, language and explicit flag
(:mod:`audio_pipeline.export.podcast_meta`); each item's description is its notes:
the section's first sentences and its chapters with their times.

One item per section episode, in section order. Everything comes from
``manifest.json`` and the files beside it, never from the clock, so the same
manifest and files give the same bytes:

* GUID: a UUIDv5 of the section's identity (``id``: it follows the section
  across edits, renumbered headings, and sections inserted, removed or moved) in
  the namespace of the feed's identity (``feed_id``). An episode's GUID never
  changes, as Apple and Podcasting 2.0 ask: an edit is the same episode, updated.
* enclosure: the MP3's URL with ``?v=<first 12 hex of its sha256>`` and its size on
  disk, so an edited episode's new audio is fetched again under the same GUID.
* pubDate: the front matter's ``created`` (or ``date``), else ``fallback_date``;
  episode published *n*-th (``pub_order``: kept across edits, a new section comes
  after every earlier one) is dated *n* minutes after it, so apps keep the order and
  an edit does not move an episode. ``lastBuildDate`` is the newest pubDate. No
  date at all: no dates in the feed.

URLs are relative to the output folder unless ``base_url`` is given; either
way they are percent-encoded (titles and slugs may be CJK).
"""

from __future__ import annotations

import datetime as dt
import html
import os
import re
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any, cast
from urllib.parse import quote, urlsplit, urlunsplit

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from feedgen.util import xml_elem
from lxml import etree

from audio_pipeline.errors import PipelineError
from audio_pipeline.export import podcast_meta
from audio_pipeline.fsutil import write_if_changed
from audio_pipeline.manifest import Episode, Manifest, relative_path

__all__ = [
    "FEED_NAME",
    "PLAYER_NAME",
    "PODCAST_NS",
    "PublishError",
    "PodcastIndexExtension",
    "PodcastIndexEntryExtension",
    "write_feed",
    "resolve_output_path",
    "episode_guid",
    "format_duration",
    "guess_language",
]

FEED_NAME = "feed.xml"
PLAYER_NAME = "index.html"
PODCAST_NS = "https://podcastindex.org/namespace/1.0"
ITUNES_NS = "http://www.itunes.com/dtds/podcast-1.0.dtd"
#: Namespace UUID that podcast:guid values are derived from (Podcasting 2.0 spec).
PODCAST_GUID_NAMESPACE = uuid.UUID("ead4c236-bf58-58c6-a2c6-a6b28d128cb6")
GENERATOR = "audio-pipeline"
CHAPTERS_TYPE = "application/json+chapters"
VTT_TYPE = "text/vtt"
SRT_TYPE = "application/x-subrip"
_DESCRIPTION_MAX = 600
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")


class PublishError(PipelineError):
    """The feed or the player page cannot be written from this manifest."""

    exit_code = 1


# --------------------------------------------------------------------------- shared helpers


def resolve_output_path(out_dir: Path, rel: object, *, what: str) -> PurePosixPath:
    """Check a manifest path: relative, inside the output folder, ``/``-separated."""
    if not isinstance(rel, str) or not rel.strip():
        raise PublishError(f"manifest: {what} is not a path: {rel!r}", path=str(out_dir / "manifest.json"))
    posix = relative_path(rel)
    if posix is None:
        raise PublishError(
            f"manifest: {what} {rel!r} is not inside the output folder", path=str(out_dir / "manifest.json")
        )
    return posix


def guess_language(manifest: Manifest) -> str:
    """``meta.language`` (or ``lang``) if set, else ``zh-cn`` for a title with CJK characters, else ``en``."""
    lang = manifest.meta.get("language") or manifest.meta.get("lang")
    if isinstance(lang, str) and lang.strip():
        return lang.strip().lower()
    return "zh-cn" if _CJK.search(manifest.title) else "en"


def format_duration(ms: float) -> str:
    """``H:MM:SS`` (rounded to the second), the form every podcast app reads."""
    total = max(0, round(ms / 1000))
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}"


def episode_guid(feed_id: str, section_id: str) -> str:
    """GUID of an episode: a UUIDv5 of the section's identity in the feed's (both from
    the manifest), which no edit changes."""
    return str(uuid.uuid5(uuid.UUID(feed_id), section_id))


# --------------------------------------------------------------------------- Podcasting 2.0 extension


def _add_persons(parent: Any, persons: Sequence[tuple[str, str | None]]) -> None:
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
        _add_persons(channel, self._persons)
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
        _add_persons(entry, self._persons)
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


# --------------------------------------------------------------------------- feed


def _base(base_url: str | None) -> str | None:
    if base_url is None or not base_url.strip():
        return None
    base = base_url.strip()
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PublishError(f"base URL must be an http:// or https:// URL, got {base_url!r}")
    # An IRI (say, a CJK folder name) becomes a URI; existing %XX escapes stay.
    netloc = parts.netloc
    if not netloc.isascii():
        host = parts.hostname.encode("idna").decode("ascii")
        netloc = netloc.replace(parts.hostname, host, 1)
    path = quote(parts.path or "/", safe="/%:@!$&'()*+,;=~")
    if not path.endswith("/"):
        path += "/"
    return urlunsplit((parts.scheme, netloc, path, "", ""))


def _url(base: str | None, rel: PurePosixPath | str) -> str:
    quoted = quote(str(rel), safe="/")
    return f"{base}{quoted}" if base else quoted


def _parse_date(value: object) -> dt.datetime | None:
    """A front-matter date as an aware datetime (UTC when no zone is given)."""
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime.combine(value, dt.time())
    elif isinstance(value, str) and value.strip():
        text = value.strip().replace("/", "-")
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            try:
                moment = dt.datetime.combine(dt.date.fromisoformat(text[:10]), dt.time())
            except ValueError:
                return None
    else:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _base_date(meta: Mapping[str, Any], fallback_date: dt.date | None) -> dt.datetime | None:
    for key in ("created", "date"):
        parsed = _parse_date(meta.get(key))
        if parsed is not None:
            return parsed
    return _parse_date(fallback_date) if fallback_date is not None else None


def _join_names(names: Sequence[str], language: str) -> str:
    return ("、" if language.startswith(("zh", "ja")) else ", ").join(names)


def _speakers(section: Episode) -> list[str]:
    return list(dict.fromkeys(name.strip() for name in section.speakers if name.strip()))


def _shorten(text: str, limit: int = _DESCRIPTION_MAX) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


_SENTENCE = re.compile(r".+?(?:[。！？!?…]+[”’」』）)]*|[.!?]+(?=\s)|$)", re.S)
_NOTES_MAX = 4000  # Apple shows up to 4,000 characters of an episode's notes


def _first_sentences(text: str, limit: int = 160) -> str:
    """The opening sentences of ``text``, whole, up to about ``limit`` characters."""
    out = ""
    for match in _SENTENCE.finditer(" ".join(text.split())):
        sentence = match.group(0).strip()
        if not sentence:
            continue
        if out and len(out) + len(sentence) > limit:
            break
        out += " " + sentence if out and out[-1].isascii() else sentence
        if len(out) >= limit // 2:
            break
    return _shorten(out, limit * 2) if out else ""


def _stamp(ms: float) -> str:
    """``MM:SS`` (``H:MM:SS`` past an hour): the form podcast apps turn into seek links."""
    total = max(0, int(ms // 1000))
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes:02d}:{seconds:02d}"


def episode_notes(section: Episode, language: str) -> str:
    """An item's description (HTML, as podcast apps show it): the section's first
    sentences, then its chapters (one per turn) with their start times."""
    title = section.title
    lead = ""
    for turn in section.turns:
        if not turn.heading and turn.text.strip():
            lead = _first_sentences(turn.text)
            break
    if not lead:
        speakers = _speakers(section)
        lead = _join_names(speakers, language) if speakers else title or "—"
    colon = "：" if language.startswith(("zh", "ja")) else ": "
    lines: list[str] = []
    for turn in section.turns:
        if turn.heading:
            label = title
        else:
            words = _shorten(turn.text, 28)
            label = f"{turn.speaker}{colon}{words}" if turn.speaker else words
        lines.append(f"{_stamp(turn.start_ms)} {html.escape(label)}")
    heading = "章节" if language.startswith("zh") else "Chapters"
    notes = f"<p>{html.escape(lead)}</p>"
    if lines:
        notes += f"<p>{heading}</p><p>" + "<br>".join(lines) + "</p>"
    while len(notes) > _NOTES_MAX and lines:
        lines.pop()
        notes = f"<p>{html.escape(lead)}</p><p>{heading}</p><p>" + "<br>".join(lines) + "<br>…</p>"
    return notes


def build_feed(
    out_dir: Path,
    manifest: Manifest,
    *,
    base_url: str | None,
    fallback_date: dt.date | None = None,
) -> bytes:
    """The bytes :func:`write_feed` writes (reads the episode files, writes nothing)."""
    out_dir = Path(out_dir)
    base = _base(base_url)
    language = guess_language(manifest)
    title = manifest.title
    meta = manifest.meta
    # In reading order, but a --sections render lists the others under their last numbers.
    sections = sorted(manifest.sections, key=lambda s: s.index)
    start = _base_date(meta, fallback_date)

    fg = FeedGenerator()
    fg.load_extension("podcast")
    fg.register_extension("podcastindex", PodcastIndexExtension, PodcastIndexEntryExtension)
    fg.title(title)
    player_url = _url(base, PLAYER_NAME)
    if base:
        feed_url = _url(base, FEED_NAME)
        fg.link(href=feed_url, rel="self", type="application/rss+xml")
        bare = re.sub(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", "", feed_url).rstrip("/")
        cast(PodcastIndexExtension, fg.podcastindex).guid(str(uuid.uuid5(PODCAST_GUID_NAMESPACE, bare)))
    fg.link(href=player_url, rel="alternate")  # feedgen puts the last link in <link>
    all_speakers: dict[str, None] = {}
    for section in sections:
        for name in _speakers(section):
            all_speakers.setdefault(name, None)
    podcast = podcast_meta.read(meta)
    channel_ext = cast(PodcastIndexExtension, fg.podcastindex)
    author = podcast.author or meta.get("artist") or _join_names(list(all_speakers), language)
    channel_description = meta.get("description") or meta.get("summary")
    if not channel_description:
        titles = [s.title for s in sections]
        channel_description = f"{title}: " + " / ".join(t for t in titles if t) if titles else title
    fg.description(_shorten(str(channel_description), 4000))
    fg.language(language)
    fg.generator(GENERATOR)
    tags = meta.get("tags")
    if isinstance(tags, list):
        for tag in tags:
            if isinstance(tag, str) and tag.strip():
                fg.category(term=tag.strip())
    if author:
        fg.podcast.itunes_author(str(author))
    fg.podcast.itunes_summary(_shorten(str(channel_description), 4000))
    fg.podcast.itunes_type("serial")
    channel_ext.explicit(podcast.explicit)
    fg.podcast.itunes_category([{"cat": top, **({"sub": sub} if sub else {})} for top, sub in podcast.categories])
    if podcast.owner_name or podcast.owner_email:
        fg.podcast.itunes_owner(name=podcast.owner_name or str(author or title), email=podcast.owner_email or "")
    rel = resolve_output_path(out_dir, manifest.cover.image, what="cover")
    if (out_dir / rel).is_file():
        art_url = _url(base, rel)
        fg.podcast.itunes_image(art_url)
        fg.image(url=art_url, title=title, link=player_url)
    if podcast.locked is not None and podcast.owner_email:
        channel_ext.locked(podcast.locked, podcast.owner_email)
    for name in all_speakers:
        channel_ext.person(name, podcast.role(name))

    newest: dt.datetime | None = None
    for section in sections:
        index = section.index
        audio_rel = resolve_output_path(out_dir, section.audio, what=f"section {index} audio")
        audio_path = out_dir / audio_rel
        if not audio_path.is_file():
            raise PublishError(f"episode {index}: audio file is missing", path=str(audio_path))
        size = os.path.getsize(audio_path)
        episode_title = section.title or f"{title} {index}"

        entry = fg.add_entry(order="append")
        entry.title(episode_title)
        entry.link(href=f"{player_url}#episode-{index}", rel="alternate")
        entry.guid(episode_guid(manifest.feed_id, section.id), permalink=False)
        entry.enclosure(f"{_url(base, audio_rel)}?v={section.sha256[:12]}", str(size), "audio/mpeg")
        entry.description(episode_notes(section, language))
        if start is not None:
            published = start + dt.timedelta(minutes=section.pub_order)
            entry.pubDate(published)
            newest = published if newest is None or published > newest else newest
        if section.duration_ms > 0:
            entry.podcast.itunes_duration(format_duration(section.duration_ms))
        speakers = _speakers(section)
        if speakers:
            entry.podcast.itunes_author(_join_names(speakers, language))
        entry.podcast.itunes_episode(index)
        entry.podcast.itunes_episode_type("full")
        entry.podcast.itunes_title(episode_title)

        ext = cast(PodcastIndexEntryExtension, entry.podcastindex)
        for name in speakers:
            ext.person(name, podcast.role(name))
        rel = resolve_output_path(out_dir, section.chapters, what=f"section {index} chapters")
        if (out_dir / rel).is_file():
            ext.chapters(_url(base, rel), CHAPTERS_TYPE)
        for key, path, mime in (("vtt", section.vtt, VTT_TYPE), ("srt", section.srt, SRT_TYPE)):
            rel = resolve_output_path(out_dir, path, what=f"section {index} {key}")
            if (out_dir / rel).is_file():
                ext.transcript(_url(base, rel), mime, language=language, rel="captions")

    if newest is not None:
        fg.lastBuildDate(newest)
        fg.pubDate(newest)
    data: bytes = fg.rss_str(pretty=True, encoding="UTF-8", xml_declaration=True)
    if newest is None:
        # feedgen stamps lastBuildDate with the clock unless told otherwise: drop it.
        root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
        for elem in root.findall("./channel/lastBuildDate"):
            elem.getparent().remove(elem)
        data = etree.tostring(root, pretty_print=True, encoding="UTF-8", xml_declaration=True)
    return data


def write_feed(
    out_dir: Path,
    manifest: Manifest,
    *,
    base_url: str | None,
    fallback_date: dt.date | None = None,
) -> Path:
    """Write ``out_dir/feed.xml`` for the episodes in ``manifest``; return its path.

    Without ``base_url`` the URLs are relative to the output folder (fine for a
    local look, not for a podcast app: the caller may say so). The file is
    written atomically and only when its bytes change.
    """
    out_dir = Path(out_dir)
    data = build_feed(out_dir, manifest, base_url=base_url, fallback_date=fallback_date)
    target = out_dir / FEED_NAME
    write_if_changed(target, data)
    return target
