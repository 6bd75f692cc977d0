"""voices.yaml -> VoiceMap, validated when it is built; (speaker, language) -> VoiceSpec.

Voices are given per engine and per language (``engines.kokoro.zh``,
``engines.kokoro.en``, ...). The flat form of earlier files (``engines.kokoro.narrator``,
``speakers``, ``pool`` directly under the engine) still loads: it holds the voices of
the transcript's own language (and of any language without a block of its own).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import engines, lang, yamlsafe
from .errors import ConfigError, PipelineError
from .model import Pauses, Transcript, VoiceSpec

_PERCENT = re.compile(r"^[+-]\d+%$")
_HERTZ = re.compile(r"^[+-]\d+Hz$")


@dataclass(frozen=True)
class EngineVoices:
    """One engine's voices for one language (or, in the flat form, for the transcript's
    language); ``languages`` holds the per-language blocks, ``options`` the engine's."""

    narrator: VoiceSpec | None
    speakers: Mapping[str, VoiceSpec]
    pool: tuple[VoiceSpec, ...]
    options: Mapping[str, Any] = field(default_factory=dict)
    languages: Mapping[str, EngineVoices] = field(default_factory=dict)

    def for_language(self, code: str, transcript: str) -> tuple[str, EngineVoices]:
        """(key path, voices) for text in language ``code`` of a ``transcript``-language
        transcript: that language's block, else the flat voices, else the block of the
        transcript's language."""
        if code in self.languages:
            return code, self.languages[code]
        if self.narrator is not None:
            return "", self
        if transcript in self.languages:
            return transcript, self.languages[transcript]
        first = sorted(self.languages)[0]
        return first, self.languages[first]


@dataclass(frozen=True)
class Cast:
    """Who speaks with which voice, per language: ``voices[(speaker, lang)]`` (speaker
    None is the narrator). ``lang`` is the transcript's language."""

    engine: str
    lang: str
    voices: Mapping[tuple[str | None, str], VoiceSpec]

    def voice(self, speaker: str | None, code: str) -> VoiceSpec:
        return self.voices[(speaker, code)]


def _fold(name: str) -> str:
    return " ".join(name.split()).casefold()


@dataclass(frozen=True)
class VoiceMap:
    source: str
    engines: Mapping[str, EngineVoices]
    lexicon: Mapping[str, str]
    pauses: Pauses = Pauses()
    read_title: bool = True
    read_headings: bool = True
    # Speaker labels renamed before voices are assigned ("Speaker 0" -> "Prof. Lee");
    # labels match case-insensitively (see :meth:`rename`).
    aliases: Mapping[str, str] = field(default_factory=dict)

    @property
    def speakers(self) -> frozenset[str]:
        names: set[str] = set()
        for config in self.engines.values():
            for block in (config, *config.languages.values()):
                names.update(block.speakers)
        return frozenset(names)

    def rename(self, name: str) -> str:
        """``name`` after ``aliases`` (matched case-insensitively, spaces ignored)."""
        folded = _fold(name)
        for label, target in self.aliases.items():
            if _fold(label) == folded:
                return target
        return name

    def engine(self, name: str) -> EngineVoices:
        try:
            return self.engines[name]
        except KeyError:
            raise ConfigError(f"engines.{name}: no voices configured for this engine", path=self.source) from None

    def cast(self, transcript: Transcript, engine: str) -> Cast:
        """A voice for every speaker (and the narrator) in every language they speak.

        The narrator always has a voice in the transcript's language. Within a language,
        configured speakers keep their voices and the others draw distinct ones from that
        language's pool (see :func:`assign`).
        """
        config = self.engine(engine)
        main = transcript_language(transcript)
        # Speakers per language, in order of first appearance, with the line of that turn.
        heard: dict[str, dict[str | None, int]] = {main: {None: 1}}
        heard.setdefault(lang.of_turn(transcript.title, main), {}).setdefault(None, 1)
        for section in transcript.sections:
            heard.setdefault(lang.of_turn(section.title, main), {}).setdefault(None, section.line)
            for turn in section.turns:
                heard.setdefault(lang.of_turn(turn.text, main), {}).setdefault(turn.speaker, turn.line)
        # Languages read by the same block of voices (the flat form serves several) share
        # one assignment, so no speaker's voice in one is another's in the other.
        groups: dict[str, tuple[EngineVoices, dict[str, int], list[str]]] = {}
        for code, who in heard.items():
            where, block = config.for_language(code, main)
            _, lines, codes = groups.setdefault(where, (block, {}, []))
            for name, line in who.items():
                if name is not None:
                    lines[name] = min(line, lines.get(name, line))
            codes.append(code)
        voices: dict[tuple[str | None, str], VoiceSpec] = {}
        for where, (block, lines, codes) in groups.items():
            path = f"engines.{engine}" + (f".{where}" if where else "")
            names = sorted(lines, key=lambda name: lines[name])
            assigned = assign(block, names, engine, self.source, path=path, lines=lines, transcript=transcript.source)
            for code in codes:
                for speaker in heard[code]:
                    voices[(speaker, code)] = assigned[speaker]
        return Cast(engine, main, voices)

    def assign(self, transcript: Transcript, engine: str) -> dict[str | None, VoiceSpec]:
        """Voice for every speaker of ``transcript`` in its own language (key None is the
        narrator)."""
        cast = self.cast(transcript, engine)
        return {s: cast.voices.get((s, cast.lang)) or self._any(cast, s) for s in (None, *transcript.speakers)}

    @staticmethod
    def _any(cast: Cast, speaker: str | None) -> VoiceSpec:
        return next(spec for (who, _), spec in cast.voices.items() if who == speaker)


