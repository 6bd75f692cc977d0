"""Beyond one machine (issue 17): a batch on the local executor against a local Ray
instance on the same 2 cores, throughput per worker, and what the driver can absorb.

    .venv/bin/python benchmarks/cluster.py [--kokoro-clips 16] [--skip-kokoro]

Measured here:
- engine only (``synth.synthesize_missing`` into a fresh cache, no assembly), per engine
  and executor: audio seconds made per second of wall, and per worker. Ray's overhead
  is the drop in per-worker throughput against local threads with the same workers
  (espeak: 1 worker each, the library has one global lock so local threads do not
  scale; kokoro: 2 workers each, one single-threaded ONNX session per worker);
- a cold batch render of the seed, the English panel and two more transcripts with
  espeak (one clip cache, one output folder each): wall time on local threads and on
  2 Ray actors, with Ray's start-up (instance + actors) given apart;
- the driver's share: the render's wall time outside synthesis (assembly, encoding,
  feed), per hour of audio, which bounds how many workers one driver can keep fed.
Prints a table; JSON in benchmarks/results/cluster.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from audio_pipeline import batch, cluster, engines, model, render, synth, transcript, voices  # noqa: E402
from audio_pipeline.cache import ClipCache  # noqa: E402
from audio_pipeline.executors import Executor, LocalExecutor  # noqa: E402
from audio_pipeline.progress import Event  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "transcripts"
BATCH = [
    ROOT / "seeds" / "luo-yonghao-yan-junjie.md",
    FIXTURES / "18-panel-qa-mixed.md",  # the English panel
    FIXTURES / "02-ai-podcast-heading-timestamps.md",
    FIXTURES / "04-zh-conference-metadata.md",
]


class Audio:
    """Seconds of audio made, and the wall time spent in the synthesis stage."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.synth_wall = 0.0
        self._since: float | None = None

    def __call__(self, event: Event) -> None:
        if event.stage != "audio":
            return
        if event.kind == "start":
            self._since = time.perf_counter()
        elif event.kind == "step":
            self.seconds += event.amount
        elif event.kind == "end" and self._since is not None:
            self.synth_wall += time.perf_counter() - self._since
            self._since = None


def start_ray() -> float:
    import ray

    began = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR,
             _system_config={"worker_niceness": cluster.LOCAL_WORKER_NICENESS})  # fmt: skip
    return time.perf_counter() - began


def make_executor(kind: str, name: str, options: dict[str, Any], workers: int) -> tuple[Executor, float]:
    began = time.perf_counter()
    engine = engines.create(name, options)
    if kind == "local":
        # At the niceness the Ray workers get, so both compete alike with anything else running.
        niceness = cluster.LOCAL_WORKER_NICENESS
        return LocalExecutor(engine, workers=workers, niceness=niceness), time.perf_counter() - began
    executor = cluster.executor_for(engine, options, workers=workers)
    return executor, time.perf_counter() - began


def engine_only(name: str, options: dict[str, Any], jobs: list[model.Job], kind: str, workers: int) -> dict[str, Any]:
    executor, start_s = make_executor(kind, name, options, workers)
    engine = engines.create(name, options)
    audio = Audio()
    with tempfile.TemporaryDirectory() as tmp:
        began = time.perf_counter()
        clips, failures = synth.synthesize_missing(jobs, engine, ClipCache(tmp), report=audio, executor=executor)
        wall = time.perf_counter() - began
    executor.close()
    assert not failures, failures
    rate = audio.seconds / wall
    return {
        "engine": name, "executor": kind, "workers": workers, "clips": len(clips), "start_s": round(start_s, 2),
        "audio_s": round(audio.seconds, 1), "wall_s": round(wall, 2), "audio_s_per_s": round(rate, 2),
        "per_worker": round(rate / workers, 3),
    }  # fmt: skip


