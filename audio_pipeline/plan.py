"""What a render must make: its settings, and the plan that compares the transcript's
clips and sections with the cache and the previous render's manifest.

Each section is matched to the one it continues in the previous render
(:mod:`audio_pipeline.identity`: by title without numbering, then by text) and keeps
its identity, which the feed's GUIDs derive from. Against that previous entry, a
section is *up to date* when its build key (audio key, tags, file name) is the same
and its files are there; *re-tagged* when only its audio key (its clips in order,
pauses, encoder) is the same: the MP3's audio is copied behind new tags under its new
name, nothing encoded; else *built*.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import engines, identity, manifest, naming
from .cache import CachedClip, ClipCache
from .engines.base import Engine
from .errors import PipelineError
from .export import podcast_meta
from .export.cover import artwork_key
from .manifest import Episode, Manifest, Whole
from .media import ffmpeg
from .model import TITLE_SECTION, EpisodeTags, Job, Section, Transcript
from .synth import jobs_for
from .voices import VoiceMap


@dataclass(frozen=True)
class Settings:
    out_root: Path = Path("output")
    cache_dir: Path | None = None
    engine: str = "auto"
    sections: frozenset[int] | None = None
    jobs: int | None = None
    base_url: str | None = None
    preflight_timeout: float = 3.0
    # Sections to rebuild even when their build key matches (`check --fix` after it
    # replaced clips whose keys, by design, did not change).
    rebuild: frozenset[int] = frozenset()
    # The cover image (--cover); else the front matter's ``cover:``; else one is drawn.
    cover: Path | None = None
    # Build episodes while the engine works (False: synthesize everything first; the
    # benchmark's baseline).
    stream: bool = True
    # List an edit's new clips as previews before their episode is rebuilt (a watch:
    # someone is listening; outputs.MAX_PREVIEWS).
    previews: bool = False

    def out_dir(self, transcript: Transcript) -> Path:
        return self.out_root / naming.slug(Path(transcript.source).stem)

    def clip_cache(self) -> ClipCache:
        return ClipCache(self.cache_dir or self.out_root / ".cache" / "clips")


def parse_sections(spec: str | None, count: int) -> frozenset[int] | None:
    """``"1,3-5"`` -> {1, 3, 4, 5}, checked against the section count."""
    if not spec:
        return None
    chosen: set[int] = set()
    for part in spec.split(","):
        part = part.strip()
        try:
            if "-" in part:
                low, high = (int(x) for x in part.split("-", 1))
            else:
                low = high = int(part)
        except ValueError:
            raise PipelineError(f"--sections: {part!r} is not a number or a range like 3-5") from None
        if not 1 <= low <= high <= count:
            raise PipelineError(f"--sections: {part!r} is outside 1-{count}")
        chosen.update(range(low, high + 1))
    return frozenset(chosen)


def hash_of(data: Any) -> str:
    blob = json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class SectionPlan:
    section: Section
    stem: str
    jobs: tuple[Job, ...]
    tags: EpisodeTags
    build_key: str
    audio_key: str
    identity: str
    # Place in the publishing order (the feed's pubDate): kept from the first render
    # that had this section; a new section comes after every earlier one.
    pub_order: int
    # The previous render's entry for this section (matched by identity), if any.
    previous: Episode | None = field(default=None, hash=False, compare=False)


@dataclass
class Plan:
    transcript: Transcript
    vmap: VoiceMap
    out_dir: Path
    engine_name: str
    title_jobs: tuple[Job, ...]
    sections: list[SectionPlan]
    selected: frozenset[int]
    cover_source: Path | None = None  # the image the cover is made from (None: drawn)
    art_key: str = ""  # names the artwork (export.cover.artwork_key); in every build key
    missing: set[str] = field(default_factory=set)
    # The cached clips, as read (and checked) while planning: not read again to build.
    found: dict[str, CachedClip] = field(default_factory=dict)
    up_to_date: set[int] = field(default_factory=set)
    # Sections whose audio is unchanged but whose name or tags are not: re-tagged, not encoded.
    retag: set[int] = field(default_factory=set)
    old_manifest: Manifest | None = None

    @property
    def cached(self) -> set[str]:
        return set(self.found)

    @property
    def to_build(self) -> list[int]:
        return [
            s.section.index
            for s in self.sections
            if s.section.index in self.selected and s.section.index not in self.up_to_date
        ]

    @property
    def to_encode(self) -> list[int]:
        """Sections whose audio must be encoded (:attr:`to_build` less the re-tagged)."""
        return [i for i in self.to_build if i not in self.retag]

    def to_json(self) -> dict[str, Any]:
        return {
            "engine": self.engine_name,
            "clips_to_synthesize": len(self.missing),
            "clips_cached": len(self.cached),
            "sections_to_build": self.to_build,
            "sections_to_encode": self.to_encode,
            "sections_up_to_date": sorted(self.up_to_date & self.selected),
        }


def files_present(out_dir: Path, entry: Episode) -> bool:
    audio = out_dir / entry.audio
    try:
        return all((out_dir / f).is_file() for f in entry.files) and audio.stat().st_size == entry.bytes
    except OSError:
        return False


def _section_text(section: Section) -> str:
    return "\n".join(turn.text for turn in section.turns)


def _identities(transcript: Transcript, old_manifest: Manifest | None) -> list[tuple[str, int, Episode | None]]:
    """(identity, publishing order, previous entry or None) for each section."""
    entries = old_manifest.sections if old_manifest else ()
    known = [identity.Known(e.id, e.title, e.spoken_text) for e in entries]
    current = [identity.Current(s.title, _section_text(s)) for s in transcript.sections]
    last = max([0, *(e.pub_order for e in entries)])
    out: list[tuple[str, int, Episode | None]] = []
    for section_id, i in identity.assign(known, current):
        if i is None:
            last += 1
            out.append((section_id, last, None))
        else:
            out.append((section_id, entries[i].pub_order, entries[i]))
    return out


def make_plan(
    transcript: Transcript,
    vmap: VoiceMap,
    engine: Engine,
    cache: ClipCache,
    out_dir: Path,
    selected: frozenset[int] | None = None,
    rebuild: frozenset[int] = frozenset(),
    cover: Path | None = None,
) -> Plan:
    jobs = jobs_for(transcript, vmap, engine.name, engine.version, engine=engine)
    by_section: dict[int, list[Job]] = {}
    for job in jobs:
        by_section.setdefault(job.section, []).append(job)
    old_manifest = manifest.read(out_dir)
    podcast_meta.read(transcript.meta, source=transcript.source)  # bad podcast metadata: refused now
    cover_source = cover_path(transcript, cover)
    art_key = artwork_key(transcript.title, transcript.speakers, cover_source)
    section_plans = _section_plans(transcript, vmap, by_section, old_manifest, art_key)
    chosen = selected if selected is not None else frozenset(s.index for s in transcript.sections)
    plan = Plan(
        transcript,
        vmap,
        out_dir,
        engine.name,
        tuple(by_section.get(TITLE_SECTION, ())),
        section_plans,
        chosen,
        cover_source=cover_source,
        art_key=art_key,
        old_manifest=old_manifest,
    )
    needed = [j for j in plan.title_jobs] + [j for s in section_plans if s.section.index in chosen for j in s.jobs]
    for job in needed:
        clip = plan.found.get(job.key) or cache.get(job.key)
        if clip is None:
            plan.missing.add(job.key)
        else:
            plan.found[job.key] = clip
    for sp in section_plans:
        entry = sp.previous
        index = sp.section.index
        if entry is None or index in rebuild or not files_present(out_dir, entry):
            continue
        if entry.build_key == sp.build_key:
            plan.up_to_date.add(index)
        elif entry.audio_key == sp.audio_key and naming.episode_piece(out_dir, sp.audio_key).is_file():
            plan.retag.add(index)
    return plan


def _section_plans(
    transcript: Transcript,
    vmap: VoiceMap,
    by_section: dict[int, list[Job]],
    old_manifest: Manifest | None,
    art_key: str,
) -> list[SectionPlan]:
    """Each section's jobs, tags, file name and keys, with the identity and place in the
    publishing order it keeps from the previous render."""
    count = len(transcript.sections)
    date = str(transcript.meta.get("created") or transcript.meta.get("date") or "") or None
    section_plans = []
    for section, (section_id, pub_order, previous) in zip(
        transcript.sections, _identities(transcript, old_manifest), strict=True
    ):
        section_jobs = tuple(by_section.get(section.index, ()))
        tags = EpisodeTags(
            title=section.title,
            album=transcript.title,
            artist=" / ".join(section.speakers) or transcript.title,
            track=(section.index, count),
            date=date,
        )
        stem = naming.episode_stem(section.index, count, section.title)
        audio_key = hash_of(["audio/2", [j.key for j in section_jobs], vmap.pauses, ffmpeg.build_id()])
        key = hash_of(["section/2", audio_key, stem, tags, art_key])
        section_plans.append(
            SectionPlan(section, stem, section_jobs, tags, key, audio_key, section_id, pub_order, previous)
        )
    return section_plans


#: Namespace of the feed identities made here (a UUIDv5 of the transcript's file name).
FEED_NAMESPACE = uuid.UUID("5b0e7c39-2f5e-5d1e-9a43-4d7f3c0a9e61")


def _uuid(value: object) -> str | None:
    try:
        return str(uuid.UUID(str(value))) if value else None
    except ValueError:
        return None


def feed_id(transcript: Transcript, old_manifest: Manifest | None) -> str:
    """The feed's identity (a UUID), which every episode GUID derives from: the front
    matter's ``podcast_guid`` when given, else the one the output folder's manifest
    recorded, else a UUIDv5 of the transcript's file name. It never follows the base URL
    or the title, so moving the feed or retitling it keeps every episode's GUID."""
    return (
        _uuid(transcript.meta.get("podcast_guid"))
        or _uuid(old_manifest.feed_id if old_manifest else None)
        or str(uuid.uuid5(FEED_NAMESPACE, Path(transcript.source).name))
    )


def cover_path(transcript: Transcript, option: Path | None = None) -> Path | None:
    """The cover image: the ``--cover`` option, else the front matter's ``cover:`` (a path
    relative to the transcript), else None (a cover is drawn)."""
    if option is not None:
        return option
    value = transcript.meta.get("cover")
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise PipelineError(f"front matter: cover must be a path to an image, not {value!r}", path=transcript.source)
    return Path(transcript.source).parent / value.strip()


def keys_in_use(transcript: Transcript, vmap: VoiceMap) -> set[str]:
    """Clip keys the transcript needs with every engine configured in voices.yaml."""
    keys: set[str] = set()
    for name, config in vmap.engines.items():
        engine = engines.create(name, config.options)
        keys.update(job.key for job in jobs_for(transcript, vmap, name, engine.version, engine=engine))
    return keys


def whole_present(out_dir: Path, whole: Whole) -> bool:
    return all((out_dir / name).is_file() for name in whole.files)
