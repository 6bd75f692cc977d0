"""Episodes -> the whole interview, joined without re-encoding anything: the MP3 from
the episode MP3s, the M4B from the AAC pieces encoded beside them, with chapters and
subtitles for both. The spoken title and the silence between sections are pieces of
their own, kept in ``.parts`` while a whole interview uses them. Every piece is made
:func:`audio_pipeline.assemble.join_length` long, so one set of times is right for
both files (see :mod:`audio_pipeline.assemble`).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import fsutil, naming
from .assemble import (
    AAC_BITRATE,
    MP3_BITRATE,
    MP3_OVERHEAD,
    PCM_CEILING,
    TAIL_MS,
    TARGET_LUFS,
    chunked,
    encode_leveled,
    join_length,
    joinable,
    section_pcm,
    timeline_cues,
)
from .cache import CachedClip
from .errors import PipelineError
from .export.subtitles import Cue, write_srt, write_vtt
from .export.tags import id3_bytes
from .layout import Timeline, lay_out
from .manifest import Episode, Whole, WholeChapter
from .media import aac, adts, codec, ffmpeg, mp3
from .media.types import ConcatResult
from .model import Chapter, Job, Pauses, Transcript

#: Pieces encoded at once when the whole interview needs some (as render builds sections).
WORKERS = min(2, os.cpu_count() or 1)


def prescan(out_dir: Path, entries: Iterable[Episode]) -> None:
    """Read the frame layout of finished episodes (MP3 and AAC piece) ahead of the
    whole-interview join, which finds them remembered: run it while other sections
    are still encoding, so an edit's join is only the copying. Unreadable files are
    left for the join to report."""
    for entry in entries:
        with contextlib.suppress(PipelineError, OSError):
            mp3.scan(out_dir / entry.audio)
            adts.scan(naming.episode_piece(out_dir, entry.audio_key))


def prune_parts(out_dir: Path, entries: Iterable[Episode], also: Iterable[str] = ()) -> None:
    """Delete the pieces in .parts nothing uses any more: AAC pieces of episodes not in
    ``entries`` (earlier versions of edited sections) and title and gap pieces other
    than ``also`` (the ones the whole interview was joined from)."""
    keep = {naming.episode_piece(out_dir, e.audio_key).name for e in entries} | set(also)
    fsutil.remove_except(out_dir / ".parts", keep)


def _make_aac_piece(timeline: Timeline, clips: Mapping[str, CachedClip], path: Path) -> None:
    encode_leveled(lambda: section_pcm(timeline, clips), timeline.sample_rate, None, path)


def _piece_id(*parts: object) -> str:
    """A short name for a cached piece: what it is made of, and the encoder's build."""
    blob = json.dumps([*parts, ffmpeg.build_id()], ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _silence(parts: Path, ms: int, rate: int) -> tuple[Path, Path]:
    """The MP3 and AAC pieces of the silence between sections, :func:`join_length` long."""
    frames = round(ms * rate / 1000)
    samples = join_length(frames, frames)
    base = parts / f"gap-{_piece_id('gap/2', samples, rate, MP3_BITRATE, AAC_BITRATE)}"
    mp3_path, aac_path = base.with_suffix(".mp3"), base.with_suffix(".aac")
    if not (mp3_path.is_file() and aac_path.is_file()):
        silence = np.zeros(samples, dtype=np.int16)
        with fsutil.atomic_path(mp3_path) as tmp_mp3, fsutil.atomic_path(aac_path) as tmp_aac:
            codec.encode_pair(
                chunked(silence), rate, tmp_mp3, tmp_aac, mp3_bitrate=MP3_BITRATE, aac_bitrate=AAC_BITRATE
            )
    return mp3_path, aac_path


def _title_piece(
    parts: Path, title_jobs: Sequence[Job], timeline: Timeline, clips: Mapping[str, CachedClip], rate: int
) -> tuple[Path, Path]:
    """The MP3 and AAC pieces of the spoken title (made once, named by what they hold)."""
    pcm_in = [[j.key for j in title_jobs], timeline.frames, rate, TARGET_LUFS, PCM_CEILING, "join/2"]
    title = parts / f"title-{_piece_id('title', pcm_in, MP3_BITRATE, AAC_BITRATE)}"
    title_mp3, title_aac = title.with_suffix(".mp3"), title.with_suffix(".aac")
    if not (title_mp3.is_file() and title_aac.is_file()):
        encode_leveled(lambda: section_pcm(timeline, clips), rate, title_mp3, title_aac)
    return title_mp3, title_aac


@dataclass
class _Pieces:
    """What is joined, in order: the MP3 pieces, their AAC twins with the frame counts
    known of them (episodes record theirs), and where each section's piece stands."""

    mp3: list[Path] = field(default_factory=list)
    aac: list[Path] = field(default_factory=list)
    aac_frames: list[int | None] = field(default_factory=list)
    sections: list[int] = field(default_factory=list)

    def add(self, mp3_path: Path, aac_path: Path, aac_frames: int | None = None) -> None:
        self.mp3.append(mp3_path)
        self.aac.append(aac_path)
        self.aac_frames.append(aac_frames)


def _section_pieces(
    pieces: _Pieces,
    out_dir: Path,
    entries: Sequence[Episode],
    timelines: Sequence[Timeline],
    gaps: tuple[Path, Path] | None,
    clips: Mapping[str, CachedClip],
) -> None:
    """Add the episodes to ``pieces``, a gap between each two; an episode from an older
    render, without an AAC piece, has its piece made now (WORKERS at a time)."""
    missing: list[tuple[Timeline, Path]] = []
    for i, entry in enumerate(entries):
        if i and gaps is not None:
            pieces.add(*gaps)
        pieces.sections.append(len(pieces.mp3))
        piece = naming.episode_piece(out_dir, entry.audio_key)
        pieces.add(out_dir / entry.audio, piece, entry.aac_frames if piece.is_file() else None)
        if not piece.is_file():
            missing.append((timelines[i], piece))
    if missing:
        with cf.ThreadPoolExecutor(max_workers=WORKERS) as pool:
            for done in [pool.submit(_make_aac_piece, t, clips, path) for t, path in missing]:
                done.result()


def _chapters(entries: Sequence[Episode], joined: ConcatResult, slots: Sequence[int]) -> list[Chapter]:
    """A chapter per section of a joined file, from where its piece starts to where the
    next one does (the first from 0, the last to the end)."""
    starts = [round(joined.starts_ms[slot]) for slot in slots]
    total = round(joined.duration_ms)
    return [
        Chapter(entry.title, 0 if i == 0 else starts[i], starts[i + 1] if i + 1 < len(starts) else total)
        for i, entry in enumerate(entries)
    ]


def _write_subtitles(
    out_dir: Path,
    stem: str,
    title: Timeline | None,
    timelines: Sequence[Timeline],
    joined: ConcatResult,
    slots: Sequence[int],
) -> None:
    """The whole interview's VTT and SRT: every section's cues (and the title's) at its
    place in the join."""
    cues: list[Cue] = []
    if title is not None:
        cues += timeline_cues(title, round(joined.starts_ms[0]))
    for timeline, slot in zip(timelines, slots, strict=True):
        cues += timeline_cues(timeline, round(joined.starts_ms[slot]))
    write_vtt(cues, out_dir / f"{stem}.vtt")
    write_srt(cues, out_dir / f"{stem}.srt")


def _start_m4b(
    pool: cf.Executor,
    pieces: _Pieces,
    path: Path,
    entries: Sequence[Episode],
    metadata: dict[str, str],
    picture: bytes | None,
) -> tuple[cf.Future[Path], list[Chapter]]:
    """Start the M4B's join on ``pool`` (to run beside the MP3's); return it and the
    chapters placed in it. The AAC pieces are joined as they are, chapters placed by
    their frame counts; every piece spans the same samples as its MP3 (see
    :mod:`audio_pipeline.assemble`), so these times are the MP3's."""
    # The last piece's AAC padding is left out, as the MP3's is: both play equally long.
    end_padding = MP3_OVERHEAD - adts.AAC_PRIMING
    layout = adts.adts_layout(pieces.aac, pieces.aac_frames, end_padding=end_padding)
    chapters = _chapters(entries, layout, pieces.sections)
    done = pool.submit(
        aac.concat_adts, pieces.aac, path, chapters=chapters, metadata=metadata, frames=pieces.aac_frames,
        end_padding=end_padding, cover=picture,
    )  # fmt: skip
    return done, chapters


def build_whole(
    out_dir: Path,
    stem: str,
    transcript: Transcript,
    entries: Sequence[Episode],
    section_jobs: Sequence[Sequence[Job]],
    title_jobs: Sequence[Job],
    clips: Mapping[str, CachedClip],
    pauses: Pauses,
    build_key: str,
    picture: bytes | None = None,
) -> Whole:
    """The whole interview, joined without re-encoding: the MP3 from the episode MP3s,
    the M4B from the AAC pieces encoded beside them; subtitles for both. ``picture``:
    the cover (JPEG) to embed in both."""
    parts = out_dir / ".parts"
    timelines = [joinable(lay_out(jobs, clips, pauses, tail_ms=TAIL_MS)) for jobs in section_jobs]
    rate = timelines[0].sample_rate
    pieces = _Pieces()
    title_timeline: Timeline | None = None
    if title_jobs:
        title_timeline = joinable(lay_out(title_jobs, clips, pauses, tail_ms=pauses.after_heading_ms))
        pieces.add(*_title_piece(parts, title_jobs, title_timeline, clips, rate))
    gap_ms = max(0, pauses.between_sections_ms - TAIL_MS)
    _section_pieces(pieces, out_dir, entries, timelines, _silence(parts, gap_ms, rate) if gap_ms else None, clips)

    date = str(transcript.meta.get("created") or transcript.meta.get("date") or "") or None
    speakers = " / ".join(transcript.speakers) or transcript.title

    m4b = out_dir / f"{stem}.m4b"
    metadata = {"title": transcript.title, "album": transcript.title, "artist": speakers, "genre": "Podcast"}
    if date:
        metadata["date"] = date
    with cf.ThreadPoolExecutor(max_workers=1) as pool:
        m4b_done, m4b_chapters = _start_m4b(pool, pieces, m4b, entries, metadata, picture)
        mp3_path = out_dir / f"{stem}.mp3"
        joined = mp3.concat_layout(pieces.mp3)
        chapters = _chapters(entries, joined, pieces.sections)
        tag = id3_bytes(
            title=transcript.title, album=transcript.title, artist=speakers, date=date, chapters=chapters,
            picture=picture,
        )  # fmt: skip
        mp3.concat_copy(pieces.mp3, mp3_path, head=tag)
        _write_subtitles(out_dir, stem, title_timeline, timelines, joined, pieces.sections)
        m4b_done.result()
    used = {p.name for p in [*pieces.mp3, *pieces.aac] if p.parent == parts and not p.name.startswith("episode-")}
    return Whole(
        mp3=mp3_path.name,
        m4b=m4b.name,
        vtt=f"{stem}.vtt",
        srt=f"{stem}.srt",
        duration_ms=round(joined.duration_ms),
        build_key=build_key,
        chapters=tuple(
            WholeChapter(c.title, c.start_ms, c.end_ms, entry.index) for entry, c in zip(entries, chapters, strict=True)
        ),
        m4b_chapters=tuple(WholeChapter(c.title, c.start_ms, c.end_ms) for c in m4b_chapters),
        parts=tuple(sorted(used)),
    )
