"""espeak-ng 1.52 from the ``espeakng-loader`` wheel, driven through ctypes.

Offline, robotic and very fast (hundreds of times real time): for drafts, timing
previews and tests. Voices are ``language[+variant]`` as espeak-ng writes them
(``cmn``, ``cmn+m3``, ``cmn+f3``, ``en-us+m1``).

Voice settings map onto espeak-ng's parameters:

* ``rate`` ("+10%") scales espeak's default 175 words per minute
  (``espeakRATE`` = 175 x 1.10 = 192.5 -> 193, rounded half up), clamped to
  espeak's 80..450.
* ``pitch`` ("+5Hz") moves espeak's base-pitch control (``espeakPITCH``, 0..99,
  default 50). espeak-ng scales a voice's base pitch by 2 ** ((p - 50) / 50), one
  octave over 50 steps, so a shift of ``hz`` relative to a 120 Hz reference becomes
  p = 50 + 50 x log2((120 + hz) / 120): "+5Hz" -> 53, "-20Hz" -> 37, "+120Hz" -> 99
  (clamped). The shift is a relative one: a female variant moves by the same ratio.
* ``volume`` ("+0%") scales espeak's default amplitude 100 (``espeakVOLUME``),
  clamped to 0..200.

Output is not bit-for-bit repeatable: espeak-ng's wave generator carries state
(pitch flutter, noise) from one call to the next, so the same sentence can differ in
a few samples. espeak-ng keeps global state and is not thread-safe: every call into
the library holds one module lock, and ``default_jobs`` is 1.

Mandarin text gets its numbers spelled out first (espeak's ``cmn`` rules read
``GPT-3.5`` as 三五, ``10-20`` as 十二十, ``1/3`` as "一 slash 三", ``50%`` as
"五十 percent"): :func:`prepare_text`.
"""

from __future__ import annotations

import atexit
import ctypes
import math
import re
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from ..errors import ConfigError, EngineError, SynthesisError
from ..model import ClipRequest, Synthesis, VoiceSpec
from ..textnorm import numbers_zh
from ..textnorm.numbers import normalize_numbers
from . import espeak_voices, sentences

# Bump when this module's output for the same input changes.
CODE_REVISION = "1"

SENTENCE_GAP_MS = 120  # between sentences (paragraph pauses are the assembler's job)
SILENCE_LEVEL = 64  # |int16| at or below this counts as silence when trimming
TRIM_PAD_MS = 20

DEFAULT_RATE_WPM = 175
PITCH_REFERENCE_HZ = 120.0

# espeak_ng_lib constants (speak_lib.h)
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_EE_OK = 0
_RATE, _VOLUME, _PITCH = 1, 2, 3

_PERCENT_RE = re.compile(r"^([+-]\d+)%$")
_HZ_RE = re.compile(r"^([+-]\d+)Hz$")

_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)

Int16Array = npt.NDArray[np.int16]


def _private_copy(library: str) -> str:
    """A copy of libespeak-ng for this engine alone.

    libespeak-ng keeps all its state in globals, and phonemizer (Kokoro's English G2P)
    loads the same file with its own initialisation and callback. dlopen() of the same
    path returns the same instance, so the two would trample each other; a copy under
    another name is a separate instance.
    """
    folder = Path(tempfile.mkdtemp(prefix="ap-espeak-"))
    copy = folder / "libespeak-ng-audio-pipeline.so"
    shutil.copyfile(library, copy)
    atexit.register(shutil.rmtree, folder, True)
    return str(copy)


class _Espeak:
    """The loaded library, its sample rate and the buffer its callback fills."""

    def __init__(self) -> None:
        try:
            import espeakng_loader
        except ImportError as exc:
            raise EngineError("espeak needs the espeakng-loader package") from exc
        library = espeakng_loader.get_library_path()
        try:
            data = espeakng_loader.get_data_path()
        except RuntimeError as exc:
            raise EngineError(f"espeak-ng data is missing: {exc}") from exc
        try:
            lib = ctypes.CDLL(_private_copy(library))
        except OSError as exc:
            raise EngineError(f"cannot load espeak-ng: {exc}", path=library) from exc
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Synchronize.argtypes = []
        lib.espeak_Synchronize.restype = ctypes.c_int
        lib.espeak_Info.argtypes = [ctypes.c_void_p]
        lib.espeak_Info.restype = ctypes.c_char_p

        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data.encode(), _INITIALIZE_DONT_EXIT)
        if rate <= 0:
            raise EngineError("espeak-ng failed to initialize", path=data)
        self.lib = lib
        self.sample_rate: int = rate
        self.data_path = Path(data)
        info = lib.espeak_Info(None)
        self.lib_version: str = info.decode() if info else "?"
        self.chunks: list[Int16Array] = []
        # Keep a reference: the C library holds only the raw pointer.
        self._callback = _SynthCallback(self._collect)
        lib.espeak_SetSynthCallback(self._callback)

    def _collect(self, wav: Any, count: int, _events: Any) -> int:
        if wav and count > 0:
            self.chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        return 0  # go on

    def use(self, voice: str, wpm: int, pitch: int, volume: int) -> None:
        """Load ``voice`` and set the parameters (hold _LOCK). Done for every sentence
        (~0.6 ms): loading the voice also resets the language espeak may have switched to
        inside a sentence, so a sentence's audio depends on the sentence and voice alone
        (what lets an edited turn reuse it)."""
        if self.lib.espeak_SetVoiceByName(voice.encode()) != _EE_OK:
            raise ConfigError(f"espeak-ng cannot load voice {voice!r}")
        # Parameters outlive voice changes: set all of them with every voice.
        self.lib.espeak_SetParameter(_RATE, wpm, 0)
        self.lib.espeak_SetParameter(_PITCH, pitch, 0)
        self.lib.espeak_SetParameter(_VOLUME, volume, 0)

    def synth(self, text: str) -> Int16Array:
        """Samples for ``text`` with the current voice and parameters (hold _LOCK)."""
        self.chunks = []
        blob = text.encode("utf-8") + b"\0"
        err = self.lib.espeak_Synth(blob, len(blob), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        if err != _EE_OK:
            raise SynthesisError(f"espeak-ng failed (error {err}) on {text[:40]!r}")
        self.lib.espeak_Synchronize()
        chunks, self.chunks = self.chunks, []
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)


