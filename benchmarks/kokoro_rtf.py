"""Real-time factor of the Kokoro engine under different threading set-ups.

Takes the first N sentences (default 20) of the speakers' turns in
seeds/luo-yonghao-yan-junjie.md, phonemizes them once, then times the model on them:

  1x1    one session, 1 intra-op thread, one worker (baseline)
  1x2    one session, 2 intra-op threads, one worker            (configuration a)
  2x1s   one shared session, 1 intra-op thread, two workers      (configuration b, shared)
  2x1o   two sessions, 1 intra-op thread each, one per worker    (configuration b, own)
  engine KokoroEngine() as shipped, end to end (phonemization included),
         one request per sentence on ``default_jobs`` workers

RTF here = seconds of audio produced per second of wall time (higher is faster; 2.0
means twice real time). Results go to benchmarks/results/kokoro_rtf.json.

    .venv/bin/python benchmarks/kokoro_rtf.py [--sentences 20] [--configs 1x2,2x1s]
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
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from audio_pipeline.engines.kokoro import (  # noqa: E402
    SAMPLE_RATE,
    KokoroEngine,
    load_vocab,
    phonemize,
    split_tokens,
)
from audio_pipeline.model import ClipRequest, VoiceSpec  # noqa: E402

SEED = ROOT / "seeds" / "luo-yonghao-yan-junjie.md"
OUT = ROOT / "benchmarks" / "results" / "kokoro_rtf.json"
VOICE = "jf_alpha"

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


def timed(work: Callable[[], int]) -> dict[str, float]:
    start = time.perf_counter()
    samples = work()
    wall = time.perf_counter() - start
    audio = samples / SAMPLE_RATE
    return {"audio_s": round(audio, 2), "wall_s": round(wall, 2), "rtf": round(audio / wall, 3)}


def run_config(
    name: str, model: Path, chunks: Sequence[list[int]], style: np.ndarray
) -> dict[str, float]:
    if name in ("1x1", "1x2"):
        session = make_session(model, 2 if name == "1x2" else 1)
        infer(session, chunks[0], style)  # warm-up
        return timed(lambda: sum(infer(session, c, style) for c in chunks))
    if name == "2x1s":
        session = make_session(model, 1)
        infer(session, chunks[0], style)
        with ThreadPoolExecutor(2) as pool:
            return timed(lambda: sum(pool.map(lambda c: infer(session, c, style), chunks)))
    if name == "2x1o":
        sessions = [make_session(model, 1) for _ in range(2)]
        for s in sessions:
            infer(s, chunks[0], style)
        local = threading.local()
        free = list(sessions)
        lock = threading.Lock()

        def work(c: list[int]) -> int:
            if not hasattr(local, "session"):
                with lock:
                    local.session = free.pop()
            return infer(local.session, c, style)

        with ThreadPoolExecutor(2) as pool:
            return timed(lambda: sum(pool.map(work, chunks)))
    raise SystemExit(f"unknown configuration {name!r}")


def run_engine(engine: KokoroEngine, sentences: Sequence[str]) -> dict[str, float]:
    spec = VoiceSpec("kokoro", VOICE)
    requests = [ClipRequest(spec, ((s,),), engine.version) for s in sentences]
    engine.synthesize(requests[0])  # warm-up: loads the session

    def work() -> int:
        with ThreadPoolExecutor(engine.default_jobs) as pool:
            clips = list(pool.map(engine.synthesize, requests))
        return sum(round(len(c.audio) * SAMPLE_RATE / 1000) for c in clips)

    result = timed(work)
    result["jobs"] = engine.default_jobs
    result["threads"] = engine.threads
    return result


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
    for name in args.configs.split(","):
        name = name.strip()
        if name == "engine":
            result = run_engine(engine, sentences)
        else:
            result = run_config(name, engine.model_path, chunks, style)
        results["configs"][name] = result
        print(
            f"{name:>7}: {result['audio_s']:7.1f}s audio in {result['wall_s']:6.1f}s"
            f"  RTF {result['rtf']:.2f}x",
            flush=True,
        )
    results["machine"]["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
