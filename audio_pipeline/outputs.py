"""The output folder of one render: the episodes (built beside the engine, or two at a
time once it is done), the whole-interview files, and the manifest, feed and page that
list what is finished. Stale files go once the render has finished."""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import datetime
import os
import shutil
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from . import fsutil, manifest, naming
from .cache import CachedClip, ClipCache
from .errors import PipelineError, RenderError
from .export import cover
from .manifest import Cover, Episode, Manifest, Preview, Whole
from .model import Job, Transcript
from .plan import Plan, SectionPlan, Settings, feed_id, files_present, hash_of, whole_present
from .progress import Event, Reporter, silent

ASSEMBLY_WORKERS = min(2, os.cpu_count() or 1)
#: An edit changing at most this many clips gets each one as a preview, to hear before
#: its episode is rebuilt; a bigger change (a new voice, a cold render) gets none.
MAX_PREVIEWS = 6
# Episodes after the first are built well below the engine (render.ENGINE_NICENESS),
# which must never wait for assembly.
ASSEMBLY_NICENESS = 10


@dataclass(frozen=True)
class Result:
    out_dir: Path
    plan: Plan
    built: tuple[int, ...]  # sections whose files were written (encoded or re-tagged)
    whole_built: bool
    manifest: Manifest
    encoded: tuple[int, ...] = ()  # the sections among them whose audio was encoded


