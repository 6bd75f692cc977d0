"""What a render survives: kill -9 at any moment, and a table of bad inputs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from audio_pipeline.cache import ClipCache
from audio_pipeline.cli import main

from .conftest import VOICES

TALK = "---\ntitle: 可靠性\n---\n" + "".join(
    f"## 第{s}节\n\n"
    + "".join(
        f"**{'罗永浩' if t % 2 else '闫俊杰'}**："
        f"这是第{s}节的第{t}段话，内容用来测试中断以后能否继续。我们再说一句。\n\n"
        for t in range(6)
    )
    for s in range(1, 5)
)
ROOT = Path(__file__).resolve().parent.parent


def _render(folder: Path, out: str) -> subprocess.Popen[bytes]:
    """A render in a child process, with the deterministic stand-in engine (espeak-ng
    itself is not bit-reproducible across processes: its wave generator keeps state)."""
    return subprocess.Popen(
        [sys.executable, "-m", "tests.fakes", str(folder / out), str(folder / "talk.md"), str(folder / "voices.yaml")],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _audio_files(out: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(out)): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.suffix in (".mp3", ".m4b", ".vtt", ".srt") and ".parts" not in p.parts
    }


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "talk.md").write_text(TALK, "utf-8")
    (tmp_path / "voices.yaml").write_text(VOICES.read_text("utf-8"), "utf-8")
    return tmp_path


def test_kill_9_anywhere_then_resume_gives_identical_files(folder: Path) -> None:
    reference = _render(folder, "ref")
    assert reference.wait(timeout=300) == 0
    expected = _audio_files(folder / "ref" / "talk")
    assert len(expected) == 4 * 3 + 4  # episodes (mp3, vtt, srt) + whole (mp3, m4b, vtt, srt)

    cache = ClipCache(folder / "out" / ".cache" / "clips")
    # Kill points: during synthesis (some clips cached), during assembly (episodes
    # appearing), and late (whole-interview files being written).
    for condition in (
        lambda: len(list(cache.keys())) >= 5,
        lambda: any((folder / "out" / "talk" / "episodes").glob("*.mp3")),
        lambda: (folder / "out" / "talk" / "talk.mp3").exists() or any((folder / "out" / "talk").glob(".*.part")),
    ):
        proc = _render(folder, "out")
        deadline = time.monotonic() + 120
        while proc.poll() is None and not condition() and time.monotonic() < deadline:
            time.sleep(0.01)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        # Whatever is in the cache must read back whole.
        for key in list(cache.keys()):
            assert cache.get(key) is not None, key
    final = _render(folder, "out")
    assert final.wait(timeout=300) == 0
    assert _audio_files(folder / "out" / "talk") == expected
    # No temporary file left in the output folder; a killed clip write may leave one in
    # the shared cache, which is never read as an entry and is swept by `cache prune`.
    assert list((folder / "out" / "talk").rglob("*.part")) == []
    assert sorted(cache.keys()) == sorted(ClipCache(folder / "ref" / ".cache" / "clips").keys())


GOOD_VOICES = VOICES.read_text("utf-8")
GOOD_TALK = "## 一\n\n**罗永浩**：你好。\n"


@pytest.mark.parametrize(
    ("talk", "voices_text", "needle"),
    [
        (b"", GOOD_VOICES, "talk.md: nothing speakable"),
        (bytes(range(256)) * 8, GOOD_VOICES, "talk.md:1: binary file"),
        (b"## S\n\n**A:** caf\xe9\n", GOOD_VOICES, "talk.md:3: not UTF-8"),
        (b"---\ntitle: x\n\n## S\n\n**A:** hi\n", GOOD_VOICES, "talk.md:1: front matter"),
        (b"---\ntitle: [x\n---\n**A:** hi\n", GOOD_VOICES, "talk.md:2: invalid YAML"),
        (b"---\na: 1\na: 2\n---\n**A:** hi\n", GOOD_VOICES, "talk.md:3: a: duplicate key"),
        (b"---\na: !!python/object/apply:os.system [id]\n---\n**A:** hi\n", GOOD_VOICES, "talk.md:2: a: YAML tag"),
        (b"## S\n\n\xe2\x80\xa6\xe2\x80\xa6\n", GOOD_VOICES, "talk.md: nothing speakable"),
        (b"---\n- a\n- b\n---\n## S\n\n**A:** hi\n", GOOD_VOICES, "talk.md:2: front matter must be a mapping"),
        (GOOD_TALK.encode(), "", "voices.yaml: engines.espeak: no voices configured"),
        (GOOD_TALK.encode(), "engines: [\n", "voices.yaml:2: invalid YAML"),
        (GOOD_TALK.encode(), GOOD_VOICES + "read_title: false\n", "read_title: duplicate key"),
        (GOOD_TALK.encode(), "engines: !!python/object/new:os.system [id]\n", "voices.yaml:1: engines: YAML tag"),
        (GOOD_TALK.encode(), GOOD_VOICES.replace("cmn+f3", "xx+nobody"), "unknown espeak-ng language 'xx'"),
        (GOOD_TALK.encode(), GOOD_VOICES.replace('pitch: "-10Hz"', 'pitch: "low"'), "pitch: 'low' is not like '+5Hz'"),
        (GOOD_TALK.encode(), GOOD_VOICES.replace('rate: "+8%"', 'rate: "8"'), "rate: '8' is not like '+10%'"),
        (GOOD_TALK.encode(), GOOD_VOICES.replace("read_title: true", "read_title: 3"), "must be true or false"),
        (GOOD_TALK.encode(), GOOD_VOICES + "volume: 3\n", "volume: unknown key"),
        (GOOD_TALK.encode(), b"\xff\xfe".decode("latin-1"), "voices.yaml:1: not UTF-8"),
    ],
)
def test_bad_input_exit_2_one_line_nothing_written(
    folder: Path, monkeypatch: pytest.MonkeyPatch, talk: bytes, voices_text: str, needle: str
) -> None:
    monkeypatch.chdir(folder)
    (folder / "talk.md").write_bytes(talk)
    (folder / "voices.yaml").write_bytes(voices_text.encode("latin-1" if "\xff" in voices_text else "utf-8"))
    before = sorted(p.name for p in folder.iterdir())
    result = CliRunner().invoke(main, ["render", "talk.md", "--engine", "espeak"])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert needle in lines[0]
    assert "Traceback" not in result.output
    assert sorted(p.name for p in folder.iterdir()) == before  # nothing written, no output folder
