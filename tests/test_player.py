"""index.html, the static web player: unit checks, then a real headless Chromium.

The browser tests drive Debian's ``chromium`` with Playwright (the pip package
only; its own browser download is never used). Without chromium or
playwright they are skipped, unless ``CI`` is set: CI installs both, so there
a missing browser is a failure.
"""

from __future__ import annotations

import contextlib
import functools
import html
import http.server
import io
import json
import os
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from audio_pipeline.export.feed import write_feed
from audio_pipeline.export.player import render_player, script_json, write_player

from .test_feed import make_interview, typed

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, ConsoleMessage, Dialog, Error, Page

CHROMIUM_ENV = "AUDIO_PIPELINE_CHROMIUM"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
WAIT_MS = 10_000
SECONDS = 4.0  # per episode; turns at 0, 0.8, 1.6, 2.8 s


def embedded(page_html: str, element_id: str) -> Any:
    match = re.search(rf'<script type="application/json" id="{element_id}">(.*?)</script>', page_html, re.S)
    assert match, element_id
    return json.loads(match.group(1))


# --------------------------------------------------------------------------- no browser


def test_manifest_is_embedded_safely(tmp_path: Path) -> None:
    manifest = make_interview(tmp_path, sections=1, whole=False)
    nasty = 'a</script><script>alert("x")</script><!-- & \u2028 \'"'
    manifest["title"] = nasty
    manifest["sections"][0]["turns"][1]["text"] = nasty
    page = render_player(typed(manifest))
    assert page.count("</script>") == 3  # manifest, config, and the code itself
    assert "<!--" not in page.split('id="manifest">', 1)[1].split("</script>", 1)[0]
    assert embedded(page, "manifest") == manifest
    assert f"<title>{html.escape(nasty)}</title>" in page
    assert script_json({"k": "</SCRIPT>"}) == '{"k":"\\u003c/SCRIPT\\u003e"}'


def test_write_player_is_deterministic_and_lazy(tmp_path: Path) -> None:
    manifest = make_interview(tmp_path, sections=2)
    path = write_player(tmp_path, typed(manifest))
    assert path == tmp_path / "index.html"
    first = path.read_bytes()
    config = embedded(first.decode("utf-8"), "player-config")
    assert config["feed"] is None  # no feed.xml yet
    assert "luo-yonghao-yan-junjie.m4b" not in config["present"]  # not rendered in this fixture
    assert "luo-yonghao-yan-junjie.mp3" in config["present"]
    old = 1_600_000_000
    os.utime(path, (old, old))
    assert write_player(tmp_path, typed(manifest)).read_bytes() == first
    assert path.stat().st_mtime == old
    write_feed(tmp_path, typed(manifest), base_url=None)
    write_player(tmp_path, typed(manifest))
    assert embedded(path.read_text("utf-8"), "player-config")["feed"] == "feed.xml"
    assert path.stat().st_mtime != old
    assert '<html lang="zh-cn">' in path.read_text("utf-8")
    assert not re.search(r"\b(?:src|href)=\"(?:https?:)?//", path.read_text("utf-8"))  # nothing remote


# --------------------------------------------------------------------------- browser fixtures


def find_chromium() -> str | None:
    override = os.environ.get(CHROMIUM_ENV)
    if override:
        return override if Path(override).is_file() else None
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so the browser tests must run)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the 'playwright' pip package is not installed (pip install -e '.[dev]')")
        raise AssertionError("unreachable") from None
    exe = find_chromium()
    if exe is None:
        unavailable(f"no chromium binary (apt-get install -y chromium, or set ${CHROMIUM_ENV})")
        raise AssertionError("unreachable")
    profile = tmp_path_factory.mktemp("chromium-profile")
    home = tmp_path_factory.mktemp("chromium-home")
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=exe,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 375, "height": 800},
            env={**os.environ, "HOME": str(home)},
        )
        try:
            yield context
        finally:
            context.close()


