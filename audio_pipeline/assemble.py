"""Cached clips -> episode files and whole-interview files, one section in memory at most."""

from __future__ import annotations

import hashlib
import json
import wave
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import ffmpeg, fsutil
from .cache import CachedClip
from .export.subtitles import Cue, write_srt, write_vtt
from .export.tags import Chapter, tag_mp3, write_id3
from .layout import Timeline, lay_out
from .model import Section, Transcript
from .synth import Job
from .voices import Pauses

# Every clip is brought to this speech level before the section is normalized, so
# voices match each other; the section is then brought to the target loudness.
CLIP_LEVEL_DB = -20.0
MAX_CLIP_GAIN_DB = 15.0
TARGET_LUFS = -16.0
MAX_TRUE_PEAK = -1.0
MP3_BITRATE = "64k"
AAC_BITRATE = "64k"
TAIL_MS = 600


@dataclass(frozen=True)
class EpisodeTags:
    title: str
    album: str
    artist: str
    track: tuple[int, int]
    date: str | None


def clip_gain(clip: CachedClip) -> float:
    gain = CLIP_LEVEL_DB - clip.level_db
    return max(-MAX_CLIP_GAIN_DB, min(MAX_CLIP_GAIN_DB, gain))


def _samples(clip: CachedClip) -> np.ndarray:
    with wave.open(str(clip.path), "rb") as wav:
        data = wav.readframes(wav.getnframes())
    return np.frombuffer(data, dtype=np.int16)


def pieces_pcm(timeline: Timeline, clips: Mapping[str, CachedClip]) -> Iterator[bytes]:
    """The section's PCM, piece by piece, with each clip's matching gain applied.

    Only one clip's samples are held at a time.
    """
    current_key: str | None = None
    current: np.ndarray | None = None
    for piece in timeline.pieces:
        if piece.key is None:
            yield bytes(2 * piece.frames)
            continue
        if piece.key != current_key:
            clip = clips[piece.key]
            factor = 10 ** (clip_gain(clip) / 20)
            scaled = _samples(clip).astype(np.float32) * factor
            current = np.clip(np.round(scaled), -32768, 32767).astype(np.int16)
            current_key = piece.key
        assert current is not None
        yield current[piece.start : piece.end].tobytes()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _encode_normalized(chunks: Any, timeline: Timeline, out: Path, fmt: ffmpeg.Format, **kwargs: Any) -> None:
    """Measure, encode with gain and a true-peak limiter, check, re-encode if a codec overshot."""
    ffmpeg.encode_normalized(
        chunks, timeline.sample_rate, out, fmt, target_lufs=TARGET_LUFS, max_true_peak_dbtp=MAX_TRUE_PEAK, **kwargs
    )


def _cues(timeline: Timeline, offset_ms: int = 0) -> list[Cue]:
    return [Cue(c.start_ms + offset_ms, c.end_ms + offset_ms, c.speaker, c.text) for c in timeline.cues]


def _turn_chapters(timeline: Timeline, section_title: str) -> list[Chapter]:
    chapters = []
    turns = timeline.turns
    for i, turn in enumerate(turns):
        end = turns[i + 1].start_ms if i + 1 < len(turns) else timeline.duration_ms
        chapters.append(Chapter(turn.speaker or section_title, turn.start_ms, end))
    return chapters


def build_episode(
    out_dir: Path,
    stem: str,
    section: Section,
    jobs: Sequence[Job],
    clips: Mapping[str, CachedClip],
    pauses: Pauses,
    tags: EpisodeTags,
    build_key: str,
) -> dict[str, Any]:
    """Write one section's MP3 (tagged, with a chapter per turn), VTT, SRT and JSON chapters."""
    timeline = lay_out(jobs, clips, pauses, tail_ms=TAIL_MS)
    rel = Path("episodes")
    audio = out_dir / rel / f"{stem}.mp3"
    chapters = _turn_chapters(timeline, section.title)

    def tag(tmp: Path) -> None:
        write_id3(
            tmp,
            title=tags.title,
            album=tags.album,
            artist=tags.artist,
            track=tags.track,
            date=tags.date,
            chapters=chapters,
        )

    _encode_normalized(
        lambda: pieces_pcm(timeline, clips), timeline, audio, "mp3", bitrate=MP3_BITRATE, postprocess=tag
    )
    cues = _cues(timeline)
    write_vtt(cues, out_dir / rel / f"{stem}.vtt")
    write_srt(cues, out_dir / rel / f"{stem}.srt")
    podcast_chapters = {
        "version": "1.2.0",
        "chapters": [{"startTime": round(c.start_ms / 1000, 3), "title": c.title} for c in chapters],
    }
    fsutil.write_text(
        out_dir / rel / f"{stem}.chapters.json", json.dumps(podcast_chapters, ensure_ascii=False, indent=2) + "\n"
    )
    return {
        "index": section.index,
        "title": section.title,
        "audio": f"{rel}/{stem}.mp3",
        "vtt": f"{rel}/{stem}.vtt",
        "srt": f"{rel}/{stem}.srt",
        "chapters": f"{rel}/{stem}.chapters.json",
        "duration_ms": timeline.duration_ms,
        "bytes": audio.stat().st_size,
        "sha256": _sha256(audio),
        "build_key": build_key,
        "speakers": list(section.speakers),
        "turns": [
            {
                "speaker": t.speaker,
                "line": t.line,
                "heading": t.turn is None,
                "start_ms": t.start_ms,
                "end_ms": t.end_ms,
                "clip_key": t.key,
                "text": t.text,
            }
            for t in timeline.turns
        ],
    }


