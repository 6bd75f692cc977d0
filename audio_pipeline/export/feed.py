"""Podcast RSS feed (``feed.xml``) for the episodes of one rendered interview.

The feed is RSS 2.0 written with feedgen, with the iTunes namespace (feedgen's
``podcast`` extension) and the Podcasting 2.0 namespace
(``https://podcastindex.org/namespace/1.0``) through the small feedgen
extension in :mod:`audio_pipeline.export.podcastindex`: ``podcast:chapters`` (JSON chapters),
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
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, cast
from urllib.parse import quote, urlsplit, urlunsplit

from feedgen.feed import FeedGenerator
from lxml import etree

from audio_pipeline.errors import PipelineError
from audio_pipeline.export import podcast_meta
from audio_pipeline.export.podcastindex import (
    CHAPTERS_TYPE,
    PODCAST_GUID_NAMESPACE,
    SRT_TYPE,
    VTT_TYPE,
    PodcastIndexEntryExtension,
    PodcastIndexExtension,
)
from audio_pipeline.fsutil import write_if_changed
from audio_pipeline.manifest import Episode, Manifest, relative_path

__all__ = [
    "FEED_NAME",
    "PLAYER_NAME",
    "PublishError",
    "write_feed",
    "resolve_output_path",
    "episode_guid",
    "format_duration",
    "guess_language",
]

FEED_NAME = "feed.xml"
PLAYER_NAME = "index.html"
GENERATOR = "audio-pipeline"
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


@dataclass(frozen=True)
class _Channel:
    """What the feed's items share: where the files are, the URLs they get, the
    podcast's language and metadata, and the date the first episode is published."""

    out_dir: Path
    base: str | None
    player_url: str
    title: str
    language: str
    podcast: podcast_meta.PodcastMeta
    feed_id: str
    start: dt.datetime | None

    def file_url(self, path: object, what: str) -> str | None:
        """The URL of a file the manifest lists, None when it is not there."""
        rel = resolve_output_path(self.out_dir, path, what=what)
        return _url(self.base, rel) if (self.out_dir / rel).is_file() else None


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
    # In reading order, but a --sections render lists the others under their last numbers.
    sections = sorted(manifest.sections, key=lambda s: s.index)
    start = _base_date(manifest.meta, fallback_date)
    fg = FeedGenerator()
    fg.load_extension("podcast")
    fg.register_extension("podcastindex", PodcastIndexExtension, PodcastIndexEntryExtension)
    fg.title(manifest.title)
    player_url = _url(base, PLAYER_NAME)
    if base:
        feed_url = _url(base, FEED_NAME)
        fg.link(href=feed_url, rel="self", type="application/rss+xml")
        bare = re.sub(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", "", feed_url).rstrip("/")
        cast(PodcastIndexExtension, fg.podcastindex).guid(str(uuid.uuid5(PODCAST_GUID_NAMESPACE, bare)))
    fg.link(href=player_url, rel="alternate")  # feedgen puts the last link in <link>
    podcast = podcast_meta.read(manifest.meta)
    channel = _Channel(out_dir, base, player_url, manifest.title, language, podcast, manifest.feed_id, start)
    _describe_channel(fg, channel, manifest, sections)
    newest: dt.datetime | None = None
    for section in sections:
        published = _add_item(fg, channel, section)
        if published is not None:
            newest = published if newest is None or published > newest else newest
    return _rss(fg, newest)


def _describe_channel(fg: FeedGenerator, channel: _Channel, manifest: Manifest, sections: Sequence[Episode]) -> None:
    """The channel's description, language, iTunes tags, cover and people."""
    title, meta, language, podcast = channel.title, manifest.meta, channel.language, channel.podcast
    all_speakers: dict[str, None] = {}
    for section in sections:
        for name in _speakers(section):
            all_speakers.setdefault(name, None)
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
    art_url = channel.file_url(manifest.cover.image, "cover")
    if art_url is not None:
        fg.podcast.itunes_image(art_url)
        fg.image(url=art_url, title=title, link=channel.player_url)
    if podcast.locked is not None and podcast.owner_email:
        channel_ext.locked(podcast.locked, podcast.owner_email)
    for name in all_speakers:
        channel_ext.person(name, podcast.role(name))


def _add_item(fg: FeedGenerator, channel: _Channel, section: Episode) -> dt.datetime | None:
    """The section's episode as an item of the feed; its publication date, if it has one."""
    index = section.index
    audio_rel = resolve_output_path(channel.out_dir, section.audio, what=f"section {index} audio")
    audio_path = channel.out_dir / audio_rel
    if not audio_path.is_file():
        raise PublishError(f"episode {index}: audio file is missing", path=str(audio_path))
    size = os.path.getsize(audio_path)
    episode_title = section.title or f"{channel.title} {index}"
    language = channel.language

    entry = fg.add_entry(order="append")
    entry.title(episode_title)
    entry.link(href=f"{channel.player_url}#episode-{index}", rel="alternate")
    entry.guid(episode_guid(channel.feed_id, section.id), permalink=False)
    entry.enclosure(f"{_url(channel.base, audio_rel)}?v={section.sha256[:12]}", str(size), "audio/mpeg")
    entry.description(episode_notes(section, language))
    published = None
    if channel.start is not None:
        published = channel.start + dt.timedelta(minutes=section.pub_order)
        entry.pubDate(published)
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
        ext.person(name, channel.podcast.role(name))
    chapters_url = channel.file_url(section.chapters, f"section {index} chapters")
    if chapters_url is not None:
        ext.chapters(chapters_url, CHAPTERS_TYPE)
    for key, path, mime in (("vtt", section.vtt, VTT_TYPE), ("srt", section.srt, SRT_TYPE)):
        url = channel.file_url(path, f"section {index} {key}")
        if url is not None:
            ext.transcript(url, mime, language=language, rel="captions")
    return published


def _rss(fg: FeedGenerator, newest: dt.datetime | None) -> bytes:
    """The feed's bytes, dated by its newest item (no date at all without one)."""
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
