"""Shared fixtures. Every test runs with isolated user folders."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from audio_pipeline import engines, voicepack

from .fakes import TONE_SPEC, RegisterTone, ToneEngine, tone_voices

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "seeds" / "luo-yonghao-yan-junjie.md"
VOICES = ROOT / "voices.yaml"
# Kokoro's voice pack as `make setup` installed it (None when it is not installed):
# found before the tests hide the user's folders, and handed to them explicitly.
VOICE_PACK = voicepack.installed_dir()


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where model weights shipped in packages are joined: once per test session."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture(autouse=True)
def isolated_user_dirs(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, model_dir: Path
) -> None:
    """Nothing a test does may touch the user's home or a real output folder."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("KOKORO_JA_CACHE", str(model_dir / "kokoro"))
    monkeypatch.setenv("AUDIO_PIPELINE_WHISPER_DIR", str(model_dir / "whisper"))
    no_pack = home / "no-voice-pack"
    no_pack.mkdir(exist_ok=True)
    monkeypatch.setenv(voicepack.ENV, str(VOICE_PACK or no_pack))


@pytest.fixture
def seed_text() -> str:
    return SEED.read_text(encoding="utf-8")


@pytest.fixture
def register_tone() -> Iterator[RegisterTone]:
    """Registers a stand-in as engine "tone" (again with another one: the last one
    counts); the registry forgets it after the test."""

    def use(engine: ToneEngine) -> ToneEngine:
        if "tone" in engines.names():
            engines.unregister("tone")
        engines.register("tone", lambda **options: engine, TONE_SPEC)
        return engine

    yield use
    if "tone" in engines.names():
        engines.unregister("tone")


#: Makes the working folder of a CLI test with the "tone" stand-in: see ``tone_folder``.
ToneFolder = Callable[[Mapping[str, str]], Path]


@pytest.fixture
def tone_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ToneFolder:
    """The test's folder as the working one, holding the repository's voices.yaml with a
    "tone" block and the files given (name -> text). Registering the engine is the
    test's own step (with register_tone)."""

    def make(files: Mapping[str, str]) -> Path:
        monkeypatch.chdir(tmp_path)
        (tmp_path / "voices.yaml").write_text(tone_voices(VOICES.read_text("utf-8")), "utf-8")
        for name, text in files.items():
            (tmp_path / name).write_text(text, "utf-8")
        return tmp_path

    return make
