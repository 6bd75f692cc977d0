"""Listening gate: do the shipped Kokoro voices say what the text says, at a natural pace?

    .venv/bin/python benchmarks/listening_gate.py [--turns 24] [--engine kokoro]

Renders (into a cache under output/listening-gate/) a fixed sample of the seed: the
title, every section heading, every narration turn and ``--turns`` speaker turns spread
evenly over both speakers (turns of at most 220 characters, to keep the run short),
plus the whole English panel ``benchmarks/data/panel-en.md`` (one turn of it is in
Chinese). Then runs ``check``'s listening (faster-whisper, the Whisper base model) on
every clip and reports per voice: error rate (pinyin syllables for Chinese, words for
English), pace (syllables or words per second), median F0 and real-time factor
(synthesis seconds per second of audio, one thread per clip). Targets: every clip under
``check``'s threshold, mean error <= 0.03 for Mandarin, <= 0.05 for English.

Results: benchmarks/results/listening_gate.json.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from audio_pipeline import engines, model, pitch, synth, transcript, voices  # noqa: E402
from audio_pipeline.cache import ClipCache  # noqa: E402
from audio_pipeline.check import listen, recognizer, scoring  # noqa: E402
from audio_pipeline.check.heard import ResultCache  # noqa: E402
from audio_pipeline.engines.base import synthesize_with_retry  # noqa: E402

SEED = ROOT / "seeds" / "luo-yonghao-yan-junjie.md"
PANEL = ROOT / "benchmarks" / "data" / "panel-en.md"
OUT = ROOT / "output" / "listening-gate"
RESULTS = ROOT / "benchmarks" / "results" / "listening_gate.json"
MAX_TURN_CHARS = 220
TARGET_MEAN = {"zh": 0.03, "en": 0.05}


def sample_seed(jobs: list[model.Job], turns: int) -> list[model.Job]:
    """Title, headings, narration, and ``turns`` speaker turns spread over both speakers."""
    fixed = [j for j in jobs if j.speaker is None]
    by_speaker: dict[str, list[model.Job]] = {}
    for job in jobs:
        if job.speaker is not None and len(job.request.text) <= MAX_TURN_CHARS:
            by_speaker.setdefault(job.speaker, []).append(job)
    chosen: list[model.Job] = []
    share = -(-turns // max(1, len(by_speaker)))
    for found in by_speaker.values():
        step = max(1, len(found) // share)
        chosen += found[::step][:share]
    keep = {id(j) for j in fixed + chosen}
    return [j for j in jobs if id(j) in keep]


def make_clips(jobs: list[model.Job], engine: Any, cache: ClipCache, timings: dict[str, float]) -> None:
    """Synthesize missing clips on as many threads as the engine likes, timing each."""

    def work(job: model.Job) -> tuple[str, float]:
        start = time.perf_counter()
        cache.put(job.key, synthesize_with_retry(engine, job.request))
        return job.key, time.perf_counter() - start

    todo = {j.key: j for j in jobs if cache.get(j.key) is None or j.key not in timings}
    with cf.ThreadPoolExecutor(max_workers=engine.default_jobs) as pool:
        for done, (key, seconds) in enumerate(pool.map(work, todo.values()), 1):
            timings[key] = seconds
            print(f"\r  synthesized {done}/{len(todo)}", end="", file=sys.stderr, flush=True)
    if todo:
        print(file=sys.stderr)


def units_of(job: model.Job) -> tuple[str, int]:
    code = scoring.language_of(job.request.text)
    return code, len(scoring.units(job.request.text, code))


def per_voice(checks: list[listen.TurnCheck], cache: ClipCache, timings: dict[str, float]) -> list[dict[str, Any]]:
    groups: dict[tuple[str, str], list[listen.TurnCheck]] = {}
    for check in checks:
        code, _ = units_of(check.job)
        groups.setdefault((check.job.request.spec.voice, code), []).append(check)
    rows = []
    for (voice, code), group in groups.items():
        audio_s = 0.0
        units = 0
        samples = []
        for check in group:
            clip = cache.get(check.job.key)
            assert clip is not None
            pcm = np.frombuffer(clip.load().raw_data, dtype=np.int16)
            rate = clip.sample_rate
            audio_s += len(pcm) / rate
            units += units_of(check.job)[1]
            samples.append(pitch.frame_f0(pcm, rate))
        errors = [c.score.error_rate for c in group if c.score]
        f0 = np.concatenate(samples)
        rows.append(
            {
                "voice": voice,
                "lang": code,
                "speakers": sorted({c.job.speaker or "(narrator)" for c in group}),
                "clips": len(group),
                "failed": sum(c.failed for c in group),
                "mean_error": round(statistics.fmean(errors), 4) if errors else None,
                "max_error": max(errors) if errors else None,
                "pace": round(units / audio_s, 2),
                "pace_unit": "syllables/s" if code == "zh" else "words/s",
                "median_f0_hz": round(float(np.median(f0)), 1) if f0.size else None,
                "rtf": round(sum(timings.get(c.job.key, 0.0) for c in group) / audio_s, 3),
                "audio_s": round(audio_s, 1),
            }
        )
    return rows


POOL_SENTENCES = {
    "zh": "我觉得这件事情非常重要，我们公司一开始就想清楚了。",
    "en": "I think this matters a lot, and we worked it out early on.",
}


def pool_figures(vmap: voices.VoiceMap, engine: Any) -> dict[str, list[dict[str, Any]]]:
    """Every shipped Kokoro voice per language (narrator, speakers, pool) on one sentence:
    median F0, pace, and how far its style is from the nearest other voice (1 - cosine
    similarity of the mean style vectors: blends that sit on top of another voice show)."""
    config = vmap.engine("kokoro")
    out: dict[str, list[dict[str, Any]]] = {}
    for code, block in config.languages.items():
        specs = {s.voice: s for s in (block.narrator, *block.speakers.values(), *block.pool) if s is not None}
        styles = {v: engine.style(v).mean(axis=0) for v in specs}
        rows = []
        for voice, spec in specs.items():
            spoken = POOL_SENTENCES[code]
            pcm = engine.sentence_pcm(spoken, spec, code)
            seconds = len(pcm) / engine.sample_rate
            code_units = len(scoring.units(spoken, code))
            mine = styles[voice]
            nearest = min(
                (
                    1 - float(np.dot(mine, other) / (np.linalg.norm(mine) * np.linalg.norm(other))),
                    name,
                )
                for name, other in styles.items()
                if name != voice
            )
            f0 = pitch.median_f0(pcm, engine.sample_rate)
            rows.append(
                {
                    "voice": voice,
                    "median_f0_hz": round(f0, 1) if f0 else None,
                    "pace": round(code_units / seconds, 2),
                    "nearest": nearest[1],
                    "style_distance": round(nearest[0], 4),
                }
            )
        out[code] = rows
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=24, help="speaker turns of the seed in the sample")
    parser.add_argument("--engine", default="kokoro", choices=("kokoro", "espeak"))
    parser.add_argument("--pool", action="store_true", help="measure every shipped Kokoro voice instead")
    args = parser.parse_args()
    if args.pool:
        vmap = voices.load(ROOT / "voices.yaml")
        figures = pool_figures(vmap, engines.create("kokoro", vmap.engine("kokoro").options))
        target = RESULTS.with_name("voice_pool.json")
        target.write_text(json.dumps(figures, ensure_ascii=False, indent=2) + "\n", "utf-8")
        for code, rows in figures.items():
            print(f"\n{code}: {len(rows)} voices")
            for row in rows:
                print(
                    f"  {row['voice']:34} F0 {row['median_f0_hz'] or 0:6.1f} Hz  pace {row['pace']:5.2f}  "
                    f"nearest {row['nearest']} ({row['style_distance']:.4f})"
                )
        print(f"\n{target.relative_to(ROOT)}")
        return

    vmap = voices.load(ROOT / "voices.yaml")
    engine = engines.create(args.engine, vmap.engine(args.engine).options)
    cache = ClipCache(OUT / args.engine / "clips")
    timing_file = OUT / args.engine / "timings.json"
    timings: dict[str, float] = json.loads(timing_file.read_text()) if timing_file.exists() else {}
    listener = recognizer.WhisperListener()
    results = ResultCache(OUT / args.engine / "heard")
    report: dict[str, Any] = {"engine": engine.version, "transcripts": {}}
    for path, turns in ((SEED, args.turns), (PANEL, None)):
        parsed = transcript.read(path, vmap.speakers)
        jobs = synth.jobs_for(parsed, vmap, args.engine, engine.version, engine=engine)
        sample = sample_seed(jobs, turns) if turns else jobs
        print(f"{path.name}: {len(sample)} clips", file=sys.stderr)
        make_clips(sample, engine, cache, timings)
        timing_file.write_text(json.dumps(timings))
        checks = listen.check_jobs(sample, cache, listener, results, lexicon=vmap.lexicon)
        rows = per_voice(checks, cache, timings)
        by_lang: dict[str, list[float]] = {}
        for check in checks:
            if check.score:
                by_lang.setdefault(units_of(check.job)[0], []).append(check.score.error_rate)
        report["transcripts"][path.name] = {
            "clips": len(checks),
            "failed": [
                {
                    "line": c.job.line,
                    "speaker": c.job.speaker,
                    "error": c.score.error_rate if c.score else None,
                    "worst": [(s.expected, s.heard) for s in c.score.worst] if c.score else [],
                    "fast": c.fast_problems,
                }
                for c in checks
                if c.failed
            ],
            "mean_error": {code: round(statistics.fmean(v), 4) for code, v in by_lang.items()},
            "voices": rows,
            "worst_clips": sorted(
                (
                    {
                        "line": c.job.line,
                        "speaker": c.job.speaker,
                        "error": c.score.error_rate,
                        "text": c.job.request.text[:60],
                        "heard": (c.heard or "")[:60],
                    }
                    for c in checks
                    if c.score and c.score.error_rate > 0
                ),
                key=lambda row: -row["error"],
            )[:8],
        }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", "utf-8")

    for name, data in report["transcripts"].items():
        print(f"\n{name}: {data['clips']} clips, {len(data['failed'])} failing, mean error {data['mean_error']}")
        print(
            f"{'voice':34} {'lang':4} {'clips':>5} {'fail':>4} {'mean':>6} {'max':>6} {'pace':>6} "
            f"{'F0 Hz':>6} {'RTF':>6}"
        )
        for row in data["voices"]:
            print(
                f"{row['voice']:34} {row['lang']:4} {row['clips']:5d} {row['failed']:4d} {row['mean_error']:6.3f} "
                f"{row['max_error']:6.3f} {row['pace']:6.2f} {row['median_f0_hz'] or 0:6.1f} {row['rtf']:6.3f}"
            )
        for code, mean in data["mean_error"].items():
            target = TARGET_MEAN.get(code)
            if target is not None:
                print(f"  mean {code} error {mean:.4f} (target <= {target}): {'ok' if mean <= target else 'MISSED'}")
    print(f"\n{RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
