"""Listen while it renders (issue 15): time to the first playable episode, total wall
time against synthesize-then-assemble, the ETA's error, and edit-to-ear.

    .venv/bin/python benchmarks/streaming.py [--engines espeak,kokoro] [--kokoro-sections 4]

For each engine, on the seed (kokoro: its first N sections, a cold render of the whole
seed takes about an hour here):
- the engine alone on the title and section 1 (what a first episode cannot beat);
- a cold streaming render: when the first episode was playable, total wall time, and
  the ETA the audio bar showed at 10 %, 25 % and 50 % against the real remaining time;
- a cold render that synthesizes everything first (``Settings(stream=False)``);
- edit-to-ear: a one-sentence edit saved while ``render --watch`` and ``serve`` run,
  until the served page's event stream announces the new manifest.
Prints a table; JSON in benchmarks/results/streaming.json.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from audio_pipeline import engines, model, render, serve, synth, transcript, voices, watch  # noqa: E402
from audio_pipeline.engines import base as engine_base  # noqa: E402
from audio_pipeline.progress import Event  # noqa: E402

SEED = ROOT / "seeds" / "luo-yonghao-yan-junjie.md"
# One-sentence edits in section 1 (in every subset): a long sentence (53 characters,
# about 9 s of speech), one of the seed's median length (33; the median is 36, about
# 6 s), then a short one (15, about 3 s); the whole sentence is what the engine re-speaks.
EDITS = (
    ("我们从一开始就明确", "我们从一开始就非常明确"),
    ("起关键作用的很多人", "起关键作用的许多人"),
    ("怎么做到每个领域都有顶尖人才？", "怎么做到每个领域都有顶级人才？"),
)


def sentence_with(fragment: str, text: str) -> str:
    """The sentence of ``text`` that holds ``fragment`` (what the engine re-speaks)."""
    found = next(s for s in re.split(r"(?<=[。！？])|\n", text) if fragment in s)
    return re.sub(r"^\*\*[^*]+\*\*[:：]\s*", "", found)  # without its speaker marker


def seed_text(sections: int | None) -> str:
    text = SEED.read_text("utf-8")
    if sections is None:
        return text
    marks = [i for i in range(len(text)) if text.startswith("\n## ", i)]
    return text[: marks[sections]] + "\n" if sections < len(marks) else text


class Recorder:
    """Times of the events a render reports."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.first_episode: float | None = None
        self.audio: list[tuple[float, float, float]] = []  # (time, done s, total s)
        self.done = 0.0

    def __call__(self, event: Event) -> None:
        now = time.perf_counter() - self.start
        if event.kind == "episode" and self.first_episode is None:
            self.first_episode = now
        if event.stage == "audio" and event.kind == "step":
            self.done += event.amount
            self.audio.append((now, self.done, event.total))

    def eta_errors(self, end: float, shares: tuple[float, ...] = (0.10, 0.25, 0.50)) -> dict[str, float | None]:
        """At 10/25/50 % of the audio, the bar's ETA (elapsed x remaining / done) against
        the real remaining time of the render: predicted / real - 1."""
        out: dict[str, float | None] = {}
        for share in shares:
            hit = next(((t, d, tot) for t, d, tot in self.audio if tot > 0 and d / tot >= share), None)
            if hit is None:
                out[f"{int(share * 100)}%"] = None
                continue
            t, d, tot = hit
            predicted = t * (tot - d) / d
            real = end - t
            out[f"{int(share * 100)}%"] = round(predicted / real - 1, 3) if real > 0 else None
        return out


def setup(work: Path, text: str, engine_name: str) -> tuple[Any, Any, Any]:
    work.mkdir(parents=True, exist_ok=True)
    src = work / "interview.md"
    src.write_text(text, "utf-8")
    vmap = voices.load(ROOT / "voices.yaml")
    parsed = transcript.read(src, vmap.speakers)
    engine = engines.create(engine_name, vmap.engine(engine_name).options)
    return parsed, vmap, engine


def section_one_alone(work: Path, text: str, engine_name: str) -> float:
    parsed, vmap, engine = setup(work, text, engine_name)
    jobs = synth.jobs_for(parsed, vmap, engine_name, engine.version)
    first = [j for j in jobs if j.section in (model.TITLE_SECTION, 1)]
    cache = render.Settings(out_root=work / "out", cache_dir=work / "cache").clip_cache()
    start = time.perf_counter()
    synth.synthesize_missing(first, engine, cache)
    return time.perf_counter() - start


def cold_render(work: Path, text: str, engine_name: str, stream: bool) -> tuple[float, Recorder]:
    parsed, vmap, engine = setup(work, text, engine_name)
    settings = render.Settings(out_root=work / "out", cache_dir=work / "cache", engine=engine_name, stream=stream)
    recorder = Recorder()
    render.render(parsed, vmap, engine, settings, recorder)
    return time.perf_counter() - recorder.start, recorder