def _silence_mp3(parts: Path, ms: int, rate: int) -> Path:
    path = parts / f"gap-{ms}ms-{rate}.mp3"
    if not path.is_file():
        frames = round(ms * rate / 1000)
        ffmpeg.encode([bytes(2 * frames)], rate, path, "mp3", bitrate=MP3_BITRATE)
    return path


def _decoded(paths: Iterable[Path]) -> Iterator[bytes]:
    """Decode MP3 pieces one at a time, so one section at most is in memory."""
    for path in paths:
        yield ffmpeg.decode(path).raw_data


def build_whole(
    out_dir: Path,
    stem: str,
    transcript: Transcript,
    entries: Sequence[dict[str, Any]],
    section_jobs: Sequence[Sequence[Job]],
    title_jobs: Sequence[Job],
    clips: Mapping[str, CachedClip],
    pauses: Pauses,
    build_key: str,
) -> dict[str, Any]:
    """The whole interview: MP3 joined from the episode MP3s without re-encoding, M4B
    encoded once from the decoded episodes, and subtitles for both."""
    parts = out_dir / ".parts"
    timelines = [lay_out(jobs, clips, pauses, tail_ms=TAIL_MS) for jobs in section_jobs]
    rate = timelines[0].sample_rate
    pieces: list[Path] = []
    title_timeline: Timeline | None = None
    if title_jobs:
        title_timeline = lay_out(title_jobs, clips, pauses, tail_ms=pauses.after_heading_ms)
        title_path = parts / f"title-{title_jobs[0].key[:16]}-{rate}.mp3"
        if not title_path.is_file():
            _encode_normalized(
                lambda: pieces_pcm(title_timeline, clips), title_timeline, title_path, "mp3", bitrate=MP3_BITRATE
            )
        pieces.append(title_path)
    gap_ms = max(0, pauses.between_sections_ms - TAIL_MS)
    gap = _silence_mp3(parts, gap_ms, rate) if gap_ms else None
    section_slots = []
    for i, entry in enumerate(entries):
        if i and gap is not None:
            pieces.append(gap)
        section_slots.append(len(pieces))
        pieces.append(out_dir / entry["audio"])

    mp3 = out_dir / f"{stem}.mp3"
    joined = ffmpeg.concat_copy(pieces, mp3)
    starts = [round(joined.starts_ms[slot]) for slot in section_slots]
    total = round(joined.duration_ms)
    chapters = [
        Chapter(entry["title"], 0 if i == 0 else starts[i], starts[i + 1] if i + 1 < len(starts) else total)
        for i, entry in enumerate(entries)
    ]
    date = str(transcript.meta.get("created") or transcript.meta.get("date") or "") or None
    speakers = " / ".join(transcript.speakers) or transcript.title
    tag_mp3(mp3, title=transcript.title, album=transcript.title, artist=speakers, date=date, chapters=chapters)

    cues: list[Cue] = []
    if title_timeline is not None:
        cues += _cues(title_timeline, round(joined.starts_ms[0]))
    for timeline, start in zip(timelines, starts, strict=True):
        cues += _cues(timeline, start)
    write_vtt(cues, out_dir / f"{stem}.vtt")
    write_srt(cues, out_dir / f"{stem}.srt")

    # M4B: decode the same pieces back to PCM and encode AAC once, chapters placed
    # by the decoded lengths (which differ from the MP3 join by its frame padding).
    m4b = out_dir / f"{stem}.m4b"
    m4b_starts = _m4b_layout(pieces, rate)
    m4b_total = m4b_starts.pop()
    m4b_chapters = [
        Chapter(
            entry["title"],
            0 if i == 0 else m4b_starts[section_slots[i]],
            m4b_starts[section_slots[i + 1]] if i + 1 < len(entries) else m4b_total,
        )
        for i, entry in enumerate(entries)
    ]
    metadata = {"title": transcript.title, "album": transcript.title, "artist": speakers, "genre": "Podcast"}
    if date:
        metadata["date"] = date
    ffmpeg.encode(_decoded(pieces), rate, m4b, "m4b", bitrate=AAC_BITRATE, chapters=m4b_chapters, metadata=metadata)
    return {
        "mp3": mp3.name,
        "m4b": m4b.name,
        "vtt": f"{stem}.vtt",
        "srt": f"{stem}.srt",
        "duration_ms": total,
        "build_key": build_key,
        "chapters": [
            {"index": entry["index"], "title": c.title, "start_ms": c.start_ms, "end_ms": c.end_ms}
            for entry, c in zip(entries, chapters, strict=True)
        ],
        "m4b_chapters": [{"title": c.title, "start_ms": c.start_ms, "end_ms": c.end_ms} for c in m4b_chapters],
    }


def _m4b_layout(pieces: Sequence[Path], rate: int) -> list[int]:
    """Start of each piece (ms) when the pieces are decoded and played back to back,
    plus the total at the end; from the MP3 headers' gapless info, without decoding."""
    starts = [0]
    pos = 0
    for path in pieces:
        pos += ffmpeg.mp3_frame_info(path).samples
        starts.append(round(pos * 1000 / rate))
    return starts
