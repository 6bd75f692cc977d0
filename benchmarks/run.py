"""Benchmarks on the seed: one command, prints a table and writes JSON.

    .venv/bin/python benchmarks/run.py [--kokoro-turns 12] [--skip-4x]

Every figure comes from running the real CLI (or the real engine) on this machine;
ratios are taken within the same run. Results: benchmarks/results/latest.json.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "seeds" / "luo-yonghao-yan-junjie.md"
BIN = Path(sys.executable).parent
CLI = [str(BIN / "audio-pipeline")]
#: One turn of section 3 edited three ways (each a new clip): words changed in a plain
#: sentence, words changed in a sentence with a number, a sentence added. The edit
#: figure is their median.
EDITS = (
    ("完全超出预期。", "完全超出了所有人的预期。"),
    ("2022年世界杯前我去中东", "2022年世界杯前我去了一趟中东"),
    ("完全超出预期。", "完全超出预期。这一点我们自己也没想到。"),
)
REPEATS = 3  # no-op and edit runs: one figure is the median of these (the machine is shared)


def run_cli(args: list[str], cwd: Path) -> tuple[float, int, str]:
    """Run the CLI in a child that reports its own peak RSS; returns (seconds, peak KiB, stdout)."""
    probe = (
        "import resource, subprocess, sys; "
        "r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
        "sys.stderr.write(r.stderr); print(r.stdout); "
        "print('PEAK', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(r.returncode)"
    )
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", probe, *CLI, *args], cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"benchmark command failed: {' '.join(args)}\n{done.stderr[-2000:]}")
    peak = int(done.stdout.rsplit("PEAK", 1)[1])
    return seconds, peak, done.stdout


def snapshot(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def ffmpeg_floor(whole_mp3: Path, work: Path) -> float:
    """ffmpeg alone encoding the same final audio (MP3 + M4B) from decoded PCM."""
    from audio_pipeline.media.ffmpeg import ffmpeg_exe  # the binary the pipeline runs

    exe = ffmpeg_exe()
    wav = work / "floor.wav"
    subprocess.run([exe, "-v", "error", "-y", "-i", str(whole_mp3), str(wav)], check=True)
    start = time.perf_counter()
    subprocess.run(
        [exe, "-v", "error", "-y", "-i", str(wav), "-c:a", "libmp3lame", "-b:a", "64k", str(work / "f.mp3")], check=True
    )
    subprocess.run(
        [
            exe,
            "-v",
            "error",
            "-y",
            "-i",
            str(wav),
            "-c:a",
            "aac",
            "-aac_coder",
            "fast",
            "-b:a",
            "64k",
            str(work / "f.m4b"),
        ],
        check=True,
    )
    return time.perf_counter() - start


def four_times(text: str) -> str:
    """The seed four times over: sections repeated with new titles and turns made distinct."""
    head, _, body = text.partition("\n## ")
    body = "## " + body
    copies = []
    for n in range(1, 5):
        copy = body.replace("\n## ", f"\n## （第{n}遍）").replace("## ", f"## （第{n}遍）", 1)
        copy = copy.replace("。\n", f"。第{n}遍。\n")
        copies.append(copy)
    return head + "\n" + "\n".join(copies)


def kokoro_figures(turns: int) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from audio_pipeline import engines, synth, transcript, voices
    from audio_pipeline.cache import ClipCache

    vmap = voices.load(ROOT / "voices.yaml")
    parsed = transcript.read(SEED, vmap.speakers)
    engine = engines.create("kokoro", vmap.engine("kokoro").options)
    jobs = [j for j in synth.jobs_for(parsed, vmap, "kokoro", engine.version, engine=engine) if j.turn is not None]
    sample = [j for j in jobs if 20 <= len(j.request.text) <= 120][:turns]
    engine.synthesize(sample[0].request)  # load the model outside the timings
    start = time.perf_counter()
    audio_ms = sum(engine.synthesize(j.request).duration_ms for j in sample)
    direct = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        synth.synthesize_missing(sample, engine, ClipCache(tmp))
        pipeline = time.perf_counter() - start
    edit = kokoro_edit(engine, jobs)
    return {
        "turns": len(sample),
        "audio_s": round(audio_ms / 1000, 1),
        "direct_s": round(direct, 1),
        "pipeline_s": round(pipeline, 1),
        "rtf_direct": round(audio_ms / 1000 / direct, 2),
        "rtf_pipeline": round(audio_ms / 1000 / pipeline, 2),
        "pipeline_over_direct": round(pipeline / direct, 3),
        "workers": engine.default_jobs,
        **edit,
    }


def kokoro_edit(engine: Any, jobs: list[Any]) -> dict[str, Any]:
    """One long turn synthesized through the pipeline, then one sentence of it changed:
    the edit costs only that sentence (the others come from the cached clip)."""
    from dataclasses import replace

    from audio_pipeline import synth
    from audio_pipeline.cache import ClipCache

    several = [j for j in jobs if sum(len(p) for p in j.request.paragraphs) >= 4 and len(j.request.text) <= 240]
    turn = max(several, key=lambda j: len(j.request.text))  # a long turn (~40 s), not the longest
    paragraphs = [list(p) for p in turn.request.paragraphs]
    sentences = sum(len(p) for p in paragraphs)
    where = [(i, j) for i, p in enumerate(paragraphs) for j in range(len(p))][sentences // 2]
    paragraphs[where[0]][where[1]] = "这一句在稿子里改过了。"  # the middle sentence
    edited = replace(turn, request=replace(turn.request, paragraphs=tuple(tuple(p) for p in paragraphs)))
    with tempfile.TemporaryDirectory() as tmp:
        cache = ClipCache(tmp)
        start = time.perf_counter()
        clips, _ = synth.synthesize_missing([turn], engine, cache)
        full = time.perf_counter() - start
        start = time.perf_counter()
        synth.synthesize_missing([edited], engine, cache)
        again = time.perf_counter() - start
    return {
        "edit_turn_audio_s": round(clips[turn.key].duration_ms / 1000, 1),
        "edit_turn_sentences": sentences,
        "edit_turn_full_s": round(full, 1),
        "edit_one_sentence_s": round(again, 2),
        "edit_over_full": round(again / full, 3),
    }


def edit_phases(work: Path, text: str) -> dict[str, float]:
    """Where one edit's time goes: the render run in this process, timed at its progress
    events (the CLI adds interpreter start-up and imports on top)."""
    sys.path.insert(0, str(ROOT))
    from audio_pipeline import engines, render, transcript, voices
    from audio_pipeline.progress import Event

    (work / SEED.name).write_text(text, "utf-8")
    marks: dict[str, float] = {}
    start = time.perf_counter()

    def note(event: Event) -> None:
        if event.kind in ("start", "end"):
            marks[f"{event.stage}_{event.kind}"] = time.perf_counter() - start

    vmap = voices.load(work / "voices.yaml")
    parsed = transcript.read(work / SEED.name, vmap.speakers)
    engine = engines.create("espeak", vmap.engine("espeak").options)
    ready = time.perf_counter() - start
    render.render(parsed, vmap, engine, render.Settings(out_root=work / "out", engine="espeak"), note)
    done = time.perf_counter() - start
    return {
        "parse_and_engine_s": round(ready, 2),
        # The sections' bar opens once the plan is made; the edited section is built once
        # its clip has landed (the engine's bar, in seconds of audio, has closed).
        "plan_s": round(marks["sections_start"] - ready, 2),
        "clips_s": round(marks["audio_end"] - marks["audio_start"], 2),
        "sections_s": round(marks["sections_end"] - marks["audio_end"], 2),
        "whole_s": round(marks["whole_end"] - marks["whole_start"], 2),
        "manifest_feed_player_s": round(done - marks["whole_end"], 2),
    }


def save(results: dict[str, Any]) -> Path:
    dest = ROOT / "benchmarks" / "results" / "latest.json"
    dest.parent.mkdir(exist_ok=True)
    dest.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", "utf-8")
    return dest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kokoro-turns", type=int, default=12)
    parser.add_argument("--skip-4x", action="store_true")
    parser.add_argument("--skip-kokoro", action="store_true")
    args = parser.parse_args()
    # Compile the package's bytecode first, as pip does when it installs a package: an
    # editable install under PYTHONDONTWRITEBYTECODE=1 would otherwise recompile every
    # module on each CLI start (~0.1 s of every no-op and edit figure).
    compileall.compile_dir(ROOT / "audio_pipeline", quiet=1)
    results: dict[str, Any] = {"machine": {"cores": os.cpu_count(), "python": sys.version.split()[0]}}
    work = Path(tempfile.mkdtemp(prefix="ap-bench-"))
    try:
        shutil.copy(SEED, work / SEED.name)
        shutil.copy(ROOT / "voices.yaml", work / "voices.yaml")
        render = ["render", SEED.name, "--engine", "espeak", "--out", "out"]
        out = work / "out" / SEED.stem

        cold_s, cold_rss, _ = run_cli(render, work)
        manifest = json.loads((out / "manifest.json").read_text("utf-8"))
        audio_s = manifest["whole"]["duration_ms"] / 1000
        floor_s = ffmpeg_floor(out / manifest["whole"]["mp3"], work)
        results["cold_espeak"] = {
            "wall_s": round(cold_s, 1),
            "audio_s": round(audio_s, 1),
            "audio_over_wall": round(audio_s / cold_s, 1),
            "floor_s": round(floor_s, 1),
            "pipeline_over_floor": round(cold_s / floor_s, 2),
            "peak_rss_mib": round(cold_rss / 1024, 1),
        }

        before = snapshot(out)
        noop_runs = [run_cli(render, work)[0] for _ in range(REPEATS)]
        plan = json.loads(
            run_cli(["plan", SEED.name, "--engine", "espeak", "--out", "out", "--json"], work)[2].split("PEAK")[0]
        )
        after = snapshot(out)
        results["noop"] = {
            "wall_s": round(statistics.median(noop_runs), 2),
            "runs_s": [round(x, 2) for x in noop_runs],
            "clips_synthesized": plan["clips_to_synthesize"],
            "files_rewritten": sum(1 for k in before if after.get(k) != before[k]),
        }

        seed_text = (work / SEED.name).read_text("utf-8")
        assert all(seed_text.count(old) == 1 for old, _ in EDITS)
        edit_runs, plans = [], []
        for old, new in EDITS:
            (work / SEED.name).write_text(seed_text.replace(old, new), "utf-8")
            plans.append(json.loads(
                run_cli(["plan", SEED.name, "--engine", "espeak", "--out", "out", "--json"], work)[2].split("PEAK")[0]
            ))  # fmt: skip
            edit_runs.append(run_cli(render, work)[0])
        edit_s = statistics.median(edit_runs)
        results["one_edit"] = {
            "wall_s": round(edit_s, 2),
            "runs_s": [round(x, 2) for x in edit_runs],
            "clips_synthesized": sorted({p["clips_to_synthesize"] for p in plans}),
            "sections_rebuilt": sorted({i for p in plans for i in p["sections_to_build"]}),
            "ratio_to_cold": round(edit_s / cold_s, 3),
        }
        results["one_edit_phases"] = edit_phases(work, seed_text.replace("完全超出预期。", "完全超出了他们的预期。"))
        (work / SEED.name).write_text(seed_text, "utf-8")

        if not args.skip_4x:
            (work / "long").mkdir()
            (work / "long" / SEED.name).write_text(four_times(SEED.read_text("utf-8")), "utf-8")
            shutil.copy(ROOT / "voices.yaml", work / "long" / "voices.yaml")
            long_s, long_rss, _ = run_cli(render, work / "long")
            results["memory"] = {
                "rss_1x_mib": round(cold_rss / 1024, 1),
                "rss_4x_mib": round(long_rss / 1024, 1),
                "ratio_4x_over_1x": round(long_rss / cold_rss, 3),
                "wall_4x_s": round(long_s, 1),
            }
        if not args.skip_kokoro:
            save(results)  # what is measured so far, should the Kokoro part fail
            results["kokoro"] = kokoro_figures(args.kokoro_turns)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    dest = save(results)
    width = max(len(k) for group in results.values() for k in group)
    for name, group in results.items():
        print(f"[{name}]")
        for key, value in group.items():
            print(f"  {key:<{width}}  {value}")
    print(f"written: {dest}")


if __name__ == "__main__":
    main()