class Outputs:
    """The episodes of one render: those up to date, those to build (one at a time
    beside the engine, or two at a time once it has finished), the whole interview,
    the manifest and what derives from it."""

    def __init__(self, plan: Plan, cache: ClipCache, settings: Settings, report: Reporter) -> None:
        self.plan, self.cache, self.settings, self.report = plan, cache, settings, report
        self.out_dir = plan.out_dir
        self.entries: dict[int, Episode] = {}
        self.built: list[int] = []
        self.to_build: list[SectionPlan] = []
        self._streamer: cf.ThreadPoolExecutor | None = None
        # Episodes turn playable in the threads that build them: the listing is shared.
        self._lock = threading.RLock()
        self.announced: set[int] = set()
        self.previews: list[Preview] = []
        self.made_previews: set[str] = set()
        todo = [s for s in plan.sections if s.section.index in plan.selected]
        report(Event("start", stage="sections", total=len(todo)))
        for sp in plan.sections:
            index = sp.section.index
            if index in plan.up_to_date and sp.previous is not None:
                self.entries[index] = replace(sp.previous, id=sp.identity, pub_order=sp.pub_order)
                if index in plan.selected:
                    report(Event("step", stage="sections", cached=True))
            elif index not in plan.selected:
                if sp.previous is not None:
                    self.entries[index] = sp.previous
            else:
                self.to_build.append(sp)
        self.encoding = [sp for sp in self.to_build if sp.section.index not in plan.retag]
        self._preview_for = self._previewable()
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
                        os.link(self.out_dir / sp.previous.audio, link)
                    except OSError:  # a file system without hard links: a copy
                        shutil.copyfile(self.out_dir / sp.previous.audio, link)
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

    def _build(self, sp: SectionPlan, clips: dict[str, CachedClip], alone: bool) -> Episode:
        from . import assemble  # the signal code, mutagen and encoders: only when building

        load_clips(sp.jobs, self.cache, clips)
        return assemble.build_episode(
            self.out_dir, sp.stem, sp.section, sp.jobs, clips, self.plan.vmap.pauses, sp.tags, sp.build_key,
            audio_key=sp.audio_key, identity=sp.identity, pub_order=sp.pub_order, alone=alone,
            reuse=self.reused.get(sp.section.index), picture=self.picture,
            on_playable=lambda entry: self._playable(sp, entry),
        )  # fmt: skip

    def _previewable(self) -> dict[str, tuple[SectionPlan, str | None]]:
        """The clips to preview when they are made, with the section and the key of the
        turn each replaces in the listed episode (None when turns were added or removed):
        an edit's new clips in sections whose previous episode is there, when few."""
        wanted: dict[str, tuple[SectionPlan, str | None]] = {}
        if not self.settings.previews:
            return wanted
        for sp in self.encoding:
            previous = sp.previous
            if previous is None or not files_present(self.out_dir, previous):
                continue
            old = [t.clip_key for t in previous.turns]
            for i, job in enumerate(sp.jobs):
                if job.key not in self.plan.found and job.key not in old:
                    wanted[job.key] = (sp, old[i] if len(old) == len(sp.jobs) else None)
        return wanted if len(wanted) <= MAX_PREVIEWS else {}

    def preview(self, job: Job, clip: CachedClip) -> None:
        """A clip was made: when it is one of an edit's (see :meth:`_previewable`), write
        it as a preview and list it at once, before its episode is rebuilt."""
        found = self._preview_for.get(job.key)
        if found is None:
            return
        from . import assemble

        sp, replaces = found
        try:
            made = assemble.build_preview(self.out_dir, job, clip, replaces)
        except PipelineError as exc:  # the episode, built from the same clip, reports it
            self.report(Event("notice", message=f"no preview of line {job.line}: {exc}"))
            return
        with self._lock:
            self.made_previews.add(made.audio)
            if sp.section.index not in self.announced:  # its episode is not there yet
                self.previews.append(made)
                self._publish_progress(force=True)

    def _playable(self, sp: SectionPlan, entry: Episode) -> None:
        """The episode's MP3 is in place (its AAC piece still encoding): list it and say
        so now, which is when a listener (or an edit's author) can hear it."""
        with self._lock:
            self.entries[sp.section.index] = entry
            # Its previews are in the episode now.
            self.previews = [p for p in self.previews if p.section != sp.section.index]
            self._publish_progress(force=True)
            self._announce(sp)

    def _done(self, sp: SectionPlan, entry: Episode) -> None:
        index = sp.section.index
        with self._lock:
            self.entries[index] = entry
            self.built.append(index)
            self.report(Event("step", stage="sections"))

    def _announce(self, sp: SectionPlan) -> None:
        """One "episode ready" event per section (when it turned playable)."""
        with self._lock:
            if sp.section.index in self.announced:
                return
            self.announced.add(sp.section.index)
            path = self.out_dir / self.entries[sp.section.index].audio
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

    def _build_streamed(self, sp: SectionPlan, clips: dict[str, CachedClip], first: bool) -> Episode:
        if not first:
            lower_priority()
        # The first, at the engine's priority, also has the AAC piece made beside its MP3.
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
                from . import join

                pool.submit(join.prescan, self.out_dir, [self.entries[i] for i in sorted(self.entries)])
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

    def _manifest(self, whole: Whole | None, sections: list[Episode], previews: Sequence[Preview] = ()) -> Manifest:
        plan = self.plan
        return Manifest(
            title=plan.transcript.title,
            source=Path(plan.transcript.source).name,
            meta=dict(plan.transcript.meta),
            engine=plan.engine_name,
            base_url=self.settings.base_url,
            feed_id=feed_id(plan.transcript, plan.old_manifest),
            cover=Cover(cover.file_name(plan.art_key), plan.art_key, generated=plan.cover_source is None),
            sections=tuple(sections),
            whole=whole,
            previews=tuple(previews),
        )

    def _publish_progress(self, force: bool = False) -> None:
        """manifest.json, feed.xml and index.html listing the episodes finished so far,
        so a long render is listenable as it goes: new episodes as soon as their MP3 is
        in place, and until then the previous render's (an edit keeps the page whole).
        Nothing is deleted here: stale files go when the render finishes. ``force``: an
        episode just turned playable, or a preview was made (even the last section's
        listing is due then: the final manifest waits for the whole interview)."""
        with self._lock:
            if not self.to_build or (self.queue() == [] and not force):
                return  # nothing will be built, or the final manifest follows at once
            listed: list[Episode] = []
            for sp in self.plan.sections:
                entry = self.entries.get(sp.section.index)
                if entry is None and sp.previous is not None and files_present(self.out_dir, sp.previous):
                    entry = sp.previous
                if entry is not None:
                    listed.append(entry)
            whole = self.plan.old_manifest.whole if self.plan.old_manifest else None
            if whole is not None and not whole_present(self.out_dir, whole):
                whole = None
            self._write_cover()
            listing = self._manifest(whole, listed, self.previews)
            if manifest.write(self.out_dir, listing):
                _publish(self.out_dir, listing, self.plan.transcript, self.settings, silent)

    def _write_cover(self) -> None:
        plan = self.plan
        cover_current = plan.old_manifest is not None and plan.old_manifest.cover.key == plan.art_key
        if not cover_current or not (self.out_dir / cover.file_name(plan.art_key)).is_file():
            fsutil.write_if_changed(self.out_dir / cover.file_name(plan.art_key), self.art().feed.read_bytes())

    def finish(self) -> Result:
        plan, out_dir, entries, report = self.plan, self.out_dir, self.entries, self.report
        report(Event("end", stage="sections"))
        old_whole = plan.old_manifest.whole if plan.old_manifest else None
        whole, whole_built = self._finish_whole(old_whole)
        in_use = [entries[s.section.index] for s in plan.sections if s.section.index in entries]
        final = self._manifest(whole, in_use)
        _remove_stale(out_dir, plan.old_manifest, final)
        # This render's previews stay until the next one (a listener may be playing one).
        _sweep_previews(out_dir, keep=self.made_previews)
        built = self.built
        if built or whole_built:
            from . import join

            # The title and gap pieces stay while a whole interview (this one or the last) uses them.
            joined = whole or old_whole
            join.prune_parts(out_dir, in_use, [*(joined.parts if joined else ()), *cover.piece_names(plan.art_key)])
        self._write_cover()
        changed = manifest.write(out_dir, final)
        # Feed and player derive from the manifest (and the base URL it records) alone.
        if changed or not all((out_dir / name).is_file() for name in ("feed.xml", "index.html")):
            _publish(out_dir, final, plan.transcript, self.settings, report)
        order = {sp.section.index: i for i, sp in enumerate(plan.sections)}
        encoded = tuple(sorted((sp.section.index for sp in self.encoding), key=order.__getitem__))
        built_sorted = tuple(sorted(built, key=order.__getitem__))
        return Result(out_dir, plan, built_sorted, whole_built, final, encoded)

    def _finish_whole(self, old_whole: Whole | None) -> tuple[Whole | None, bool]:
        """The whole-interview files, and whether they were built now: the last render's
        when still current, joined again when every section is current, else none."""
        plan, out_dir, entries, report = self.plan, self.out_dir, self.entries, self.report
        all_current = all(
            s.section.index in entries and entries[s.section.index].build_key == s.build_key for s in plan.sections
        )
        if not all_current:
            report(Event("notice", message="whole-interview files not rebuilt: render every section to make them"))
            return None, False
        clips: dict[str, CachedClip] = {}
        load_clips(plan.title_jobs, self.cache, clips)
        ordered = [entries[s.section.index] for s in plan.sections]
        whole_key = hash_of(
            [
                "whole/3",
                [e.sha256 for e in ordered],
                [j.key for j in plan.title_jobs],
                plan.vmap.pauses,
                plan.art_key,
            ]
        )
        if old_whole and old_whole.build_key == whole_key and whole_present(out_dir, old_whole):
            return old_whole, False
        stem = naming.slug(Path(plan.transcript.source).stem)
        report(Event("start", stage="whole", total=1))
        for sp in plan.sections:
            load_clips(sp.jobs, self.cache, clips)
        from . import join  # the signal code, mutagen and encoders: only when building

        whole = join.build_whole(
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
        report(Event("step", stage="whole"))
        report(Event("end", stage="whole"))
        return whole, True


def sweep_partials(out_dir: Path) -> None:
    """Remove temporary files a killed render left behind (we hold the folder's lock)."""
    for path in out_dir.rglob(".*.part"):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def load_clips(jobs: Sequence[Job], cache: ClipCache, clips: dict[str, CachedClip]) -> dict[str, CachedClip]:
    for job in jobs:
        if job.key not in clips:
            found = cache.get(job.key)
            if found is None:
                raise RenderError(f"clip {job.key[:12]} ({job.describe()}) vanished from the cache; run again")
            clips[job.key] = found
    return clips


def lower_priority() -> None:
    """Assembly beside a running engine takes what the engine leaves (once per thread)."""
    if not getattr(_thread_state, "lowered", False):
        fsutil.lower_thread_priority(ASSEMBLY_NICENESS)
        _thread_state.lowered = True


_thread_state = threading.local()


def _referenced(listing: Manifest | None) -> set[str]:
    if listing is None:
        return set()
    names = {name for entry in listing.sections for name in entry.files} | {listing.cover.image}
    return names | set(listing.whole.files if listing.whole else ())


def _sweep_previews(out_dir: Path, keep: set[str]) -> None:
    """Delete the previews earlier renders left (and their folder, once empty)."""
    from .assemble import PREVIEW_FOLDER

    folder = out_dir / PREVIEW_FOLDER
    fsutil.remove_except(folder, {Path(rel).name for rel in keep})
    with contextlib.suppress(OSError):
        folder.rmdir()  # only when empty


def _remove_stale(out_dir: Path, old: Manifest | None, new: Manifest) -> None:
    """Delete files the previous render wrote that the new manifest no longer lists."""
    root = out_dir.resolve()
    for name in _referenced(old) - _referenced(new):
        path = (out_dir / name).resolve()
        if root in path.parents:  # never outside the output folder, whatever a manifest says
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def _publish(out_dir: Path, listing: Manifest, transcript: Transcript, settings: Settings, report: Reporter) -> None:
    """The podcast feed and the player page, both regenerated from the manifest."""
    from .export import feed, player  # lxml and feedgen load only when there is work

    if settings.base_url is None:
        report(Event("notice", message="no --base-url: feed.xml uses relative links"))
    # Without a date in the front matter, the transcript's own date keeps the feed dated.
    try:
        fallback = datetime.date.fromtimestamp(Path(transcript.source).stat().st_mtime)
    except OSError:
        fallback = None
    feed.write_feed(out_dir, listing, base_url=settings.base_url, fallback_date=fallback)
    player.write_player(out_dir, listing)
