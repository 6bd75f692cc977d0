"""How the seed's speakers' Kokoro voices say the Latin words of the seed.

    .venv/bin/python benchmarks/latin_terms.py [--min-count 1]

Every Latin word (or model name like GPT-3.5) of the seed is put in a short Chinese
carrier sentence, spoken (through the shipped voices.yaml and lexicon, as `render`
would) by 罗永浩's and 闫俊杰's voices, and heard back by `check`'s recognizer. Prints
the words heard wrong by either voice: candidates for the lexicon in voices.yaml.
Results: benchmarks/results/latin_terms.json.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from audio_pipeline import engines, text, voices  # noqa: E402
from audio_pipeline.cache import ClipCache  # noqa: E402
from audio_pipeline.check import listen, recognizer  # noqa: E402
from audio_pipeline.check.heard import ResultCache  # noqa: E402
from audio_pipeline.model import ClipRequest, Job  # noqa: E402

SEED = ROOT / "seeds" / "luo-yonghao-yan-junjie.md"
RESULTS = ROOT / "benchmarks" / "results" / "latin_terms.json"
WORD = re.compile(r"(?<![A-Za-z0-9])[A-Za-z][A-Za-z0-9.+&]*(?:-[0-9.]+[A-Za-z]*)?(?![A-Za-z])")
CARRIER = "我们今天说的是{}这件事。"
SKIP = {"title", "created", "tags", "to", "for"}  # front matter keys and stray English


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--min-count", type=int, default=1)
    args = parser.parse_args()
    body = SEED.read_text("utf-8").split("---", 2)[-1]
    counts = collections.Counter(m.group(0).rstrip(".") for m in WORD.finditer(body))
    words = sorted(w for w, n in counts.items() if n >= args.min_count and w.lower() not in SKIP and len(w) > 1)
    vmap = voices.load(ROOT / "voices.yaml")
    engine = engines.create("kokoro", vmap.engine("kokoro").options)
    zh = vmap.engine("kokoro").languages["zh"]
    specs = [engine.resolve(zh.speakers[name]) for name in ("罗永浩", "闫俊杰")]
    listener = recognizer.WhisperListener()
    report: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        cache = ClipCache(tmp)
        jobs = []
        for word in words:
            spoken, shown = text.prepare([CARRIER.format(word)], vmap.lexicon)
            for spec in specs:
                request = ClipRequest(spec, spoken, engine.version_for(spec))
                cache.put(request.key, engine.synthesize(request))
                jobs.append(Job(1, 0, 1, spec.voice, request, shown))
        checks = listen.check_jobs(jobs, cache, listener, ResultCache(Path(tmp) / "heard"))
    for word, pair in zip(words, zip(checks[::2], checks[1::2], strict=True), strict=True):
        bad = {c.job.request.spec.voice: c.heard or "" for c in pair if c.score and c.score.error_rate > 0}
        if bad:
            report[word] = bad
    RESULTS.write_text(json.dumps({"words": words, "misheard": report}, ensure_ascii=False, indent=2) + "\n", "utf-8")
    print(f"{len(words)} words, {len(report)} misheard by at least one voice:")
    for word, heard in report.items():
        print(f"  {word:14} " + " | ".join(f"{voice}: {h}" for voice, h in heard.items()))


if __name__ == "__main__":
    main()
