"""Cached clips -> episode files, one section in memory at most.

Each section (and the spoken title) is assembled into one PCM array, levelled
in-process (:func:`audio_pipeline.media.leveling.level`: gain to -16 LUFS, look-ahead
true-peak limiter) and encoded once, to the episode MP3 and an AAC piece side by
side. The whole interview is then joined without re-encoding anything
(:mod:`audio_pipeline.join`): the MP3 from the episode MP3s, the M4B from the AAC pieces.

**One timeline.** A join keeps every piece's encoder delay and padding inside it
(frames cannot be cut), so a piece spans its whole frames in the joined stream:
MP3 frames of 576 (or 1152) samples, AAC frames of 1024. Were a piece's MP3 and
AAC spans different, the whole MP3 and the whole M4B would drift apart at every
join (about 80 ms per section on the seed). So every piece is made
``k * JOIN_BLOCK - MP3_OVERHEAD`` samples long (its closing silence lengthened or
shortened, by half a block at most): then ffmpeg's libmp3lame writes exactly
``k * JOIN_BLOCK`` samples of frames (576 of delay, 1105 of padding) and its AAC
encoder ``k * JOIN_BLOCK`` too (1024 of priming, 657 of padding), so every piece
starts at the same sample in both joins, and one set of chapter and subtitle
times is right for both files.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import math
import wave
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from . import fsutil, naming
from .cache import CachedClip
from .errors import RenderError
from .export.subtitles import Cue, write_srt, write_vtt
from .export.tags import Id3Fields, id3_bytes, write_id3
from .layout import Timeline, lay_out
from .manifest import Episode, Preview, TimedTurn
from .media import adts, codec, leveling, loudness, mp3
from .model import Chapter, EpisodeTags, Job, Pauses, Section

# Every clip is brought to this speech level before the section is normalized, so
# voices match each other; the section is then brought to the target loudness.
CLIP_LEVEL_DB = -20.0
MAX_CLIP_GAIN_DB = 15.0
TARGET_LUFS = -16.0
MAX_TRUE_PEAK = -1.0
MP3_BITRATE = "64k"
AAC_BITRATE = "64k"
TAIL_MS = 600
#: True-peak ceiling of the PCM given to the encoders: lossy coding adds overshoot
#: (on the seed's 28 espeak sections at 64 kbit/s: MP3 +0.7 to +1.4 dB, AAC +0.1 to +1.0).
PCM_CEILING = MAX_TRUE_PEAK - 1.5
#: Overshoot a codec may add: encoded files whose PCM peak is within this of the
#: limit are decoded and measured, and encoded again lower if one passed it.
CODEC_OVERSHOOT_DB = {"mp3": 2.0, "aac": 2.0}
MAX_ATTEMPTS = 3
#: Encoded files are held this far under MAX_TRUE_PEAK: meters differ by a few hundredths.
METER_MARGIN_DB = 0.05
#: How far the AAC piece yields to the MP3 when a section built alone encodes both at once.
AAC_NICENESS = 10
#: Samples every piece of a join spans, in whole units: a multiple of MP3 frames (576
#: and 1152 samples) and of AAC frames (1024): their least common multiple.
JOIN_BLOCK = 9216
#: What libmp3lame (through ffmpeg) adds to n samples, at least: 576 of encoder delay
#: and 1105 of padding. ``k * JOIN_BLOCK - MP3_OVERHEAD`` samples encode to exactly
#: k * JOIN_BLOCK / 576 frames (measured at 16-48 kHz; checked by the tests), and to
#: k * JOIN_BLOCK / 1024 AAC frames with the AAC encoder's 1024 of priming.
MP3_OVERHEAD = 576 + 1105


def join_length(frames: int, closing_silence: int) -> int:
    """The length to give a piece of ``frames`` samples so that its MP3 and AAC span
    the same whole number of JOIN_BLOCKs: the nearest such length, or the next one up
    when the nearest would cut more than the piece's closing silence (less one frame)."""
    up = -(-(frames + MP3_OVERHEAD) // JOIN_BLOCK) * JOIN_BLOCK - MP3_OVERHEAD
    down = up - JOIN_BLOCK
    if down > 0 and frames - down < closing_silence and frames - down < up - frames:
        return down
    return up


def joinable(timeline: Timeline) -> Timeline:
    """``timeline`` with its closing silence fitted to :func:`join_length`."""
    return timeline.with_frames(join_length(timeline.frames, timeline.closing_silence))


def clip_gain(clip: CachedClip) -> float:
    gain = CLIP_LEVEL_DB - clip.level_db
    return max(-MAX_CLIP_GAIN_DB, min(MAX_CLIP_GAIN_DB, gain))


def _samples(clip: CachedClip) -> npt.NDArray[np.int16]:
    try:
        with wave.open(str(clip.path), "rb") as wav:
            data = wav.readframes(wav.getnframes())
    except FileNotFoundError:  # e.g. `cache prune` of a shared cache while this render ran
        raise RenderError(f"clip {clip.key[:12]} vanished from the cache; run again", path=str(clip.path)) from None
    return np.frombuffer(data, dtype=np.int16)


def _gained(clip: CachedClip) -> npt.NDArray[np.int16]:
    """The clip's samples with :func:`clip_gain` applied."""
    scaled = _samples(clip).astype(np.float32) * 10 ** (clip_gain(clip) / 20)
    return np.clip(np.round(scaled), -32768, 32767).astype(np.int16)


def pieces_pcm(timeline: Timeline, clips: Mapping[str, CachedClip]) -> Iterator[bytes]:
    """The section's PCM, piece by piece, with each clip's matching gain applied.

    Only one clip's samples are held at a time.
    """
    current_key: str | None = None
    current: npt.NDArray[np.int16] | None = None
    for piece in timeline.pieces:
        if piece.key is None:
            yield bytes(2 * piece.frames)
            continue
        if piece.key != current_key:
            current = _gained(clips[piece.key])
            current_key = piece.key
        assert current is not None
        yield current[piece.start : piece.end].tobytes()


def section_pcm(timeline: Timeline, clips: Mapping[str, CachedClip]) -> npt.NDArray[np.int16]:
    """:func:`pieces_pcm` as one array: the section's audio, the one thing held whole."""
    out = np.empty(timeline.frames, dtype=np.int16)
    pos = 0
    for chunk in pieces_pcm(timeline, clips):
        n = len(chunk) // 2
        out[pos : pos + n] = np.frombuffer(chunk, dtype=np.int16)
        pos += n
    return out


def chunked(pcm: npt.NDArray[np.int16], size: int = 1 << 18) -> Iterator[bytes]:
    """``pcm`` as bytes, ``size`` samples at a time (to stream into an encoder)."""
    for start in range(0, len(pcm), size):
        yield pcm[start : start + size].tobytes()


def _encode_checked(leveled: leveling.Leveled, sample_rate: int, fmt: str, path: Path) -> float:
    """Encode ``leveled`` to ``path`` in ``fmt`` and return how far the encoded file's
    true peak passes the limit (<= 0: it does not).

    Measured (8x oversampled) while encoding, from the stream decoded as it is written,
    when the codec's possible overshoot puts the PCM's peak near MAX_TRUE_PEAK; -inf
    when it cannot. The limit is METER_MARGIN_DB under MAX_TRUE_PEAK, for meters that
    read a bit higher.
    """
    limit = MAX_TRUE_PEAK - METER_MARGIN_DB
    bitrate = MP3_BITRATE if fmt == "mp3" else AAC_BITRATE
    if leveled.true_peak_dbtp + CODEC_OVERSHOOT_DB[fmt] <= limit:
        codec.encode_one(chunked(leveled.pcm), sample_rate, fmt, path, bitrate=bitrate)
        return -math.inf
    floor = 10 ** ((limit - 1) / 20) * loudness.FULL_SCALE
    peak = codec.encode_one(
        chunked(leveled.pcm), sample_rate, fmt, path, bitrate=bitrate,
        decoded=lambda pcm: loudness.true_peak_of(pcm, floor=floor),
    )  # fmt: skip
    return (20 * math.log10(peak / loudness.FULL_SCALE) if peak else -math.inf) - limit


def encode_leveled(
    pcm: Callable[[], npt.NDArray[np.int16]],
    sample_rate: int,
    mp3_path: Path | None,
    aac_path: Path | None,
    *,
    postprocess: Callable[[Path], None] | None = None,
    on_mp3: Callable[[], None] | None = None,
    beside: bool = False,
) -> leveling.Leveled:
    """Level the PCM ``pcm()`` makes to TARGET_LUFS under PCM_CEILING, encode it to an
    MP3 and/or an AAC (ADTS) piece, and make sure each stays under MAX_TRUE_PEAK. Only
    the levelled copy is held while ffmpeg encodes it.

    Each format is checked on its own: one a codec's overshoot took past the limit is
    levelled again with the ceiling lowered by the excess (plus 0.3 dB) and encoded
    again alone, at most MAX_ATTEMPTS times in all; the other is kept. So neither
    format's bytes depend on the other's (an AAC piece the whole-interview join makes
    later is the one an episode build makes), and the MP3 goes into place without
    waiting for the AAC: ``postprocess`` gets its finished temporary file (e.g.
    tagging) before the rename, and ``on_mp3`` is called after it.
    Each check runs while its file is encoded (:func:`_encode_checked`). The MP3 comes
    first; ``beside`` (a section built alone: a core is free) encodes the AAC at the
    same time, at a lower priority (AAC_NICENESS): the MP3, what a listener waits for,
    is then ready about 15 % later and both about 25 % sooner (285 s section, 2 cores).
    Returns the MP3's levelling (the AAC's when there is no MP3).
    """
    outputs = [(fmt, path) for fmt, path in (("mp3", mp3_path), ("aac", aac_path)) if path is not None]
    if not outputs:
        raise ValueError("encode_leveled needs at least one output")
    first = leveling.level(pcm(), sample_rate, target_lufs=TARGET_LUFS, ceiling_dbtp=PCM_CEILING)

    def one(fmt: str, path: Path) -> leveling.Leveled:
        leveled, ceiling = first, PCM_CEILING
        with fsutil.atomic_path(path) as tmp:
            for attempt in range(1, MAX_ATTEMPTS + 1):
                if attempt > 1:
                    leveled = leveling.level(pcm(), sample_rate, target_lufs=TARGET_LUFS, ceiling_dbtp=ceiling)
                excess = _encode_checked(leveled, sample_rate, fmt, tmp)
                if excess <= 0:
                    break
                ceiling -= excess + 0.3
            if fmt == "mp3" and postprocess is not None:
                postprocess(tmp)
        if fmt == "mp3" and on_mp3 is not None:
            on_mp3()
        return leveled

    if beside and len(outputs) == 2:
        with cf.ThreadPoolExecutor(max_workers=1) as pool:
            aac = pool.submit(_lowered, one, *outputs[1])
            made = one(*outputs[0])
        aac.result()
        return made
    return [one(fmt, path) for fmt, path in outputs][0]


def _lowered(work: Callable[[str, Path], leveling.Leveled], fmt: str, path: Path) -> leveling.Leveled:
    fsutil.lower_thread_priority(AAC_NICENESS)  # a pool thread of its own: ffmpeg inherits it
    return work(fmt, path)


def timeline_cues(timeline: Timeline, offset_ms: int = 0) -> list[Cue]:
    """The timeline's subtitles, ``offset_ms`` later."""
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
    *,
    audio_key: str,
    identity: str,
    pub_order: int,
    alone: bool = False,
    reuse: Path | None = None,
    picture: bytes | None = None,
    on_playable: Callable[[Episode], None] | None = None,
) -> Episode:
    """Write one section's MP3 (tagged, with a chapter per turn), AAC piece, VTT, SRT and
    JSON chapters; return its manifest entry (``identity`` and ``pub_order`` go in it).

    ``reuse``: an MP3 that already holds this section's audio (same ``audio_key``: same
    clips, pauses and encoder), whose AAC piece is in place: its audio frames are copied
    behind the new tags, nothing is encoded (a renamed, renumbered or re-tagged episode).
    ``picture``: the cover (JPEG) to embed.
    ``alone``: no other section is being built (see ``beside`` in :func:`encode_leveled`).
    ``on_playable``: called with the entry as soon as the MP3 and its sidecars are in
    place, while the AAC piece (only the whole-interview M4B uses it) is still encoding.
    """
    timeline = joinable(lay_out(jobs, clips, pauses, tail_ms=TAIL_MS))
    rel = Path("episodes")
    audio = out_dir / rel / f"{stem}.mp3"
    chapters = _turn_chapters(timeline, section.title)
    piece = naming.episode_piece(out_dir, audio_key)
    fields = _id3_fields(tags, chapters, picture)
    # The sidecars first: they are all the MP3 needs to be listed (and playable).
    _write_sidecars(out_dir / rel, stem, timeline, chapters)

    def entry(aac_frames: int) -> Episode:
        return Episode(
            id=identity,
            pub_order=pub_order,
            index=section.index,
            title=section.title,
            audio=f"{rel}/{stem}.mp3",
            vtt=f"{rel}/{stem}.vtt",
            srt=f"{rel}/{stem}.srt",
            chapters=f"{rel}/{stem}.chapters.json",
            duration_ms=timeline.duration_ms,
            bytes=audio.stat().st_size,
            sha256=fsutil.sha256_file(audio),
            build_key=build_key,
            audio_key=audio_key,
            aac_frames=aac_frames,
            speakers=section.speakers,
            turns=tuple(
                TimedTurn(t.speaker, t.line, t.turn is None, t.start_ms, t.end_ms, t.key, t.text)
                for t in timeline.turns
            ),
        )

    def playable() -> None:
        if on_playable is not None:
            # The AAC piece is not written yet: the count its one timeline gives it.
            on_playable(entry((timeline.frames + MP3_OVERHEAD) // adts.AAC_FRAME))

    _write_audio(audio, piece, timeline, clips, fields, alone=alone, reuse=reuse, on_mp3=playable)
    # Read once here, remembered for the whole-interview join (and recorded in the manifest).
    aac_frames, _rate = adts.adts_frames(piece)
    mp3.scan(audio)
    return entry(aac_frames)


PREVIEW_FOLDER = "previews"


def build_preview(out_dir: Path, job: Job, clip: CachedClip, replaces: str | None) -> Preview:
    """One changed clip as an MP3 of its own (``previews/``), levelled as an episode is
    (the clip's speech level, then TARGET_LUFS under PCM_CEILING, on the clip alone), so
    an edit can be heard before its section's episode is rebuilt."""
    pcm = _gained(clip)
    leveled = leveling.level(pcm, clip.sample_rate, target_lufs=TARGET_LUFS, ceiling_dbtp=PCM_CEILING)
    rel = f"{PREVIEW_FOLDER}/{job.key[:32]}.mp3"
    with fsutil.atomic_path(out_dir / rel) as tmp:
        codec.encode_one(chunked(leveled.pcm), clip.sample_rate, "mp3", tmp, bitrate=MP3_BITRATE)
    duration_ms = round(len(pcm) * 1000 / clip.sample_rate)
    return Preview(job.section, rel, job.key, replaces, job.speaker, job.line, duration_ms)


def _id3_fields(tags: EpisodeTags, chapters: list[Chapter], picture: bytes | None) -> Id3Fields:
    return {
        "title": tags.title,
        "album": tags.album,
        "artist": tags.artist,
        "track": tags.track,
        "date": tags.date,
        "chapters": chapters,
        "picture": picture,
    }


def _write_audio(
    audio: Path,
    piece: Path,
    timeline: Timeline,
    clips: Mapping[str, CachedClip],
    fields: Id3Fields,
    *,
    alone: bool,
    reuse: Path | None,
    on_mp3: Callable[[], None],
) -> None:
    """The episode's MP3, tagged with ``fields``, and its AAC piece: ``reuse``'s audio
    frames behind the new tags when the piece is in place, else both encoded
    (``on_mp3`` is called once the MP3 is in place)."""
    if reuse is not None and piece.is_file():
        mp3.retag_copy(reuse, audio, id3_bytes(**fields))
        on_mp3()
    else:
        encode_leveled(
            lambda: section_pcm(timeline, clips),
            timeline.sample_rate,
            audio,
            piece,
            postprocess=lambda tmp: write_id3(tmp, **fields),
            on_mp3=on_mp3,
            beside=alone,
        )


def _write_sidecars(folder: Path, stem: str, timeline: Timeline, chapters: list[Chapter]) -> None:
    """The episode's VTT and SRT subtitles and its JSON chapters (Podcasting 2.0)."""
    cues = timeline_cues(timeline)
    write_vtt(cues, folder / f"{stem}.vtt")
    write_srt(cues, folder / f"{stem}.srt")
    podcast_chapters = {
        "version": "1.2.0",
        "chapters": [{"startTime": round(c.start_ms / 1000, 3), "title": c.title} for c in chapters],
    }
    fsutil.write_text(
        folder / f"{stem}.chapters.json", json.dumps(podcast_chapters, ensure_ascii=False, indent=2) + "\n"
    )