_LOCK = threading.Lock()
_instance: _Espeak | None = None


def _espeak() -> _Espeak:
    """The process-wide espeak-ng instance (call with _LOCK held)."""
    global _instance
    if _instance is None:
        _instance = _Espeak()
    return _instance


def _signed(value: str, pattern: re.Pattern[str], what: str) -> int:
    match = pattern.match(value.strip())
    if match is None:
        raise ConfigError(f"bad espeak {what} {value!r}")
    return int(match.group(1))


def espeak_parameters(spec: VoiceSpec) -> tuple[int, int, int]:
    """(words per minute, pitch 0..99, volume 0..200) for a voice spec; see the module doc."""
    rate_pct = _signed(spec.rate, _PERCENT_RE, "rate")
    pitch_hz = _signed(spec.pitch, _HZ_RE, "pitch")
    volume_pct = _signed(spec.volume, _PERCENT_RE, "volume")
    wpm = (DEFAULT_RATE_WPM * (100 + rate_pct) + 50) // 100  # rounded half up
    ratio = max(PITCH_REFERENCE_HZ + pitch_hz, 1.0) / PITCH_REFERENCE_HZ
    pitch = round(50 + 50 * math.log2(ratio))
    volume = round(100 * (1 + volume_pct / 100))
    return min(max(wpm, 80), 450), min(max(pitch, 0), 99), min(max(volume, 0), 200)


def _is_chinese(language: str) -> bool:
    return language.split("-")[0] in {"cmn", "zh", "yue", "hak"}


def prepare_text(text: str, language: str) -> str:
    """espeak's Mandarin rules misread ranges, decimals, times, fractions and percentages:
    spell numbers out in Chinese first (the normalization Kokoro's text gets too, then every
    number read as cn2an reads it: :mod:`audio_pipeline.textnorm.numbers_zh`)."""
    if not _is_chinese(language):
        return text
    return numbers_zh.transform(normalize_numbers(text))  # full-width digits are ASCII after normalizing


def _trim(samples: Int16Array, rate: int) -> Int16Array:
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > SILENCE_LEVEL)
    if loud.size == 0:
        return samples[:0]
    pad = rate * TRIM_PAD_MS // 1000
    return samples[max(0, int(loud[0]) - pad) : int(loud[-1]) + pad]


def _loader_version() -> str:
    """espeakng-loader's version (its data is part of every clip key). Read from the
    dist-info folder beside the package: importlib.metadata would cost ~70 ms of every
    start-up (it imports the email parser and scans every path entry); it is the fallback."""
    import espeakng_loader

    site = Path(espeakng_loader.__file__).resolve().parent.parent
    found = sorted(site.glob("espeakng_loader-*.dist-info"))
    if len(found) == 1:
        return found[0].name.removeprefix("espeakng_loader-").removesuffix(".dist-info")
    import importlib.metadata

    try:
        return importlib.metadata.version("espeakng-loader")
    except importlib.metadata.PackageNotFoundError:
        return "?"


class EspeakEngine:
    """espeak-ng through ctypes. One voice at a time, guarded by a module lock."""

    name: ClassVar[str] = "espeak"
    default_jobs: int = 1
    sentence_gap_ms: int = SENTENCE_GAP_MS

    def __init__(self, **options: Any) -> None:
        if options:
            raise ConfigError(f"unknown espeak option(s): {', '.join(sorted(options))} (none known)")
        with _LOCK:
            engine = _espeak()
            self._languages, self._variants = espeak_voices.scan(engine.data_path)
            self.sample_rate: int = engine.sample_rate
            lib_version = engine.lib_version
        self.version: str = f"espeak-ng-{lib_version}-loader{_loader_version()}-r{CODE_REVISION}"

    def check_voice(self, voice: str) -> tuple[str, str | None]:
        """Split ``lang+variant`` and check both exist; ConfigError if not."""
        language, plus, variant = voice.strip().partition("+")
        if not language or language.lower() not in self._languages:
            raise ConfigError(f"unknown espeak-ng language {language!r} in voice {voice!r}")
        if plus and variant.lower() not in self._variants:
            raise ConfigError(f"unknown espeak-ng variant {variant!r} in voice {voice!r}")
        return language, (variant if plus else None)

    def sentence_pcm(self, sentence: str, spec: VoiceSpec, lang: str = "zh") -> Int16Array:
        # The voice's language decides (``en-us`` reads English, numbers included).
        language, _ = self.check_voice(spec.voice)
        wpm, pitch, volume = espeak_parameters(spec)
        text = prepare_text(sentence, language)
        with _LOCK:
            engine = _espeak()
            engine.use(spec.voice.strip(), wpm, pitch, volume)
            return _trim(engine.synth(text), self.sample_rate)

    def synthesize(self, request: ClipRequest) -> Synthesis:
        return sentences.synthesize(self, request)
