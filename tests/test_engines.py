"""The engine registry: names, specs, registration, lazy imports and the one "auto" policy."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from audio_pipeline import engines, render, voices
from audio_pipeline.cli import main
from audio_pipeline.errors import ConfigError, EngineError
from audio_pipeline.model import VoiceSpec

from .conftest import ROOT, VOICES, ToneFolder
from .fakes import TONE_SPEC, RegisteredTone, RegisterTone, tone_voices

TONE_YAML = "engines:\n  tone:\n    narrator: {voice: any-name, pitch: '+5Hz'}\n    pool: [a, b]\n"


def test_built_in_engines_in_order_with_their_settings() -> None:
    assert engines.names() == ("kokoro", "edge", "espeak")
    assert engines.spec("kokoro").settings == ("speed",)
    assert engines.spec("edge").settings == engines.spec("espeak").settings == ("rate", "pitch", "volume")
    assert engines.spec("edge").voice_problem("zh-CN-XiaoxiaoNeural") is None
    assert "unknown edge voice" in (engines.spec("edge").voice_problem("zh-CN-Nobody") or "")
    assert engines.spec("kokoro").voice_problem("zm_yunxi:0.8,zm_yunxia:0.2") is None


def test_unknown_engine_is_named_with_the_known_ones() -> None:
    with pytest.raises(EngineError, match=r"unknown engine 'nope' \(known: edge, espeak, kokoro\)"):
        engines.create("nope")
    with pytest.raises(EngineError, match="unknown engine 'nope'"):
        engines.spec("nope")


def test_a_name_is_registered_once_and_auto_is_not_an_engine(register_tone: RegisterTone) -> None:
    register_tone(RegisteredTone())
    with pytest.raises(ValueError, match="taken"):
        engines.register("tone", RegisteredTone, TONE_SPEC)
    with pytest.raises(ValueError, match="taken"):
        engines.register("auto", RegisteredTone, TONE_SPEC)


def test_a_registered_stand_in_is_built_checked_and_listed(register_tone: RegisterTone) -> None:
    stand_in = register_tone(RegisteredTone())
    assert engines.names()[-1] == "tone" and engines.create("tone", {}) is stand_in
    vmap = voices.parse(TONE_YAML, "v.yaml")
    assert vmap.engine("tone").narrator == VoiceSpec("tone", "any-name", pitch="+5Hz")
    assert voices.spec_json(None, VoiceSpec("tone", "a"))["rate"] == "+0%"
    with pytest.raises(ConfigError, match=r"engines\.tone\.narrator\.speed: unknown key"):
        voices.parse(TONE_YAML.replace("pitch: '+5Hz'", "speed: 1.0"), "v.yaml")
    with pytest.raises(ConfigError, match="expected one of: kokoro, edge, espeak, tone"):
        voices.parse("engines:\n  other: {}\n", "v.yaml")


def test_unregistered_engines_are_unknown_to_voices_yaml() -> None:
    with pytest.raises(ConfigError, match=r"engines\.tone: unknown key \(expected one of: kokoro, edge, espeak\)"):
        voices.parse(TONE_YAML, "v.yaml")


def test_the_cli_takes_an_engine_registered_after_it_loaded(
    tone_folder: ToneFolder, register_tone: RegisterTone
) -> None:
    tone_folder({"t.md": "## 一\n\n**罗永浩**：你好。\n"})
    assert CliRunner().invoke(main, ["voices", "t.md", "--engine", "tone"]).exit_code == 2  # not yet
    register_tone(RegisteredTone())
    result = CliRunner().invoke(main, ["voices", "t.md", "--engine", "tone", "--json"])
    assert result.exit_code == 0, result.output
    assert {row["engine"] for row in json.loads(result.output)} == {"tone"}


def test_resolve_keeps_a_named_engine_without_a_preflight() -> None:
    def never(timeout: float) -> str | None:
        raise AssertionError("no pre-flight for a named engine")

    assert engines.resolve("espeak", recorded="kokoro", preflight=never) == engines.Resolved("espeak")


def test_resolve_auto_prefers_the_recorded_engine_then_edge_then_kokoro() -> None:
    def answers(timeout: float) -> str | None:
        return None

    def down(timeout: float) -> str | None:
        return f"timed out after {timeout:g} s"

    recorded = engines.resolve("auto", recorded="espeak", preflight=down)
    assert recorded == engines.Resolved("espeak", "checking the clips of the last render (engine espeak)")
    assert engines.resolve("auto", recorded="retired-engine", preflight=answers) == engines.Resolved("edge")
    assert engines.resolve("auto", preflight=answers) == engines.Resolved("edge")
    offline = engines.resolve("auto", timeout=0.5, preflight=down)
    assert offline == engines.Resolved(
        "kokoro", "edge-tts unavailable (timed out after 0.5 s); rendering everything with kokoro"
    )


def test_choose_engine_builds_the_resolved_engine_and_passes_the_notice_on(register_tone: RegisterTone) -> None:
    stand_in = register_tone(RegisteredTone())
    vmap = voices.parse(tone_voices(VOICES.read_text("utf-8")), "voices.yaml")
    events: list[str] = []
    chosen = render.choose_engine(
        render.Settings(engine="auto"), vmap, lambda e: events.append(e.message or ""), recorded="tone"
    )
    assert chosen is stand_in
    assert events == ["checking the clips of the last render (engine tone)"]


def test_engines_are_imported_only_when_built() -> None:
    """Checking voices.yaml names no heavy package: kokoro pulls in onnxruntime, edge
    aiohttp and edge-tts."""
    code = (
        "import sys\n"
        "from audio_pipeline import voices\n"
        "voices.load(sys.argv[1])\n"
        "heavy = ('onnxruntime', 'edge_tts', 'aiohttp', 'misaki', 'numpy')\n"
        "engines = [m for m in sys.modules if m.startswith('audio_pipeline.engines.') and m.count('.') == 2]\n"
        "print(sorted(m for m in heavy if m in sys.modules), sorted(engines))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(VOICES)], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    assert out.strip() == (
        "[] ['audio_pipeline.engines.base', 'audio_pipeline.engines.edge_voices', "
        "'audio_pipeline.engines.espeak_voices', 'audio_pipeline.engines.kokoro_voices', "
        "'audio_pipeline.engines.spec']"
    )