class Console:
    """Console errors, uncaught exceptions and dialogs of one page."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", self._uncaught)
        page.on("dialog", self._dialog)

    def _console(self, msg: ConsoleMessage) -> None:
        if msg.type == "error":
            self.errors.append(f"console.error: {msg.text} ({msg.location})")

    def _uncaught(self, exc: Error) -> None:
        self.errors.append(f"uncaught: {exc}")

    def _dialog(self, dialog: Dialog) -> None:
        self.errors.append(f"dialog: {dialog.message}")
        dialog.dismiss()


@pytest.fixture
def page(browser: BrowserContext) -> Iterator[Page]:
    page = browser.new_page()
    page.set_default_timeout(WAIT_MS)
    try:
        yield page
    finally:
        page.close()


@pytest.fixture
def site(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    """An output folder with a CJK name and a space, three 4-second episodes and the whole MP3."""
    out = tmp_path / "输出 folder" / "luo-yonghao-yan-junjie"
    manifest = make_interview(out, seconds=SECONDS)
    from audio_pipeline.export import cover

    art = cover.prepare(out / ".parts", manifest["title"], ("闫俊杰", "罗永浩"))
    (out / cover.file_name(art.key)).write_bytes(art.feed.read_bytes())
    manifest["cover"] = {"image": cover.file_name(art.key), "key": art.key, "generated": True}
    write_feed(out, typed(manifest), base_url=None)
    write_player(out, typed(manifest))
    return out, manifest


def whole_starts(manifest: dict[str, Any]) -> list[int]:
    """Start (ms) of every turn in the whole MP3, in transcript order."""
    chapters = {c["index"]: c["start_ms"] for c in manifest["whole"]["chapters"]}
    return [chapters[s["index"]] + t["start_ms"] for s in manifest["sections"] for t in s["turns"]]


def current_time(page: Page) -> float:
    return float(page.evaluate("document.getElementById('audio').currentTime"))


def wait_ready(page: Page) -> None:
    page.wait_for_function("document.getElementById('audio').readyState >= 1")


def current_indices(page: Page) -> list[int]:
    return [int(i) for i in page.eval_on_selector_all(".turn.current", "els => els.map(e => e.dataset.index)")]


# --------------------------------------------------------------------------- browser tests


def test_player_over_file_url(page: Page, site: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    out, manifest = site
    console = Console(page)
    page.goto((out / "index.html").as_uri())
    wait_ready(page)

    # Structure and accessible names; the cover is shown (and loads).
    assert page.title() == manifest["title"]
    page.wait_for_function("document.getElementById('cover').complete")
    assert page.evaluate("document.getElementById('cover').naturalWidth") == 3000
    options = page.eval_on_selector_all("#track option", "els => els.map(e => e.value)")
    assert options == ["whole", "episode-1", "episode-2", "episode-3"]
    assert page.evaluate("document.getElementById('track').labels.length") == 1
    assert page.get_attribute("#audio", "aria-label")
    turns = page.locator(".turn")
    starts = whole_starts(manifest)
    assert turns.count() == len(starts) == 12
    for i in range(turns.count()):
        turn = turns.nth(i)
        assert turn.get_attribute("role") == "button" and turn.get_attribute("tabindex") == "0"
        assert int(turn.get_attribute("data-start") or -1) == starts[i]
    assert page.locator("h2 .turn.heading").count() == 3  # headings read aloud are the section headings
    assert page.locator(".turn.narrator").count() == 3
    assert "旁白" not in page.inner_text("#turns")
    assert page.locator(".turn .who").first.inner_text().startswith("闫俊杰")

    # Playback starts and time advances.
    page.evaluate("document.getElementById('audio').play()")
    page.wait_for_function("document.getElementById('audio').currentTime > 0.2")
    assert page.evaluate("document.getElementById('audio').paused") is False

    # Clicking a turn seeks to its start and highlights it.
    target = 6  # section 2, 闫俊杰
    page.click(f".turn[data-index='{target}']")
    t = current_time(page)
    assert starts[target] / 1000 <= t < starts[target] / 1000 + 0.6, t
    assert current_indices(page) == [target]
    assert page.get_attribute(f".turn[data-index='{target}']", "aria-current") == "true"
    page.evaluate("document.getElementById('audio').pause()")

    # Setting currentTime elsewhere moves the highlight and scrolls the turn into view.
    other = 11  # section 3, 罗永浩
    page.evaluate(f"document.getElementById('audio').currentTime = {(starts[other] + 300) / 1000}")
    page.wait_for_function(f"document.querySelector(\".turn[data-index='{other}']\").classList.contains('current')")
    assert current_indices(page) == [other]
    assert page.locator(f".turn[data-index='{target}']").get_attribute("aria-current") is None
    page.wait_for_function(
        f"""(() => {{ const r = document.querySelector(".turn[data-index='{other}']").getBoundingClientRect();
            return r.top >= 0 && r.bottom <= window.innerHeight; }})()"""
    )

    # Chapter list (closed on a narrow screen): a click seeks to the section.
    page.click("#chapters-box > summary")
    chapter_buttons = page.locator("#chapters button")
    assert chapter_buttons.count() == 3
    chapter_buttons.nth(1).click()
    assert abs(current_time(page) - manifest["whole"]["chapters"][1]["start_ms"] / 1000) < 0.6
    assert chapter_buttons.nth(1).get_attribute("aria-current") == "true"
    page.evaluate("document.getElementById('audio').pause()")

    # Keyboard: Tab reaches the turns; Enter plays from the focused one; j/k step.
    page.focus("#follow")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.dataset.index") == "0"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.dataset.index") == "1"
    page.keyboard.press("Enter")
    assert abs(current_time(page) - starts[1] / 1000) < 0.6
    assert current_indices(page) == [1]
    page.evaluate("document.getElementById('audio').pause()")
    page.keyboard.press("j")
    assert current_indices(page) == [2]
    assert abs(current_time(page) - starts[2] / 1000) < 0.05
    assert page.evaluate("document.activeElement.dataset.index") == "2"  # focus follows
    page.keyboard.press("k")
    page.keyboard.press("k")
    assert current_indices(page) == [0]
    assert current_time(page) < 0.05
    page.keyboard.press(" ")  # Space on a turn: play from it
    page.wait_for_function("!document.getElementById('audio').paused")
    page.evaluate("document.activeElement.blur()")
    page.keyboard.press(" ")  # Space elsewhere: play/pause
    assert page.evaluate("document.getElementById('audio').paused") is True
    before = current_time(page)
    page.keyboard.press("ArrowRight")
    assert abs(current_time(page) - (before + 5)) < 0.05
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    assert abs(current_time(page) - max(0.0, before - 5)) < 0.05
    page.keyboard.press(" ")
    page.wait_for_function("!document.getElementById('audio').paused")
    page.evaluate("document.getElementById('audio').pause()")

    # Switching to an episode: its audio, its turns as chapters, its own times.
    page.select_option("#track", "episode-2")
    wait_ready(page)
    src = page.evaluate("document.getElementById('audio').src")
    assert src.endswith("/episodes/02-%E4%BA%BA%E6%89%8D%E4%B8%8E%E7%BB%84%E7%BB%87.mp3")
    assert page.evaluate("location.hash") == "#episode-2"
    section = manifest["sections"][1]
    assert page.locator(".turn").count() == len(section["turns"])
    assert page.locator("#chapters button").count() == len(section["turns"])
    page.click(".turn[data-index='3']")
    assert section["turns"][3]["start_ms"] / 1000 <= current_time(page) < section["turns"][3]["start_ms"] / 1000 + 0.6
    assert current_indices(page) == [3]
    page.evaluate("document.getElementById('audio').pause()")
    links = page.eval_on_selector_all("#downloads a", "els => els.map(e => e.getAttribute('href'))")
    assert "feed.xml" in links and any(link.endswith(".chapters.json") for link in links)

    # Back to the whole interview: playback resumes at the same moment of it.
    position = current_time(page)
    page.select_option("#track", "whole")
    expected = manifest["whole"]["chapters"][1]["start_ms"] / 1000 + position
    page.wait_for_function(
        f"Math.abs(document.getElementById('audio').currentTime - {expected}) < 0.05"
        " && document.getElementById('audio').readyState >= 1"
    )
    # The highlight follows on the next timeupdate: wait for it rather than race it.
    page.wait_for_function(
        "[...document.querySelectorAll('.turn.current')].map(e => e.dataset.index).join() === '7'"
    )
    assert current_indices(page) == [4 + 3]

    # Readable at 375 px: no sideways scrolling; screenshot for a human look.
    page.evaluate("window.scrollTo(0, 0)")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    shot = tmp_path / "player-375x800.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
    assert console.errors == []


def test_deep_link_and_partial_render(page: Page, tmp_path: Path) -> None:
    """``#episode-N`` opens that episode; a render without the whole MP3 still works; text stays text."""
    out = tmp_path / "partial"
    manifest = make_interview(out, seconds=2.0, sections=2, whole=False)
    manifest["title"] = 'Talk </script><img src=x onerror=alert(1)> "quoted"'
    manifest["sections"][0]["turns"][0].update(text="Part one", heading=True)  # flagged by the renderer
    manifest["sections"][1]["turns"][0]["heading"] = False
    write_player(out, typed(manifest))
    console = Console(page)
    page.goto((out / "index.html").as_uri() + "#episode-2")
    wait_ready(page)
    assert page.input_value("#track") == "episode-2"
    assert page.eval_on_selector_all("#track option", "els => els.map(e => e.value)") == ["episode-1", "episode-2"]
    assert page.inner_text("#title") == manifest["title"]
    assert page.locator("img").count() == 0
    assert page.get_attribute("html", "lang") == "en"
    assert page.locator("h2 .turn.heading").count() == 0  # episode 2's first turn is not a heading
    assert page.locator("#turns h2").first.inner_text() == manifest["sections"][1]["title"]
    page.select_option("#track", "episode-1")
    assert page.locator("h2 .turn.heading").count() == 1
    assert page.locator("h2 .turn.heading").inner_text().startswith(manifest["sections"][0]["title"])
    page.click(".turn[data-index='2']")
    assert current_indices(page) == [2]
    page.evaluate("document.getElementById('audio').pause()")
    assert console.errors == []


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with byte ranges, as every real static host serves them (media seeking needs it)."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def end_headers(self) -> None:
        self.send_header("Accept-Ranges", "bytes")
        super().end_headers()

    def send_head(self) -> Any:
        path = self.translate_path(self.path)
        match = re.fullmatch(r"bytes=(\d*)-(\d*)", (self.headers.get("Range") or "").strip())
        if not match or not os.path.isfile(path) or match.group(1) == match.group(2) == "":
            return super().send_head()
        size = os.path.getsize(path)
        first, last = match.groups()
        start = int(first) if first else max(0, size - int(last))
        end = min(int(last), size - 1) if first and last else size - 1
        if start > end:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{size}")
            self.end_headers()
            return None
        with open(path, "rb") as fh:
            fh.seek(start)
            body = fh.read(end - start + 1)
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(path))
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        return io.BytesIO(body)