def transcript_language(transcript: Transcript) -> str:
    """The transcript's language: front matter, else detected from its text."""
    texts = [transcript.title] + [t.text for t in transcript.turns]
    return lang.of_transcript(transcript.meta, texts)


def assign(
    voices: EngineVoices,
    speakers: Iterable[str],
    engine: str,
    source: str = "voices.yaml",
    *,
    path: str | None = None,
    lines: Mapping[str, int] | None = None,
    transcript: str | None = None,
) -> dict[str | None, VoiceSpec]:
    """Configured speakers keep their voices; the others draw from the pool.

    Each unconfigured speaker prefers the pool slot its name hashes to and probes
    forward from there, in name order: the result depends only on the set of names,
    and adding a speaker rarely moves anyone else. Speaker names match voices.yaml
    case-insensitively. When the pool runs short, the error names the first speaker
    (in the order given) left without a voice, at its line of ``transcript``.
    """
    path = path or f"engines.{engine}"
    if voices.narrator is None:
        raise ConfigError(f"{path}: a narrator voice is required", path=source)
    result: dict[str | None, VoiceSpec] = {None: voices.narrator}
    taken = {voices.narrator.voice}
    configured = {_fold(name): spec for name, spec in voices.speakers.items()}
    missing: list[str] = []
    for name in speakers:
        spec = configured.get(_fold(name))
        if spec is not None:
            result[name] = spec
            taken.add(spec.voice)
        else:
            missing.append(name)
    free = [spec for spec in voices.pool if spec.voice not in taken]
    if len(missing) > len(free):
        left = missing[len(free)]
        where = {"path": transcript, "line": (lines or {}).get(left)} if transcript else {"path": source}
        raise ConfigError(
            f"speaker {left!r} has no voice: {path}.pool has {len(free)} unused voices for "
            f"{len(missing)} speakers without a configured voice ({', '.join(missing)}); "
            f"add voices to {path}.pool or {path}.speakers in {source}",
            **where,
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
        spec = engines.spec(engine)  # what the engine declares it accepts
        settings = spec.settings
        data = self.mapping(value, path, ("voice",) + settings)
        if not isinstance(value, dict):
            return None
        voice = data.get("voice")
        if not isinstance(voice, str) or not voice.strip():
            self.fail(path + ("voice",), "a voice name is required")
            return None
        problem = spec.voice_problem(voice.strip())
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


_BLOCK_KEYS = ("narrator", "speakers", "pool")


def _voices_block(
    check: _Checker, name: str, data: Mapping[str, Any], path: yamlsafe.Path
) -> EngineVoices | None:
    """narrator/speakers/pool at ``path`` (a language block, or an engine's flat form)."""
    narrator = check.voice(name, data.get("narrator"), path + ("narrator",)) if "narrator" in data else None
    if "narrator" not in data:
        check.fail(path, "a narrator voice is required")
    speakers: dict[str, VoiceSpec] = {}
    folded: dict[str, str] = {}
    for speaker, spec_value in check.mapping(data.get("speakers"), path + ("speakers",), ()).items():
        spec = check.voice(name, spec_value, path + ("speakers", speaker))
        key = _fold(str(speaker))
        if key in folded:
            check.fail(path + ("speakers", speaker), f"same speaker as {folded[key]!r} (names match in any case)")
        folded[key] = str(speaker)
        if spec is not None:
            speakers[str(speaker)] = spec
    pool_value = data.get("pool") or []
    pool: list[VoiceSpec] = []
    if not isinstance(pool_value, list):
        check.fail(path + ("pool",), "must be a list of voices")
    else:
        seen: dict[str, int] = {}
        for i, item in enumerate(pool_value):
            spec = check.voice(name, item, path + ("pool", i))
            if spec is not None:
                if spec.voice in seen:
                    check.fail(path + ("pool", i), f"{spec.voice!r} is already pool voice {seen[spec.voice]}")
                seen.setdefault(spec.voice, i)
                pool.append(spec)
    # Two speakers (or a speaker and the narrator) sharing a voice cannot be told apart.
    owners: dict[str, str] = {}
    if narrator is not None:
        owners[narrator.voice] = "the narrator"
    for speaker, spec in speakers.items():
        if spec.voice in owners:
            check.fail(path + ("speakers", speaker, "voice"), f"{spec.voice!r} is already used by {owners[spec.voice]}")
        owners[spec.voice] = speaker
    if narrator is None:
        return None
    return EngineVoices(narrator, speakers, tuple(pool))


def _aliases(check: _Checker, value: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    folded: dict[str, str] = {}
    for label, target in check.mapping(value, ("aliases",), ()).items():
        if isinstance(target, bool) or not isinstance(target, (str, int, float)) or not str(target).strip():
            check.fail(("aliases", label), "must map a speaker label to the name to use instead")
            continue
        key = _fold(str(label))
        if not key:
            check.fail(("aliases", label), "an empty speaker label")
            continue
        if key in folded:
            check.fail(("aliases", label), f"same label as {folded[key]!r} (labels match case-insensitively)")
            continue
        folded[key] = str(label)
        out[str(label).strip()] = " ".join(str(target).split())
    for label, target in out.items():
        if _fold(target) in folded and _fold(target) != _fold(label):
            check.fail(("aliases", label), f"{target!r} is itself renamed: write the final name")
    return out


def parse(text: str, source: str) -> VoiceMap:
    """Validate a voices.yaml text; every problem is reported at once."""
    doc = yamlsafe.load(text, source)
    check = _Checker(doc, source)
    top = check.mapping(doc.data, (), ("engines", "lexicon", "aliases", "pauses", "read_title", "read_headings"))
    configured: dict[str, EngineVoices] = {}
    known = engines.names()
    for name, value in check.mapping(top.get("engines"), ("engines",), known).items():
        if name not in known:
            continue
        path: yamlsafe.Path = ("engines", name)
        data = check.mapping(value, path, (*_BLOCK_KEYS, "options", *lang.LANGUAGES))
        options = check.mapping(data.get("options"), path + ("options",), ())
        languages: dict[str, EngineVoices] = {}
        for code in lang.LANGUAGES:
            if code in data:
                block = check.mapping(data[code], path + (code,), _BLOCK_KEYS)
                if isinstance(data[code], dict):
                    found = _voices_block(check, name, block, path + (code,))
                    if found is not None:
                        languages[code] = found
        flat: EngineVoices | None = None
        if any(key in data for key in _BLOCK_KEYS) or not any(code in data for code in lang.LANGUAGES):
            flat = _voices_block(check, name, data, path)
            if flat is None:
                continue
        configured[name] = EngineVoices(
            flat.narrator if flat else None,
            flat.speakers if flat else {},
            flat.pool if flat else (),
            dict(options),
            languages,
        )

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
    aliases = _aliases(check, top.get("aliases"))
    if check.problems:
        raise check.problems[0] if len(check.problems) == 1 else yamlsafe.MultiError(check.problems)
    return VoiceMap(source, configured, lexicon, Pauses(**pause_kwargs), aliases=aliases, **flags)


def shipped_config() -> Path:
    """The voices.yaml shipped inside the package (the defaults; same as the repository's)."""
    return Path(__file__).resolve().parent / "voices.yaml"


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
    for key in engines.spec(spec.engine).settings:
        out[key] = getattr(spec, key)
    return out
