"""A real-world-shaped English transcript through the whole pipeline (stand-in engine,
real ffmpeg, files read back): nothing but speech is spoken, shown or named."""

from __future__ import annotations

import json
import re
from pathlib import Path

from mutagen.id3 import ID3

from audio_pipeline import render, synth, transcript, voices

from .conftest import VOICES
from .fakes import ToneEngine

TEXT = """# The Data Show

## [00:00:00] The Data Show

[00:00:03] **Ann:** Welcome to the meetup.
Three people came. (laughs)

[00:00:09] **Bob:** [crosstalk] Thanks for having me.

| minute | topic |
|---|---|
| 0 | hello |

## [00:01:02] Nathan Lambert intro

**Ann** [00:01:05]: Nathan, tell us. [inaudible 00:01:07] Go on.

**Bob:** Sure.
"""
STAMP = re.compile(r"\d{1,2}:\d{2}")


def test_english_transcript_renders_speech_only(tmp_path: Path) -> None:
    src = tmp_path / "show.md"
    src.write_text(TEXT, "utf-8")
    vmap = voices.load(VOICES)
    parsed = transcript.read(src, vmap.speakers)
    engine = ToneEngine()
    result = render.render(parsed, vmap, engine, render.Settings(out_root=tmp_path / "out", engine="espeak"))

    # The title is read once: section 1 has the same name, so its heading is not read again.
    jobs = synth.jobs_for(parsed, vmap, "espeak", engine.version)
    assert [(j.section, j.turn, j.request.text) for j in jobs if j.turn is None] == [
        (0, None, "The Data Show"),
        (2, None, "Nathan Lambert intro"),
    ]
    spoken = "\n".join(engine.calls)
    assert not STAMP.search(spoken)
    for never in ("laughs", "crosstalk", "inaudible", "minute", "hello", "**", "["):
        assert never not in spoken

    manifest = json.loads((result.out_dir / "manifest.json").read_text("utf-8"))
    texts = [t["text"] for s in manifest["sections"] for t in s["turns"] if not t["heading"]]
    assert texts == [
        "Welcome to the meetup. Three people came.",
        "Thanks for having me.",
        "Nathan, tell us.\nGo on.",
        "Sure.",
    ]
    names = [p.name for p in result.out_dir.rglob("*.mp3")]
    assert names and not [n for n in names if STAMP.search(n) or "00" in n.split("-", 1)[-1]]
    episode = next(p for p in result.out_dir.rglob("*.mp3") if "nathan" in p.name.lower())
    tags = ID3(episode)
    assert str(tags["TIT2"]) == "Nathan Lambert intro"
    page_and_feed = (result.out_dir / "index.html").read_text("utf-8") + (result.out_dir / "feed.xml").read_text(
        "utf-8"
    )
    assert "meetup.Three" not in page_and_feed
    assert "00:01:02" not in page_and_feed