@contextlib.contextmanager
def serve(root: Path) -> Iterator[str]:
    handler = functools.partial(RangeHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_player_over_http(page: Page, site: tuple[Path, dict[str, Any]]) -> None:
    out, manifest = site
    console = Console(page)
    with serve(out.parent) as base:
        page.goto(base + f"{out.name}/index.html")
        wait_ready(page)
        assert page.evaluate("document.getElementById('audio').seekable.length") >= 1
        starts = whole_starts(manifest)
        page.click(".turn[data-index='9']")
        assert starts[9] / 1000 <= current_time(page) < starts[9] / 1000 + 0.6
        page.wait_for_function(
            "document.getElementById('audio').currentTime > 0 && !document.getElementById('audio').paused"
        )
        assert current_indices(page) == [9]
        page.evaluate("document.getElementById('audio').pause()")
        assert page.evaluate("fetch('feed.xml').then(r => r.status)") == 200
    assert console.errors == []


def test_live_reload_keeps_track_and_position(page: Page, site: tuple[Path, dict[str, Any]]) -> None:
    """Served by ``audio-pipeline serve``: a new manifest is taken in place, the listener
    stays on the same episode at the same moment, and the changed turn is marked."""
    import copy

    from audio_pipeline import serve as serve_mod

    out, manifest = site
    for section in manifest["sections"]:
        for j, turn in enumerate(section["turns"]):
            turn["clip_key"] = f"k{section['index']}-{j}"
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), "utf-8")
    write_player(out, typed(manifest))
    console = Console(page)
    with serve_mod.running(out) as server:
        page.goto(server.url + "index.html#episode-2")
        wait_ready(page)
        page.evaluate("document.getElementById('audio').currentTime = 2.0")
        page.wait_for_function("Math.abs(document.getElementById('audio').currentTime - 2.0) < 0.1")
        page.wait_for_timeout(400)  # the event stream is open
        edited = copy.deepcopy(manifest)
        turn = edited["sections"][1]["turns"][1]
        turn["clip_key"], turn["text"] = "k2-1-edited", "改过的一句话。"
        edited["sections"][1]["sha256"] = "0" * 64  # its audio file was rewritten
        tmp = out / ".manifest.json.part"
        tmp.write_text(json.dumps(edited, ensure_ascii=False), "utf-8")
        os.replace(tmp, out / "manifest.json")
        page.wait_for_selector(".turn.changed")
        assert page.eval_on_selector_all(".turn.changed", "els => els.map(e => e.textContent)") == [
            page.eval_on_selector(".turn.changed", "e => e.textContent")
        ]
        assert "改过的一句话。" in page.eval_on_selector(".turn.changed", "e => e.textContent")
        assert page.evaluate("document.getElementById('track').value") == "episode-2"
        assert "?v=0000" in page.evaluate("document.getElementById('audio').src")
        page.wait_for_function(
            "document.getElementById('audio').readyState >= 1 && "
            "Math.abs(document.getElementById('audio').currentTime - 2.0) < 0.1"
        )
    assert console.errors == []


