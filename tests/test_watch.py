"""render --watch: a real file edited on disk, a bad edit reported without stopping."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

from audio_pipeline import watch
from audio_pipeline.cli import render as cli_render

from .conftest import VOICES

TALK = "# Talk\n\n## One\n\n**罗永浩**：你好。\n\n**闫俊杰**：谢谢。\n"


def wait_for(condition: object, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def save(path: Path, text: str) -> None:
    """As editors do: write a new file, rename it over the old one."""
    tmp = path.with_name(path.name + ".swp~")
    tmp.write_text(text, "utf-8")
    os.replace(tmp, path)


def test_changes_yields_only_the_watched_files(tmp_path: Path) -> None:
    a, b, other = tmp_path / "a.md", tmp_path / "voices.yaml", tmp_path / "other.txt"
    for p in (a, b, other):
        p.write_text("x", "utf-8")
    stop = threading.Event()
    seen: list[set[Path]] = []

    def consume() -> None:
        for saved in watch.changes([a, b], stop=stop, debounce_ms=50):
            seen.append(saved)

    thread = threading.Thread(target=consume)
    thread.start()
    time.sleep(0.5)
    other.write_text("y", "utf-8")
    save(a, "edited")
    wait_for(lambda: seen)
    stop.set()
    thread.join(5)
    assert seen[0] == {a}


def test_a_save_during_the_first_render_is_rendered_after_it(tmp_path: Path) -> None:
    """The watch is in place before the first render: a save made while it runs (a cold
    render can take an hour) is rendered when it ends."""
    a = tmp_path / "a.md"
    a.write_text("x", "utf-8")
    runs: list[set[Path]] = []
    stop = threading.Event()

    def run(saved: set[Path]) -> None:
        runs.append(saved)
        if len(runs) == 1:
            save(a, "edited while rendering")
            time.sleep(1.0)  # the render goes on; the watch sees the save meanwhile

    thread = threading.Thread(target=watch.loop, args=([a], run), kwargs={"stop": stop, "debounce_ms": 50})
    thread.start()
    try:
        wait_for(lambda: len(runs) >= 2, 10)
    finally:
        stop.set()
        thread.join(5)
    assert runs[:2] == [{a}, {a}] and not thread.is_alive()


def test_render_watch_rerenders_and_survives_a_bad_edit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "voices.yaml").write_text(VOICES.read_text("utf-8"), "utf-8")
    talk = tmp_path / "talk.md"
    talk.write_text(TALK, "utf-8")
    stop = threading.Event()
    args = ((str(talk),), None, "espeak", "output", None, None, None, None)
    thread = threading.Thread(
        target=cli_render.watch_renders, args=(str(talk), None, lambda: cli_render.render_files(*args), stop)
    )
    thread.start()
    manifest = tmp_path / "output" / "talk" / "manifest.json"
    err = ""

    def said(text: str) -> bool:
        nonlocal err
        err += capsys.readouterr().err
        if text in err:
            err = err[err.index(text) + len(text) :]
            return True
        return False

    try:
        wait_for(lambda: said("watching"), 60)  # the first render is done
        first = manifest.read_bytes()
        time.sleep(0.5)
        save(talk, "---\ntitle: [unclosed\n---\n" + TALK)  # a bad edit
        wait_for(lambda: said("Error:"), 30)
        assert manifest.read_bytes() == first  # the last good outputs stay
        save(talk, TALK.replace("谢谢。", "谢谢你。"))

        def texts() -> list[str]:
            return [t["text"] for s in json.loads(manifest.read_text("utf-8"))["sections"] for t in s["turns"]]

        # (Before its episode, the render may list the edit as a preview.)
        wait_for(lambda: "谢谢你。" in texts(), 60)
    finally:
        stop.set()
        thread.join(30)
    assert not thread.is_alive()


def test_watched_renders_warm_the_engine_beside_the_render(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A watch loads the engine's model while it renders, so the first edit does not wait
    for it; a failing warm-up is left to the render to report."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "voices.yaml").write_text(VOICES.read_text("utf-8"), "utf-8")
    talk = tmp_path / "talk.md"
    talk.write_text(TALK, "utf-8")
    warmed: list[str] = []
    done = threading.Event()

    def fake_warm(engine: object) -> None:
        warmed.append(type(engine).__name__)
        done.set()
        raise RuntimeError("the model is missing")  # swallowed: the render reports its own errors

    monkeypatch.setattr(cli_render, "warm_engine", fake_warm)
    args = ((str(talk),), None, "espeak", "output", None, None, None, None)
    cli_render.render_files(*args)
    assert not done.wait(0.5)  # a plain render does not
    cli_render.render_files(*args, warm=True)
    assert done.wait(10) and warmed == ["EspeakEngine"]
    # A watched render also previews an edit's new clip (it stays until the next render
    # ends); a plain render does not.
    previews = tmp_path / "output" / "talk" / "previews"
    talk.write_text(TALK.replace("谢谢。", "谢谢你。"), "utf-8")
    cli_render.render_files(*args, warm=True)
    assert len(list(previews.iterdir())) == 1
    talk.write_text(TALK.replace("谢谢。", "多谢。"), "utf-8")
    cli_render.render_files(*args)
    assert not previews.exists()
