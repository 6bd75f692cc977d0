"""Real-time factor of the Kokoro engine under different threading set-ups.

Takes the first N sentences (default 20) of the speakers' turns in
seeds/luo-yonghao-yan-junjie.md, phonemizes them once, then times the model on them:

  1x1    one session, 1 intra-op thread, one worker (baseline)
  1x2    one session, 2 intra-op threads, one worker            (configuration a)
  2x1s   one shared session, 1 intra-op thread, two workers      (configuration b, shared)
  2x1o   two sessions, 1 intra-op thread each, one per worker    (configuration b, own)
  engine KokoroEngine() as shipped, end to end (phonemization included),
         one request per sentence on ``default_jobs`` workers

The four model set-ups run interleaved, a few sentences at a time, so that other load
on a shared machine falls on all of them alike; the load average is recorded too.
RTF here = seconds of audio produced per second of wall time (higher is faster; 2.0
means twice real time). Results go to benchmarks/results/kokoro_rtf.json.

    .venv/bin/python benchmarks/kokoro_rtf.py [--sentences 20] [--configs 1x2,2x1s,engine]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from audio_pipeline.engines.kokoro import SAMPLE_RATE, KokoroEngine, load_vocab  # noqa: E402
from audio_pipeline.engines.kokoro_phonemes import phonemize, split_tokens  # noqa: E402
from audio_pipeline.model import ClipRequest, VoiceSpec  # noqa: E402

SEED = ROOT / "seeds" / "luo-yonghao-yan-junjie.md"
OUT = ROOT / "benchmarks" / "results" / "kokoro_rtf.json"
VOICE = "jf_alpha"
BLOCK = 4  # sentences per interleaved block

_SPEAKER = re.compile(r"^\s*\*\*([^*]+?)\*\*\s*[：:]\s*|^\s*\*\*([^*]+?)[：:]\*\*\s*")
_SENTENCE = re.compile(r"[^。！？!?]+[。！？!?]*")


def turn_sentences(path: Path, limit: int) -> list[str]:
    """The first ``limit`` sentences spoken in turns (narration and headings skipped)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    if lines and lines[0].strip() == "---":
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
        lines = lines[end + 1 :]
    in_turn = False
    sentences: list[str] = []
    for raw in lines:
        line = raw.replace("\u00a0", " ").strip()
        if line.startswith("#"):
            in_turn = False
            continue
        match = _SPEAKER.match(line)
        if match:
            in_turn = True
            line = line[match.end() :]
        if not in_turn or not line:
            continue
        for sentence in _SENTENCE.findall(line.replace("**", "")):
            if sentence.strip():
                sentences.append(sentence.strip())
                if len(sentences) == limit:
                    return sentences
    return sentences


def make_session(model: Path, threads: int) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(str(model), sess_options=opts, providers=["CPUExecutionProvider"])


def infer(session: Any, tokens: list[int], style: np.ndarray) -> int:
    ref = style[min(len(tokens), len(style)) - 1].reshape(1, -1)
    out = session.run(
        None,
        {
            "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
            "style": ref,
            "speed": np.array([1.0], dtype=np.float32),
        },
    )[0]
    return int(np.asarray(out).size)