def edit_to_ear(work: Path, engine_name: str) -> list[dict[str, Any]]:
    """Save one-sentence edits (EDITS) while the watch loop and the server run; for each,
    seconds until the page's event stream announces a manifest in which the edit can be
    heard: first as a preview of the changed clip (``edit_to_ear_s``), then in its
    rebuilt episode (``edit_to_episode_s``), split into synthesis (save -> last clip
    done) and the episode's levelling and encoding. As the CLI's watch does, the engine
    is warmed beside the first render; the first edit comes once that is done."""
    src = work / "interview.md"
    vmap = voices.load(ROOT / "voices.yaml")
    engine = engines.create(engine_name, vmap.engine(engine_name).options)
    # As the CLI's watch renders: with previews.
    settings = render.Settings(out_root=work / "out", cache_dir=work / "cache", engine=engine_name, previews=True)
    marks: dict[str, float] = {}

    def seen(event: Event) -> None:
        if event.stage == "audio" and event.kind == "end":
            marks["synthesized"] = time.perf_counter()

    def run(_saved: set[Path]) -> None:
        try:
            render.render(transcript.read(src, vmap.speakers), vmap, engine, settings, seen)
        except Exception as exc:  # the watch goes on, as the CLI's does
            print(f"render failed: {exc}", file=sys.stderr)
        marks["rendered"] = time.perf_counter()

    warming = threading.Thread(target=engine_base.warm, args=(engine,))
    warming.start()
    stop = threading.Event()
    loop = threading.Thread(target=watch.loop, args=([src, ROOT / "voices.yaml"], run), kwargs={"stop": stop})
    loop.start()
    out = settings.out_dir(transcript.read(src, vmap.speakers))
    time.sleep(2.0)  # the first (no-op) render and the watcher are up
    warming.join()
    rows = []
    with serve.running(out) as server:
        parts = urlsplit(server.url)
        for old, new in EDITS:
            # A fresh event stream per edit: nothing of the last edit's is pending in it.
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
            conn.request("GET", "/" + serve.EVENTS_NAME)
            response = conn.getresponse()
            while response.readline().strip():  # the "hello" event
                pass
            text = src.read_text("utf-8")
            tmp = src.with_name(".interview.md.swp")
            assert old in text, "the edited sentence must be in the rendered text"
            tmp.write_text(text.replace(old, new, 1), "utf-8")
            marks.clear()
            saved = time.perf_counter()
            os.replace(tmp, src)  # as an editor saves
            heard = episode = None
            while episode is None:
                if not response.readline().startswith(b"event: manifest"):
                    continue
                now = time.perf_counter()
                listing = json.loads((out / "manifest.json").read_text("utf-8"))
                if heard is None and listing.get("previews"):
                    heard = now
                if any(new in t["text"] for s in listing["sections"] for t in s["turns"]):
                    episode = now
            heard = heard or episode
            conn.close()
            synthesized = marks.get("synthesized", saved)
            rows.append(
                {
                    "sentence_chars": len(sentence_with(new, src.read_text("utf-8"))),
                    "edit_to_ear_s": round(heard - saved, 2),
                    "edit_to_episode_s": round(episode - saved, 2),
                    "synthesis_s": round(synthesized - saved, 2),
                    "episode_s": round(episode - synthesized, 2),
                }
            )
            print(f"{engine_name}: edit-to-ear {rows[-1]}", file=sys.stderr, flush=True)
            while "rendered" not in marks:  # the whole-interview files of this edit are written
                time.sleep(0.1)
            time.sleep(0.5)
    stop.set()
    loop.join()
    return rows


def measure(engine_name: str, sections: int | None) -> dict[str, Any]:
    text = seed_text(sections)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        alone = section_one_alone(base / "alone", text, engine_name)
        print(f"{engine_name}: section 1 alone {alone:.1f} s", file=sys.stderr, flush=True)
        stream_wall, rec = cold_render(base / "stream", text, engine_name, True)
        print(
            f"{engine_name}: streaming {stream_wall:.1f} s, first episode {rec.first_episode} s, "
            f"ETA error {rec.eta_errors(stream_wall)}",
            file=sys.stderr,
            flush=True,
        )
        batch_wall, _ = cold_render(base / "batch", text, engine_name, False)
        print(f"{engine_name}: synthesize-then-assemble {batch_wall:.1f} s", file=sys.stderr, flush=True)
        ear = edit_to_ear(base / "stream", engine_name)
        shutil.rmtree(base / "batch", ignore_errors=True)
    first = rec.first_episode or float("nan")
    return {
        "engine": engine_name,
        "sections": sections or "all",
        "section_1_engine_s": round(alone, 2),
        "first_episode_s": round(first, 2),
        "first_episode_target_s": round(1.2 * alone + 5, 2),
        "stream_wall_s": round(stream_wall, 2),
        "batch_wall_s": round(batch_wall, 2),
        "wall_vs_batch": round(stream_wall / batch_wall - 1, 4),
        "eta_error": rec.eta_errors(stream_wall),
        "edit_to_ear_s": ear[0]["edit_to_ear_s"],
        "edits": ear,
    }


