"""voices.yaml -> VoiceMap, validated when it is built; speaker -> VoiceSpec assignment."""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import yamlsafe
from .errors import ConfigError, PipelineError
from .model import Transcript, VoiceSpec

ENGINE_NAMES = ("kokoro", "edge", "espeak")
KOKORO_VOICES = frozenset({"jm_kumo", "jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro"})
_PERCENT = re.compile(r"^[+-]\d+%$")
_HERTZ = re.compile(r"^[+-]\d+Hz$")
# Which per-voice settings each engine understands.
_SETTINGS: dict[str, tuple[str, ...]] = {
    "edge": ("rate", "pitch", "volume"),
    "espeak": ("rate", "pitch", "volume"),
    "kokoro": ("speed",),
}


@dataclass(frozen=True)
class Pauses:
    paragraph_ms: int = 350
    speaker_change_ms: int = 700
    after_heading_ms: int = 900
    between_sections_ms: int = 1500


@dataclass(frozen=True)
class EngineVoices:
    narrator: VoiceSpec
    speakers: Mapping[str, VoiceSpec]
    pool: tuple[VoiceSpec, ...]
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class VoiceMap:
    source: str
    engines: Mapping[str, EngineVoices]
    lexicon: Mapping[str, str]
    pauses: Pauses = Pauses()
    read_title: bool = True
    read_headings: bool = True

    @property
    def speakers(self) -> frozenset[str]:
        return frozenset(n for e in self.engines.values() for n in e.speakers)

    def engine(self, name: str) -> EngineVoices:
        try:
            return self.engines[name]
        except KeyError:
            raise ConfigError(f"engines.{name}: no voices configured for this engine", path=self.source) from None

    def assign(self, transcript: Transcript, engine: str) -> dict[str | None, VoiceSpec]:
        """Voice for every speaker of ``transcript`` (key None is the narrator)."""
        return assign(self.engine(engine), transcript.speakers, engine, self.source)


def assign(
    voices: EngineVoices, speakers: Iterable[str], engine: str, source: str = "voices.yaml"
) -> dict[str | None, VoiceSpec]:
    """Configured speakers keep their voices; the others draw from the pool.

    Each unconfigured speaker prefers the pool slot its name hashes to and probes
    forward from there, in name order: the result depends only on the set of names,
    and adding a speaker rarely moves anyone else.
    """
    result: dict[str | None, VoiceSpec] = {None: voices.narrator}
    taken = {voices.narrator.voice}
    missing: list[str] = []
    for name in speakers:
        if name in voices.speakers:
            result[name] = voices.speakers[name]
            taken.add(voices.speakers[name].voice)
        else:
            missing.append(name)
    free = [spec for spec in voices.pool if spec.voice not in taken]
    if len(missing) > len(free):
        raise ConfigError(
            f"engines.{engine}.pool: {len(missing)} speakers without a configured voice "
            f"({', '.join(sorted(missing))}) but only {len(free)} unused pool voices; "
            f"add voices to the pool or under engines.{engine}.speakers",
            path=source,
        )
    slots: list[VoiceSpec | None] = list(free)
    for name in sorted(missing):
        start = int(hashlib.sha256(name.encode("utf-8")).hexdigest(), 16) % len(slots)
        for step in range(len(slots)):
            spec = slots[(start + step) % len(slots)]
            if spec is not None:
                result[name] = spec
                slots[(start + step) % len(slots)] = None
                break
    return result


# -- validation -----------------------------------------------------------------


@functools.cache
def _espeak_names() -> tuple[frozenset[str], frozenset[str]]:
    """Languages and variants shipped in the espeak-ng data of espeakng-loader."""
    try:
        import espeakng_loader

        data = Path(espeakng_loader.get_data_path())
    except Exception:  # the package is a dependency; tolerate its absence in validation
        return frozenset(), frozenset()
    # espeak-ng matches names case-insensitively (`en-us` is the file `en-US`).
    langs = frozenset(p.name.lower() for p in (data / "lang").rglob("*") if p.is_file())
    variants = frozenset(p.name.lower() for p in (data / "voices" / "!v").iterdir() if p.is_file())
    return langs, variants


def _voice_problem(engine: str, voice: str) -> str | None:
    if engine == "kokoro":
        if voice.endswith((".pt", ".npy")) or "/" in voice:
            return None  # a voice file of a user's own model: checked when the engine loads it
        parts = [p.strip() for p in voice.split(",")]
        for part in parts:
            name, _, weight = part.partition(":")
            if name not in KOKORO_VOICES:
                return f"unknown kokoro voice {name!r} (known: {', '.join(sorted(KOKORO_VOICES))})"
            if weight:
                try:
                    if float(weight) <= 0:
                        return f"blend weight {weight!r} must be positive"
                except ValueError:
                    return f"blend weight {weight!r} is not a number"
        return None
    if engine == "espeak":
        langs, variants = _espeak_names()
        lang, _, variant = voice.partition("+")
        if langs and lang.lower() not in langs:
            return f"unknown espeak-ng language {lang!r}"
        if variant and variants and variant.lower() not in variants:
            return f"unknown espeak-ng variant {variant!r}"
        return None
    if engine == "edge":
        from .engines.edge_voices import EDGE_VOICES

        if voice not in EDGE_VOICES:
            return f"unknown edge voice {voice!r} (not in the built-in list of {len(EDGE_VOICES)})"
        return None
    return f"unknown engine {engine!r}"