def batch_render(kind: str, vmap: voices.VoiceMap, workdir: Path, workers: int) -> dict[str, Any]:
    options = dict(vmap.engine("espeak").options)
    executor, start_s = make_executor(kind, "espeak", options, workers)
    engine = engines.create("espeak", options)
    out = workdir / f"out-{kind}"
    audio = Audio()

    def prepare(source: str) -> batch.Prepared:
        parsed = transcript.read(source, vmap.speakers)
        settings = render.Settings(out_root=out, engine="espeak", jobs=workers)
        return batch.Prepared(parsed, vmap, engine, settings)

    began = time.perf_counter()
    outcomes = batch.render_all([str(p) for p in BATCH], prepare, audio, executor_for=lambda item: executor)
    wall = time.perf_counter() - began
    executor.close()
    assert all(o.ok for o in outcomes), [str(o.error) for o in outcomes if o.error]
    driver = wall - audio.synth_wall
    return {
        "executor": kind, "workers": workers, "transcripts": len(outcomes), "start_s": round(start_s, 2),
        "audio_s": round(audio.seconds, 1), "wall_s": round(wall, 2), "synth_wall_s": round(audio.synth_wall, 2),
        "driver_only_s": round(driver, 2),
        "driver_s_per_audio_hour": round(driver / (audio.seconds / 3600), 1),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kokoro-clips", type=int, default=16, help="seed clips (in reading order) for kokoro")
    parser.add_argument("--skip-kokoro", action="store_true")
    parser.add_argument("--repeat", type=int, default=2, help="kokoro runs per executor (alternated)")
    args = parser.parse_args()
    # The panel has more unnamed speakers than the shipped espeak pool: two more voices.
    config = Path(tempfile.mkdtemp(prefix="cluster-voices-")) / "voices.yaml"
    shipped = (ROOT / "voices.yaml").read_text("utf-8")
    more = "      - cmn+f4\n      - cmn+m2\n      - cmn+f2\n"
    config.write_text(shipped.replace("      - cmn+f4\n", more, 1), "utf-8")
    vmap = voices.load(config)
    report: dict[str, Any] = {"ray_init_s": round(start_ray(), 2)}
    print(f"local Ray instance (2 CPUs) started in {report['ray_init_s']} s", flush=True)

    espeak_options = dict(vmap.engine("espeak").options)
    version = engines.create("espeak", espeak_options).version
    jobs = []
    for path in BATCH:
        jobs += synth.jobs_for(transcript.read(str(path), vmap.speakers), vmap, "espeak", version)
    rows = [
        engine_only("espeak", espeak_options, jobs, "local", 1),
        engine_only("espeak", espeak_options, jobs, "ray", 1),
        engine_only("espeak", espeak_options, jobs, "ray", 2),
    ]
    if not args.skip_kokoro:
        kokoro_options = dict(vmap.engine("kokoro").options)
        kokoro = engines.create("kokoro", kokoro_options)
        seed = transcript.read(str(BATCH[0]), vmap.speakers)
        sample = synth.jobs_for(seed, vmap, "kokoro", kokoro.version)[: args.kokoro_clips]
        # Alternated, twice: the machine is shared and its speed drifts between runs.
        for _ in range(args.repeat):
            rows += [
                engine_only("kokoro", kokoro_options, sample, "local", 2),
                engine_only("kokoro", kokoro_options, sample, "ray", 2),
            ]
    for row in rows:
        print(json.dumps(row, ensure_ascii=False), flush=True)
    report["engine_only"] = rows

    work = Path(tempfile.mkdtemp(prefix="cluster-bench-"))
    try:
        renders = [batch_render("local", vmap, work, 2), batch_render("ray", vmap, work, 2)]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for row in renders:
        print(json.dumps(row, ensure_ascii=False), flush=True)
    report["batch_render"] = renders

    def overhead(engine: str, workers: int) -> float | None:
        """1 - Ray's per-worker throughput / local threads', best run of each."""
        local = [r["per_worker"] for r in rows if r["engine"] == engine and r["executor"] == "local"]
        on_ray = [r["per_worker"] for r in rows if r["engine"] == engine and r[
            "executor"] == "ray" and r["workers"] == workers]  # fmt: skip
        if not local or not on_ray:
            return None
        return round(1 - max(on_ray) / max(local), 3)

    report["ray_overhead_per_worker"] = {
        "espeak (1 worker)": overhead("espeak", 1),
        "kokoro (2 workers)": overhead("kokoro", 2),
    }
    print("\nengine         executor workers  audio s   wall s  audio-s/s  per worker")
    for r in rows:
        print(f"{r['engine']:<14} {r['executor']:<8} {r['workers']:>7} {r['audio_s']:>8} {r['wall_s']:>8} "
              f"{r['audio_s_per_s']:>10} {r['per_worker']:>11}")  # fmt: skip
    print("\nbatch (espeak)  executor  start s  wall s  synthesis s  driver-only s  driver s per audio hour")
    for r in renders:
        print(f"{r['transcripts']} transcripts   {r['executor']:<8} {r['start_s']:>8} {r['wall_s']:>7} "
              f"{r['synth_wall_s']:>12} {r['driver_only_s']:>14} {r['driver_s_per_audio_hour']:>24}")  # fmt: skip
    print(f"\nRay overhead per worker: {report['ray_overhead_per_worker']}")
    out = ROOT / "benchmarks" / "results" / "cluster.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", "utf-8")


if __name__ == "__main__":
    main()
