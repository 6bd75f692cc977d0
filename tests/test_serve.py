"""The output-folder server: Range requests, nothing outside the folder, live-reload events."""

from __future__ import annotations

import http.client
import os
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from audio_pipeline import serve


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "out"
    (root / "episodes").mkdir(parents=True)
    (root / "index.html").write_text("<html>player</html>", "utf-8")
    (root / "manifest.json").write_text('{"sections": []}', "utf-8")
    (root / "episodes" / "01-a.mp3").write_bytes(bytes(range(256)) * 4)
    (root / ".cache").mkdir()
    (root / ".cache" / "x").write_text("hidden", "utf-8")
    (tmp_path / "secret.txt").write_text("secret", "utf-8")
    (root / "link").symlink_to(tmp_path / "secret.txt")
    return root


def request(url: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    conn.request("GET", path, headers=headers or {})  # the path goes out exactly as written
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


def test_binds_loopback_and_serves_the_player(site: Path) -> None:
    with serve.running(site) as server:
        assert urlsplit(server.url).hostname == "127.0.0.1"
        status, _, body = request(server.url, "/")
        assert status == 200 and body.startswith(b"<html>")
        assert b"player" in body


def test_range_requests_get_206(site: Path) -> None:
    data = (site / "episodes" / "01-a.mp3").read_bytes()
    with serve.running(site) as server:
        status, headers, body = request(server.url, "/episodes/01-a.mp3", {"Range": "bytes=100-199"})
        assert status == 206
        assert headers["content-range"] == f"bytes 100-199/{len(data)}"
        assert body == data[100:200]
        status, headers, body = request(server.url, "/episodes/01-a.mp3", {"Range": "bytes=-10"})
        assert (status, body) == (206, data[-10:])
        status, _, body = request(server.url, "/episodes/01-a.mp3")
        assert (status, body) == (200, data)


@pytest.mark.parametrize(
    "path",
    [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/episodes/../../secret.txt",
        "/episodes/%2e%2e/%2e%2e/secret.txt",
        "/..%2fsecret.txt",
        "/%2Fetc%2Fpasswd",
        "//etc/passwd",
        "/link",
        "/.cache/x",
        "/manifest.json%00.mp3",
        "/episodes\\..\\..\\secret.txt",
    ],
)
def test_nothing_outside_the_folder_or_hidden(site: Path, path: str) -> None:
    with serve.running(site) as server:
        status, _, body = request(server.url, path)
    assert status in (400, 403, 404)
    assert b"secret" not in body and b"hidden" not in body and b"root:" not in body


def test_pages_learn_they_are_served_live(site: Path) -> None:
    (site / "index.html").write_text("<!doctype html><html><head><title>t</title></head></html>", "utf-8")
    with serve.running(site) as server:
        _, headers, body = request(server.url, "/index.html")
    assert b'<head><meta name="audio-pipeline-live" content="__events"><title>' in body
    assert headers["content-type"].startswith("text/html")
    assert (site / "index.html").read_bytes().count(b"audio-pipeline-live") == 0  # the file is untouched


@pytest.mark.parametrize("folder", ["", "talk/"])
def test_manifest_changes_are_announced(site: Path, folder: str) -> None:
    root = site
    if folder:  # serving the output root: each interview's page has its own stream
        talk = site / "talk"
        talk.mkdir()
        (talk / "manifest.json").write_text("{}", "utf-8")
        site = talk
    with serve.running(root) as server:
        parts = urlsplit(server.url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
        conn.request("GET", "/" + folder + serve.EVENTS_NAME)
        response = conn.getresponse()
        assert response.status == 200 and response.getheader("Content-Type") == "text/event-stream"
        assert response.readline().startswith(b"event: hello")
        response.readline(), response.readline()
        time.sleep(0.05)
        new = site / ".manifest.json.part"
        new.write_text('{"sections": [1]}', "utf-8")
        os.replace(new, site / "manifest.json")
        assert response.readline() == b"event: manifest\n"
        conn.close()


def test_port_in_use_is_a_clear_error(site: Path) -> None:
    with serve.running(site) as server:
        port = urlsplit(server.url).port
        assert port is not None
        with pytest.raises(serve.ServeError, match="cannot listen"):
            serve.start(site, port=port)