class _Checker:
    def __init__(self, doc: yamlsafe.Document, source: str) -> None:
        self.doc = doc
        self.source = source
        self.problems: list[PipelineError] = []

    def fail(self, path: yamlsafe.Path, message: str) -> None:
        where = ".".join(str(p) for p in path)
        self.problems.append(ConfigError(f"{where}: {message}", path=self.source, line=self.doc.line(path)))

    def mapping(self, value: Any, path: yamlsafe.Path, allowed: Iterable[str]) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(path, f"must be a mapping, not {type(value).__name__}")
            return {}
        allowed = tuple(allowed)
        for key in value:
            if allowed and key not in allowed:
                self.fail(path + (key,), f"unknown key (expected one of: {', '.join(allowed)})")
        return value

    def voice(self, engine: str, value: Any, path: yamlsafe.Path) -> VoiceSpec | None:
        if isinstance(value, str):
            value = {"voice": value}
        settings = _SETTINGS[engine]
        data = self.mapping(value, path, ("voice",) + settings)
        if not isinstance(value, dict):
            return None
        voice = data.get("voice")
        if not isinstance(voice, str) or not voice.strip():
            self.fail(path + ("voice",), "a voice name is required")
            return None
        problem = _voice_problem(engine, voice.strip())
        if problem:
            self.fail(path + ("voice",), problem)
        kwargs: dict[str, Any] = {}
        for key, pattern, example in (
            ("rate", _PERCENT, "+10%"),
            ("volume", _PERCENT, "-5%"),
            ("pitch", _HERTZ, "+5Hz"),
        ):
            if key in data:
                text = str(data[key])
                if not pattern.match(text):
                    self.fail(path + (key,), f"{data[key]!r} is not like {example!r}")
                else:
                    kwargs[key] = text
        if "speed" in data:
            speed = data["speed"]
            if isinstance(speed, bool) or not isinstance(speed, (int, float)) or not 0.5 <= speed <= 2.0:
                self.fail(path + ("speed",), f"{speed!r} must be a number from 0.5 to 2.0")
            else:
                kwargs["speed"] = float(speed)
        return VoiceSpec(engine=engine, voice=voice.strip(), **kwargs)

    def integer(self, value: Any, path: yamlsafe.Path, low: int, high: int) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.fail(path, f"{value!r} must be a whole number from {low} to {high}")
            return None
        return value


def parse(text: str, source: str) -> VoiceMap:
    """Validate a voices.yaml text; every problem is reported at once."""
    doc = yamlsafe.load(text, source)
    check = _Checker(doc, source)
    top = check.mapping(doc.data, (), ("engines", "lexicon", "pauses", "read_title", "read_headings"))
    engines: dict[str, EngineVoices] = {}
    for name, value in check.mapping(top.get("engines"), ("engines",), ENGINE_NAMES).items():
        if name not in ENGINE_NAMES:
            continue
        path: yamlsafe.Path = ("engines", name)
        data = check.mapping(value, path, ("narrator", "speakers", "pool", "options"))
        narrator = check.voice(name, data.get("narrator"), path + ("narrator",)) if "narrator" in data else None
        if "narrator" not in data:
            check.fail(path, "a narrator voice is required")
        speakers: dict[str, VoiceSpec] = {}
        for speaker, spec_value in check.mapping(data.get("speakers"), path + ("speakers",), ()).items():
            spec = check.voice(name, spec_value, path + ("speakers", speaker))
            if spec is not None:
                speakers[str(speaker)] = spec
        pool_value = data.get("pool") or []
        pool: list[VoiceSpec] = []
        if not isinstance(pool_value, list):
            check.fail(path + ("pool",), "must be a list of voices")
        else:
            for i, item in enumerate(pool_value):
                spec = check.voice(name, item, path + ("pool", i))
                if spec is not None:
                    pool.append(spec)
        options = check.mapping(data.get("options"), path + ("options",), ())
        # Two speakers (or a speaker and the narrator) sharing a voice cannot be told apart.
        owners: dict[str, str] = {}
        if narrator is not None:
            owners[narrator.voice] = "the narrator"
        for speaker, spec in speakers.items():
            if spec.voice in owners:
                check.fail(
                    path + ("speakers", speaker, "voice"), f"{spec.voice!r} is already used by {owners[spec.voice]}"
                )
            owners[spec.voice] = speaker
        if narrator is not None:
            engines[name] = EngineVoices(narrator, speakers, tuple(pool), dict(options))

    lexicon: dict[str, str] = {}
    for word, replacement in check.mapping(top.get("lexicon"), ("lexicon",), ()).items():
        if not isinstance(replacement, (str, int, float)) or isinstance(replacement, bool) or not str(word).strip():
            check.fail(("lexicon", word), "must map a word to the text to speak instead")
        else:
            lexicon[str(word)] = str(replacement)

    pause_data = check.mapping(top.get("pauses"), ("pauses",), tuple(Pauses.__dataclass_fields__))
    pause_kwargs = {}
    for key, value in pause_data.items():
        if key in Pauses.__dataclass_fields__:
            number = check.integer(value, ("pauses", key), 0, 10_000)
            if number is not None:
                pause_kwargs[key] = number
    flags: dict[str, bool] = {}
    for key in ("read_title", "read_headings"):
        if key in top:
            if isinstance(top[key], bool):
                flags[key] = top[key]
            else:
                check.fail((key,), f"{top[key]!r} must be true or false")
    if check.problems:
        raise check.problems[0] if len(check.problems) == 1 else yamlsafe.MultiError(check.problems)
    return VoiceMap(source, engines, lexicon, Pauses(**pause_kwargs), **flags)


def load(path: str | Path) -> VoiceMap:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", path=str(path)) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError("not UTF-8 text", path=str(path), line=line) from None
    return parse(text, str(path))


def spec_json(speaker: str | None, spec: VoiceSpec) -> dict[str, Any]:
    out: dict[str, Any] = {"speaker": speaker, "engine": spec.engine, "voice": spec.voice}
    for key in _SETTINGS[spec.engine]:
        out[key] = getattr(spec, key)
    return out