def cold_only(names: list[str], kokoro_sections: int) -> None:
    """A cold streaming render per engine, nothing else: when the first episode was
    playable and the audio bar's ETA error at 10/25/50/75 %."""
    rows = []
    for name in names:
        sections = kokoro_sections if name == "kokoro" and kokoro_sections > 0 else None
        with tempfile.TemporaryDirectory() as tmp:
            wall, rec = cold_render(Path(tmp) / "cold", seed_text(sections), name, True)
        errors = rec.eta_errors(wall, (0.10, 0.25, 0.50, 0.75))
        row = {"engine": name, "sections": sections or "all", "wall_s": round(wall, 1),
               "first_episode_s": round(rec.first_episode or float("nan"), 1), "eta_error": errors}  # fmt: skip
        rows.append(row)
        print(json.dumps(row, ensure_ascii=False), flush=True)
    out = ROOT / "benchmarks" / "results" / "streaming_cold.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, ensure_ascii=False, indent=2) + "\n", "utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engines", default="espeak,kokoro")
    parser.add_argument("--kokoro-sections", type=int, default=4)
    parser.add_argument(
        "--cold-only", action="store_true",
        help="only a cold streaming render per engine (kokoro: --kokoro-sections 0 for the whole seed, "
        "about an hour): first episode and ETA error, into results/streaming_cold.json",
    )  # fmt: skip
    parser.add_argument(
        "--edits-in", type=Path, metavar="DIR",
        help="only edit-to-ear, for the first engine, in DIR as a run of this script left it (interview.md, "
        "out/, cache/: the seed's text restored first, its clips cached); prints the rows",
    )  # fmt: skip
    args = parser.parse_args()
    if args.edits_in is not None:
        name = args.engines.split(",")[0]
        sections = args.kokoro_sections if name == "kokoro" and args.kokoro_sections > 0 else None
        (args.edits_in / "interview.md").write_text(seed_text(sections), "utf-8")
        for row in edit_to_ear(args.edits_in, name):
            print(json.dumps(row, ensure_ascii=False))
        return
    if args.cold_only:
        cold_only(args.engines.split(","), args.kokoro_sections)
        return
    results = []
    for name in args.engines.split(","):
        sections = args.kokoro_sections if name == "kokoro" and args.kokoro_sections > 0 else None
        row = measure(name, sections)
        results.append(row)
        print(json.dumps(row, ensure_ascii=False))
    print()
    print(
        f"{'engine':8} {'sections':>8} {'sec1 alone':>10} {'1st ep':>8} {'target':>8} {'stream':>8} {'batch':>8} "
        f"{'+wall':>7} {'ETA 10/25/50 %':>22} {'edit-to-ear':>11}"
    )
    for r in results:
        eta = "/".join("—" if v is None else f"{v:+.0%}" for v in r["eta_error"].values())
        print(
            f"{r['engine']:8} {r['sections']!s:>8} {r['section_1_engine_s']:>9.1f}s {r['first_episode_s']:>7.1f}s "
            f"{r['first_episode_target_s']:>7.1f}s {r['stream_wall_s']:>7.1f}s {r['batch_wall_s']:>7.1f}s "
            f"{r['wall_vs_batch']:>+7.1%} {eta:>22} {r['edit_to_ear_s']:>10.2f}s"
        )
        for e in r["edits"]:
            print(
                f"  edit of a {e['sentence_chars']}-character sentence: heard (preview) "
                f"after {e['edit_to_ear_s']:.2f} s, "
                f"in its episode after {e['edit_to_episode_s']:.2f} s "
                f"(synthesis {e['synthesis_s']:.2f} s, episode {e['episode_s']:.2f} s)"
            )
    out = ROOT / "benchmarks" / "results" / "streaming.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    # Rows of engines not run this time are kept (an espeak-only run keeps kokoro's figures).
    kept = json.loads(out.read_text("utf-8")) if out.exists() else []
    ran = {r["engine"] for r in results}
    rows = [r for r in kept if r.get("engine") not in ran] + results
    out.write_text(json.dumps(rows, ensure_ascii=False, indent=2) + "\n", "utf-8")


if __name__ == "__main__":
    main()