class Runner:
    """One threading set-up: sessions built once, then timed block by block."""

    def __init__(self, name: str, model: Path, style: np.ndarray, warm: list[int]) -> None:
        if name not in ("1x1", "1x2", "2x1s", "2x1o"):
            raise SystemExit(f"unknown configuration {name!r}")
        self.name = name
        self.style = style
        threads = 2 if name == "1x2" else 1
        count = 2 if name == "2x1o" else 1
        self.sessions = [make_session(model, threads) for _ in range(count)]
        for session in self.sessions:
            infer(session, warm, style)  # warm-up
        self.workers = 1 if name in ("1x1", "1x2") else 2
        self.local = threading.local()
        self.free = list(self.sessions)
        self.lock = threading.Lock()
        self.pool = ThreadPoolExecutor(self.workers) if self.workers > 1 else None
        self.samples = 0
        self.wall = 0.0

    def _session(self) -> Any:
        if len(self.sessions) == 1:
            return self.sessions[0]
        if not hasattr(self.local, "session"):  # each worker thread keeps its own
            with self.lock:
                self.local.session = self.free.pop()
        return self.local.session

    def _one(self, tokens: list[int]) -> int:
        return infer(self._session(), tokens, self.style)

    def run(self, chunks: Sequence[list[int]]) -> None:
        start = time.perf_counter()
        if self.pool is None:
            self.samples += sum(self._one(c) for c in chunks)
        else:
            self.samples += sum(self.pool.map(self._one, chunks))
        self.wall += time.perf_counter() - start

    def result(self) -> dict[str, float]:
        audio = self.samples / SAMPLE_RATE
        return {"audio_s": round(audio, 2), "wall_s": round(self.wall, 2),
                "rtf": round(audio / self.wall, 3)}


def run_engine(engine: KokoroEngine, sentences: Sequence[str]) -> dict[str, float]:
    spec = VoiceSpec("kokoro", VOICE)
    requests = [ClipRequest(spec, ((s,),), engine.version) for s in sentences]
    engine.synthesize(requests[0])  # warm-up: loads the session
    start = time.perf_counter()
    with ThreadPoolExecutor(engine.default_jobs) as pool:
        clips = list(pool.map(engine.synthesize, requests))
    wall = time.perf_counter() - start
    audio = sum(len(c.audio) for c in clips) / 1000
    return {"audio_s": round(audio, 2), "wall_s": round(wall, 2), "rtf": round(audio / wall, 3),
            "jobs": engine.default_jobs, "threads": engine.threads}


def report(name: str, result: dict[str, float]) -> None:
    print(
        f"{name:>7}: {result['audio_s']:7.1f}s audio in {result['wall_s']:6.1f}s"
        f"  RTF {result['rtf']:.2f}x",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sentences", type=int, default=20)
    parser.add_argument("--configs", default="1x1,1x2,2x1s,2x1o,engine")
    args = parser.parse_args()

    import onnxruntime

    engine = KokoroEngine()
    sentences = turn_sentences(SEED, args.sentences)
    vocab = load_vocab(engine.vocab_path)
    style = engine.style(VOICE)

    start = time.perf_counter()
    chunks = [c for s in sentences for c in split_tokens(phonemize(s), vocab)]
    phonemize_s = time.perf_counter() - start

    results: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "onnxruntime": onnxruntime.__version__,
            "load_average_before": [round(x, 2) for x in os.getloadavg()],
        },
        "model": str(engine.model_path),
        "engine_version": engine.version,
        "voice": VOICE,
        "sentences": len(sentences),
        "characters": sum(len(s) for s in sentences),
        "model_calls": len(chunks),
        "phonemize_s": round(phonemize_s, 2),
        "configs": {},
    }
    print(f"{len(sentences)} sentences, {len(chunks)} model calls, phonemized in {phonemize_s:.2f}s")
    names = [n.strip() for n in args.configs.split(",") if n.strip()]
    runners = [Runner(n, engine.model_path, style, chunks[0]) for n in names if n != "engine"]
    # Interleave the set-ups block by block (rotating their order), so that load from
    # other processes on a shared machine hits every set-up alike.
    blocks = [chunks[i : i + BLOCK] for i in range(0, len(chunks), BLOCK)]
    for number, block in enumerate(blocks):
        shift = number % max(1, len(runners))
        for runner in runners[shift:] + runners[:shift]:
            runner.run(block)
    for runner in runners:
        results["configs"][runner.name] = runner.result()
        report(runner.name, runner.result())
    if "engine" in names:
        results["configs"]["engine"] = run_engine(engine, sentences)
        report("engine", results["configs"]["engine"])
    results["machine"]["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