def test_live_preview_plays_an_edit_before_its_episode(page: Page, site: tuple[Path, dict[str, Any]]) -> None:
    """While a render rebuilds an edited episode, its progress manifest lists the changed
    clip as a preview: the page offers it on the turn it replaces (or, when that turn is
    unknown, under the status line), plays it on its own, and drops it once the new
    episode is listed, the turn staying marked."""
    import copy
    import shutil

    from audio_pipeline import serve as serve_mod

    out, manifest = site
    for section in manifest["sections"]:
        for j, turn in enumerate(section["turns"]):
            turn["clip_key"] = f"k{section['index']}-{j}"
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), "utf-8")
    write_player(out, typed(manifest))
    (out / "previews").mkdir()
    shutil.copyfile(out / manifest["sections"][0]["audio"], out / "previews" / "take one.mp3")
    console = Console(page)

    def publish(data: dict[str, Any]) -> None:
        tmp = out / ".manifest.json.part"
        tmp.write_text(json.dumps(data, ensure_ascii=False), "utf-8")
        os.replace(tmp, out / "manifest.json")

    with serve_mod.running(out) as server:
        page.goto(server.url + "index.html#episode-2")
        wait_ready(page)
        page.wait_for_timeout(400)  # the event stream is open
        pending = copy.deepcopy(manifest)
        preview = {"section": 2, "audio": "previews/take one.mp3", "clip_key": "k2-1-new", "replaces": "k2-1",
                   "speaker": None, "line": 12, "duration_ms": 4000}  # fmt: skip
        loose = dict(preview, clip_key="k2-9-new", replaces=None, line=40)
        pending["previews"] = [preview, loose]
        publish(pending)
        page.wait_for_selector(".turn button.take")
        turn_text = page.eval_on_selector(".turn.changed", "e => e.textContent")
        original = manifest["sections"][1]["turns"][1]["text"]
        assert original in turn_text  # on the turn it replaces, in the episode still listed
        assert page.eval_on_selector_all(".takes button.take", "els => els.map(e => e.textContent)") == [
            "▶ 试听第 40 行的改动"
        ]
        page.click(".turn button.take")
        page.wait_for_function("(t => !t.paused && t.currentTime > 0)(document.getElementById('take'))")
        assert "previews/take%20one.mp3?v=k2-1-new" in page.evaluate("document.getElementById('take').src")
        assert page.evaluate("document.getElementById('audio').paused")
        # The new episode lands: no preview any more, the edited turn stays marked.
        done = copy.deepcopy(manifest)
        done["sections"][1]["turns"][1]["clip_key"] = "k2-1-new"
        publish(done)
        page.wait_for_function("document.querySelectorAll('button.take').length === 0")
        assert page.eval_on_selector_all(".turn.changed", "els => els.length") == 1
    assert console.errors == []
