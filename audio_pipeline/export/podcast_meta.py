"""The podcast's own metadata, from the transcript's front matter, checked before a render.

Front matter keys (all optional)::

    author: 十字路口                      # itunes:author (default: the speakers)
    owner: {name: 十字路口, email: hi@example.org}   # itunes:owner
    category: Technology                 # or "Business > Entrepreneurship", or a list
    explicit: false                      # itunes:explicit (default false)
    language: zh-cn                      # <language> (default: guessed from the title)
    hosts: [罗永浩]                      # podcast:person role="host"
    guests: [闫俊杰]                     # podcast:person role="guest"
    locked: true                         # podcast:locked (needs owner.email)
    podcast_guid: 6d3f0c0e-…             # the feed's identity (a UUID)

Categories are Apple Podcasts' (the list below); anything else is refused with the
list of what is accepted, like every other bad input, before any audio is made.
Pure: no I/O, no feedgen (it loads in the planner).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import PipelineError

__all__ = ["APPLE_CATEGORIES", "DEFAULT_CATEGORY", "PodcastMeta", "read"]

#: Apple Podcasts categories and their subcategories.
APPLE_CATEGORIES: dict[str, tuple[str, ...]] = {
    "Arts": ("Books", "Design", "Fashion & Beauty", "Food", "Performing Arts", "Visual Arts"),
    "Business": ("Careers", "Entrepreneurship", "Investing", "Management", "Marketing", "Non-Profit"),
    "Comedy": ("Comedy Interviews", "Improv", "Stand-Up"),
    "Education": ("Courses", "How To", "Language Learning", "Self-Improvement"),
    "Fiction": ("Comedy Fiction", "Drama", "Science Fiction"),
    "Government": (),
    "History": (),
    "Health & Fitness": ("Alternative Health", "Fitness", "Medicine", "Mental Health", "Nutrition", "Sexuality"),
    "Kids & Family": ("Education for Kids", "Parenting", "Pets & Animals", "Stories for Kids"),
    "Leisure": (
        "Animation & Manga", "Automotive", "Aviation", "Crafts", "Games", "Hobbies", "Home & Garden", "Video Games",
    ),
    "Music": ("Music Commentary", "Music History", "Music Interviews"),
    "News": (
        "Business News", "Daily News", "Entertainment News", "News Commentary", "Politics", "Sports News",
        "Tech News",
    ),
    "Religion & Spirituality": (
        "Buddhism", "Christianity", "Hinduism", "Islam", "Judaism", "Religion", "Spirituality",
    ),
    "Science": (
        "Astronomy", "Chemistry", "Earth Sciences", "Life Sciences", "Mathematics", "Natural Sciences", "Nature",
        "Physics", "Social Sciences",
    ),
    "Society & Culture": ("Documentary", "Personal Journals", "Philosophy", "Places & Travel", "Relationships"),
    "Sports": (
        "Baseball", "Basketball", "Cricket", "Fantasy Sports", "Football", "Golf", "Hockey", "Rugby", "Running",
        "Soccer", "Swimming", "Tennis", "Volleyball", "Wilderness", "Wrestling",
    ),
    "Technology": (),
    "True Crime": (),
    "TV & Film": ("After Shows", "Film History", "Film Interviews", "Film Reviews", "TV Reviews"),
}  # fmt: skip
#: An interview with no category given: Apple requires one.
DEFAULT_CATEGORY = ("Society & Culture", None)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class PodcastMeta:
    author: str | None = None
    owner_name: str | None = None
    owner_email: str | None = None
    categories: tuple[tuple[str, str | None], ...] = (DEFAULT_CATEGORY,)
    explicit: bool = False
    hosts: tuple[str, ...] = ()
    guests: tuple[str, ...] = ()
    locked: bool | None = None
    podcast_guid: str | None = None

    def role(self, name: str) -> str | None:
        """``host`` or ``guest`` when the front matter says so, else None."""
        if name in self.hosts:
            return "host"
        if name in self.guests:
            return "guest"
        return None


def _category(value: object, problems: list[str]) -> tuple[str, str | None] | None:
    if not isinstance(value, str) or not value.strip():
        problems.append(f"category: {value!r} is not a category name")
        return None
    top, _, sub = (part.strip() for part in value.replace("/", ">").partition(">"))
    if top not in APPLE_CATEGORIES:
        problems.append(f"category: {top!r} is not an Apple Podcasts category (one of: {', '.join(APPLE_CATEGORIES)})")
        return None
    if sub and sub not in APPLE_CATEGORIES[top]:
        known = ", ".join(APPLE_CATEGORIES[top]) or "none"
        problems.append(f"category: {sub!r} is not a subcategory of {top!r} (its subcategories: {known})")
        return None
    return top, sub or None


def _names(key: str, value: object, problems: list[str]) -> tuple[str, ...]:
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(v, str) and v.strip() for v in items):
        problems.append(f"{key}: expected a name or a list of names, got {value!r}")
        return ()
    return tuple(v.strip() for v in items)


def _text(key: str, value: object, problems: list[str]) -> str | None:
    if value is None:
        return None
    if isinstance(value, str | int | float) and not isinstance(value, bool) and str(value).strip():
        return str(value).strip()
    problems.append(f"{key}: expected text, got {value!r}")
    return None


def _flag(key: str, value: object, problems: list[str]) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    problems.append(f"{key}: expected true or false, got {value!r}")
    return None


def read(meta: Mapping[str, Any], *, source: str | None = None) -> PodcastMeta:
    """The podcast metadata in ``meta`` (front matter); every problem at once as a
    :class:`PipelineError` (exit 2)."""
    problems: list[str] = []
    owner = meta.get("owner")
    owner_name = _text("owner_name", meta.get("owner_name"), problems)
    owner_email = _text("owner_email", meta.get("owner_email"), problems)
    if isinstance(owner, Mapping):
        unknown = set(owner) - {"name", "email"}
        if unknown:
            problems.append(f"owner: unknown keys {', '.join(sorted(map(str, unknown)))} (known: name, email)")
        owner_name = _text("owner.name", owner.get("name"), problems) or owner_name
        owner_email = _text("owner.email", owner.get("email"), problems) or owner_email
    elif owner is not None:
        owner_name = _text("owner", owner, problems) or owner_name
    if owner_email is not None and not _EMAIL.match(owner_email):
        problems.append(f"owner email: {owner_email!r} is not an email address")
    raw = meta.get("category", meta.get("categories"))
    categories: list[tuple[str, str | None]] = []
    for value in raw if isinstance(raw, list) else ([] if raw is None else [raw]):
        found = _category(value, problems)
        if found is not None and found not in categories:
            categories.append(found)
    explicit = _flag("explicit", meta.get("explicit"), problems)
    locked = _flag("locked", meta.get("locked"), problems)
    if locked and owner_email is None:
        problems.append("locked: podcast:locked needs the owner's email (owner: {name: …, email: …})")
    guid = meta.get("podcast_guid")
    if guid is not None:
        try:
            guid = str(uuid.UUID(str(guid)))
        except ValueError:
            problems.append(f"podcast_guid: {guid!r} is not a UUID")
            guid = None
    hosts = _names("hosts", meta.get("hosts", meta.get("host")), problems)
    guests = _names("guests", meta.get("guests", meta.get("guest")), problems)
    for name in set(hosts) & set(guests):
        problems.append(f"{name!r} is listed as both host and guest")
    author = _text("author", meta.get("author"), problems)
    if problems:
        raise PipelineError("front matter: " + "; ".join(problems), path=source)
    return PodcastMeta(
        author=author,
        owner_name=owner_name,
        owner_email=owner_email,
        categories=tuple(categories) or (DEFAULT_CATEGORY,),
        explicit=bool(explicit),
        hosts=hosts,
        guests=guests,
        locked=locked,
        podcast_guid=guid if isinstance(guid, str) else None,
    )
