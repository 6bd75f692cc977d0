"""manifest.json: one writer, one reader. What the reader cannot vouch for (another
version, a key missing, a wrong type, a path out of the folder, not JSON) reads as no
manifest, and the render then builds everything afresh, without a traceback."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from audio_pipeline import manifest

from .test_render import _render


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    """A rendered output folder and its manifest.json's bytes."""
    result = _render(tmp_path_factory.mktemp("rendered"))
    return result.out_dir, (result.out_dir / manifest.FILE_NAME).read_bytes()


def test_reads_back_to_what_was_written(rendered: tuple[Path, bytes], tmp_path: Path) -> None:
    out, written = rendered
    read = manifest.read(out)
    assert read is not None and read.whole is not None and len(read.sections) == 3
    assert read.sections[0].turns[0].heading and read.whole.m4b_chapters[0].index is None
    assert manifest.write(tmp_path, read)
    assert (tmp_path / manifest.FILE_NAME).read_bytes() == written
    assert not manifest.write(tmp_path, read)  # the same bytes: not written again


PREVIEW = {"section": 1, "audio": "previews/a.mp3", "clip_key": "b" * 64, "replaces": "a" * 64,
           "speaker": "罗永浩", "line": 7, "duration_ms": 2500}  # fmt: skip


def test_previews_read_back(rendered: tuple[Path, bytes], tmp_path: Path) -> None:
    """A progress manifest's previews read back; a finished one writes no such key."""
    _out, written = rendered
    data = json.loads(written)
    assert "previews" not in data
    data["previews"] = [PREVIEW, dict(PREVIEW, replaces=None, speaker=None)]
    (tmp_path / manifest.FILE_NAME).write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", "utf-8")
    read = manifest.read(tmp_path)
    assert read is not None and [p.replaces for p in read.previews] == ["a" * 64, None]
    assert read.previews[0] == manifest.Preview(1, "previews/a.mp3", "b" * 64, "a" * 64, "罗永浩", 7, 2500)
    again = tmp_path / "again"
    again.mkdir()
    manifest.write(again, read)
    assert (again / manifest.FILE_NAME).read_bytes() == (tmp_path / manifest.FILE_NAME).read_bytes()


def _set(path: str, value: object) -> Callable[[dict[str, Any]], object]:
    """A change to the parsed manifest: the value at ``path`` (keys and list indexes
    joined by dots) set to ``value``, or removed when it is ``KeyError``."""

    def change(data: dict[str, Any]) -> object:
        *parents, last = (int(p) if p.isdigit() else p for p in path.split("."))
        target: Any = data
        for key in parents:
            target = target[key]
        if value is KeyError:
            del target[last]
        else:
            target[last] = value
        return data

    return change


@pytest.mark.parametrize(
    "change",
    [
        _set("version", 0),  # an older version
        _set("version", 2),  # a newer one
        _set("version", True),  # == 1 in Python, but not a version
        _set("feed_id", KeyError),
        _set("feed_id", "not-a-uuid"),
        _set("cover", None),
        _set("sections.0.id", KeyError),  # from before identities were recorded
        _set("sections.0.pub_order", 0),
        _set("sections.1.bytes", "1234"),
        _set("sections.1.sha256", "abc"),
        _set("sections.2.audio", "../elsewhere.mp3"),
        _set("sections.2.vtt", "/etc/passwd"),
        _set("sections.0.turns.1.heading", 1),
        _set("sections.0.speakers", ["a", None]),
        _set("whole", []),
        _set("whole.parts", KeyError),
        _set("meta", "title: x"),
        _set("previews", [dict(PREVIEW, audio="../../etc/passwd")]),
        _set("previews", [dict(PREVIEW, line="7")]),
        _set("previews", {}),
        lambda data: [data],
        lambda data: None,
    ],
)
def test_what_this_version_did_not_write_reads_as_none(
    rendered: tuple[Path, bytes], tmp_path: Path, change: Callable[[dict[str, Any]], object]
) -> None:
    _out, written = rendered
    assert manifest.read(tmp_path) is None  # none at all
    (tmp_path / manifest.FILE_NAME).write_text(json.dumps(change(json.loads(written))), "utf-8")
    assert manifest.read(tmp_path) is None


@pytest.mark.parametrize("data", [b"", b'{"version": 1, "title": ', b"\xff\xfe\x00{", b"[" * 100_000])
def test_not_json_reads_as_none(tmp_path: Path, data: bytes) -> None:
    (tmp_path / manifest.FILE_NAME).write_bytes(data)
    assert manifest.read(tmp_path) is None


@pytest.mark.parametrize("kind", ["old version", "corrupt"])
def test_old_or_corrupt_manifest_is_rebuilt_cleanly(tmp_path: Path, kind: str) -> None:
    first = _render(tmp_path)
    out = first.out_dir
    fresh = {name: (out / name).read_bytes() for name in (manifest.FILE_NAME, "feed.xml", "index.html")}
    path = out / manifest.FILE_NAME
    if kind == "old version":
        path.write_text(json.dumps({**json.loads(path.read_text("utf-8")), "version": 0}), "utf-8")
    else:
        path.write_bytes(fresh[manifest.FILE_NAME][:500])  # cut off mid-write by hand
    again = _render(tmp_path)
    assert again.built == (1, 2, 3) and again.whole_built  # nothing trusted: everything built
    assert again.manifest == first.manifest
    assert {name: (out / name).read_bytes() for name in fresh} == fresh
