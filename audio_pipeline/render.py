"""plan() says what a render would do; render() does it.

Data flows one way: transcript -> clip jobs -> cached clips -> section timelines ->
episode files -> whole-interview files -> manifest. A section is rebuilt only when
its build key (its clips in order, pauses, tags, file name) differs from the one
recorded in manifest.json or its files are gone.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import datetime
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import engines, ffmpeg, fsutil, naming
from .cache import CachedClip, ClipCache
from .engines.base import Engine
from .errors import PipelineError, RenderError
from .model import EpisodeTags, Section, Transcript
from .progress import Event, Reporter, silent

__all__ = ["silent"]
from .synth import TITLE_SECTION, Job, failure_error, jobs_for, synthesize_missing
from .voices import VoiceMap

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1
ASSEMBLY_WORKERS = min(2, os.cpu_count() or 1)


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

    def out_dir(self, transcript: Transcript) -> Path:
        return self.out_root / naming.slug(Path(transcript.source).stem)

    def clip_cache(self) -> ClipCache:
        return ClipCache(self.cache_dir or self.out_root / ".cache" / "clips")


def choose_engine(settings: Settings, vmap: VoiceMap, report: Reporter = silent) -> Engine:
    """The engine for the whole run. ``auto``: edge when its service answers, else kokoro."""
    name = settings.engine
    if name == "auto":
        from .engines.edge import preflight

        reason = preflight(timeout=settings.preflight_timeout)
        if reason is None:
            name = "edge"
        else:
            name = engines.DEFAULT_OFFLINE
            report(Event("notice", message=f"edge-tts unavailable ({reason}); rendering everything with {name}"))
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


@dataclass
class Plan:
    transcript: Transcript
    vmap: VoiceMap
    out_dir: Path
    engine_name: str
    title_jobs: tuple[Job, ...]
    sections: list[SectionPlan]
    selected: frozenset[int]
    missing: set[str] = field(default_factory=set)
    # The cached clips, as read (and checked) while planning: not read again to build.
    found: dict[str, CachedClip] = field(default_factory=dict)
    up_to_date: set[int] = field(default_factory=set)
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

    def to_json(self) -> dict[str, Any]:
        return {
            "engine": self.engine_name,
            "clips_to_synthesize": len(self.missing),
            "clips_cached": len(self.cached),
            "sections_to_build": self.to_build,
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


def make_plan(
    transcript: Transcript,
    vmap: VoiceMap,
    engine: Engine,
    cache: ClipCache,
    out_dir: Path,
    selected: frozenset[int] | None = None,
    rebuild: frozenset[int] = frozenset(),
) -> Plan:
    jobs = jobs_for(transcript, vmap, engine.name, engine.version, engine=engine)
    by_section: dict[int, list[Job]] = {}
    for job in jobs:
        by_section.setdefault(job.section, []).append(job)
    count = len(transcript.sections)
    date = str(transcript.meta.get("created") or transcript.meta.get("date") or "") or None
    section_plans = []
    for section in transcript.sections:
        section_jobs = tuple(by_section.get(section.index, ()))
        tags = EpisodeTags(
            title=section.title,
            album=transcript.title,
            artist=" / ".join(section.speakers) or transcript.title,
            track=(section.index, count),
            date=date,
        )
        stem = naming.episode_stem(section.index, count, section.title)
        key = _hash(["section/1", stem, [j.key for j in section_jobs], vmap.pauses, tags, ffmpeg.build_id()])
        section_plans.append(SectionPlan(section, stem, section_jobs, tags, key))
    chosen = selected if selected is not None else frozenset(s.index for s in transcript.sections)
    plan = Plan(
        transcript,
        vmap,
        out_dir,
        engine.name,
        tuple(by_section.get(TITLE_SECTION, ())),
        section_plans,
        chosen,
        old_manifest=read_manifest(out_dir),
    )
    needed = [j for j in plan.title_jobs] + [j for s in section_plans if s.section.index in chosen for j in s.jobs]
    for job in needed:
        clip = plan.found.get(job.key) or cache.get(job.key)
        if clip is None:
            plan.missing.add(job.key)
        else:
            plan.found[job.key] = clip
    old = {e.get("index"): e for e in plan.old_manifest.get("sections", []) if isinstance(e, dict)}
    for sp in section_plans:
        entry = old.get(sp.section.index)
        current = entry and entry.get("build_key") == sp.build_key and _files_present(out_dir, entry)
        if current and sp.section.index not in rebuild:
            plan.up_to_date.add(sp.section.index)
    return plan


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
    built: tuple[int, ...]
    whole_built: bool
    manifest: dict[str, Any]


def render(
    transcript: Transcript,
    vmap: VoiceMap,
    engine: Engine,
    settings: Settings,
    report: Reporter = silent,
) -> Result:
    out_dir = settings.out_dir(transcript)
    # Every speaker must have a voice before anything is written (no lock, no folders).
    vmap.cast(transcript, engine.name)
    cache = settings.clip_cache()
    with locked(out_dir):
        _sweep_partials(out_dir)
        plan = make_plan(transcript, vmap, engine, cache, out_dir, settings.sections, settings.rebuild)
        needed = list(plan.title_jobs) + [
            j
            for s in plan.sections
            if s.section.index in plan.selected and s.section.index not in plan.up_to_date
            for j in s.jobs
        ]
        clips, failures = synthesize_missing(
            needed, engine, cache, workers=settings.jobs, report=report, known=plan.found
        )
        if failures:
            raise failure_error(failures, transcript.source)
        return _assemble(plan, {**plan.found, **clips}, cache, settings, report)


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


def _assemble(
    plan: Plan, clips: dict[str, CachedClip], cache: ClipCache, settings: Settings, report: Reporter
) -> Result:
    out_dir = plan.out_dir
    old_sections = {e.get("index"): e for e in plan.old_manifest.get("sections", []) if isinstance(e, dict)}
    entries: dict[int, dict[str, Any]] = {}
    todo = [s for s in plan.sections if s.section.index in plan.selected]
    report(Event("start", stage="sections", total=len(todo)))
    to_build: list[SectionPlan] = []
    for sp in plan.sections:
        index = sp.section.index
        if index in plan.up_to_date:
            entries[index] = old_sections[index]
            if index in plan.selected:
                report(Event("step", stage="sections", cached=True))
        elif index not in plan.selected:
            if index in old_sections:
                entries[index] = old_sections[index]
        else:
            _load_clips(sp.jobs, cache, clips)
            to_build.append(sp)

    def build(sp: SectionPlan) -> dict[str, Any]:
        from . import assemble  # the signal code, mutagen and encoders: only when building

        return assemble.build_episode(
            out_dir, sp.stem, sp.section, sp.jobs, clips, plan.vmap.pauses, sp.tags, sp.build_key,
            alone=len(to_build) == 1,
        )  # fmt: skip

    # Encoding is ffmpeg in subprocesses: two sections at once keep both cores busy
    # while holding at most two sections' audio.
    with cf.ThreadPoolExecutor(max_workers=ASSEMBLY_WORKERS) as pool:
        futures = {pool.submit(build, sp): sp.section.index for sp in to_build}
        if 0 < len(to_build) < ASSEMBLY_WORKERS and entries:
            # An edit: a worker is free while the section encodes (in ffmpeg), so it reads
            # the finished episodes' frame layouts now, not in the whole-interview join.
            from . import assemble

            pool.submit(assemble.prescan, out_dir, [entries[i] for i in sorted(entries)])
        try:
            for future in cf.as_completed(futures):
                entries[futures[future]] = future.result()
                report(Event("step", stage="sections"))
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    built = [sp.section.index for sp in to_build]
    report(Event("end", stage="sections"))

    all_current = all(
        s.section.index in entries and entries[s.section.index].get("build_key") == s.build_key for s in plan.sections
    )
    whole = plan.old_manifest.get("whole") if plan.old_manifest else None
    whole_built = False
    if all_current:
        _load_clips(plan.title_jobs, cache, clips)
        ordered = [entries[s.section.index] for s in plan.sections]
        whole_key = _hash(
            ["whole/2", [e["sha256"] for e in ordered], [j.key for j in plan.title_jobs], plan.vmap.pauses]
        )
        stem = naming.slug(Path(plan.transcript.source).stem)
        if not (whole and whole.get("build_key") == whole_key and _whole_present(out_dir, whole)):
            report(Event("start", stage="whole", total=1))
            for sp in plan.sections:
                _load_clips(sp.jobs, cache, clips)
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
            )
            whole_built = True
            report(Event("step", stage="whole"))
            report(Event("end", stage="whole"))
    else:
        whole = None
        report(Event("notice", message="whole-interview files not rebuilt: render every section to make them"))

    manifest = {
        "version": MANIFEST_VERSION,
        "title": plan.transcript.title,
        "source": Path(plan.transcript.source).name,
        "meta": dict(plan.transcript.meta),
        "engine": plan.engine_name,
        "base_url": settings.base_url,
        "sections": [entries[s.section.index] for s in plan.sections if s.section.index in entries],
        "whole": whole,
    }
    _remove_stale(out_dir, plan.old_manifest, manifest)
    if built or whole_built:
        from . import assemble

        in_use = [entries[s.section.index] for s in plan.sections if s.section.index in entries]
        # The title and gap pieces stay while a whole interview (this one or the last) uses them.
        joined_from = (whole or plan.old_manifest.get("whole") or {}).get("parts", [])
        assemble.prune_parts(out_dir, in_use, joined_from)
    changed = fsutil.write_if_changed(
        out_dir / MANIFEST, (json.dumps(manifest, ensure_ascii=False, indent=2) + "\n").encode()
    )
    # Feed and player derive from the manifest (and the base URL it records) alone.
    if changed or not all((out_dir / name).is_file() for name in ("feed.xml", "index.html")):
        _publish(out_dir, manifest, plan.transcript, settings, report)
    return Result(out_dir, plan, tuple(built), whole_built, manifest)


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
