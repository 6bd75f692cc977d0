"""Remembered file digests: reused while the file is unchanged, recomputed when it changes."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from audio_pipeline import digests, fsutil


@pytest.fixture(autouse=True)
def _fresh_memory() -> None:
    digests._MEMORY.clear()


def test_digest_is_sha256_and_is_stored(tmp_path: Path) -> None:
    blob = tmp_path / "model.bin"
    blob.write_bytes(os.urandom(3 << 20))
    want = hashlib.sha256(blob.read_bytes()).hexdigest()
    assert digests.file_digest(blob) == want
    stored = json.loads(digests.store_path().read_text("utf-8"))
    assert list(stored.values()) == [want]
    assert str(digests.store_path()).startswith(os.environ["XDG_CACHE_HOME"])  # the isolated test home


def test_store_is_used_until_the_file_changes(tmp_path: Path) -> None:
    blob = tmp_path / "model.bin"
    blob.write_bytes(b"one")
    digests.file_digest(blob)
    # A new process (empty memory) takes the stored value without reading the file:
    store = digests.store_path()
    (key,) = json.loads(store.read_text("utf-8"))
    store.write_text(json.dumps({key: "f" * 64}), "utf-8")
    digests._MEMORY.clear()
    assert digests.file_digest(blob) == "f" * 64
    # ...and hashes again once the file is another version.
    blob.write_bytes(b"two")
    digests._MEMORY.clear()
    assert digests.file_digest(blob) == hashlib.sha256(b"two").hexdigest()


def test_unusable_store_falls_back_to_hashing(tmp_path: Path) -> None:
    blob = tmp_path / "model.bin"
    blob.write_bytes(b"data")
    store = digests.store_path()
    store.parent.mkdir(parents=True, exist_ok=True)
    store.write_text("{not json", "utf-8")
    assert digests.file_digest(blob) == hashlib.sha256(b"data").hexdigest()
    store.unlink()
    store.mkdir()  # cannot be written as a file
    digests._MEMORY.clear()
    assert digests.file_digest(blob) == hashlib.sha256(b"data").hexdigest()


def test_sha256_file_reads_in_blocks_and_matches_hashlib(tmp_path: Path) -> None:
    blob = tmp_path / "big.bin"
    data = os.urandom((1 << 20) + 12345)  # more than one read block, not a whole number of them
    blob.write_bytes(data)
    assert fsutil.sha256_file(blob) == hashlib.sha256(data).hexdigest()
    (tmp_path / "empty").write_bytes(b"")
    assert fsutil.sha256_file(tmp_path / "empty") == hashlib.sha256(b"").hexdigest()
