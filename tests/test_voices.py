from __future__ import annotations

from pathlib import Path

import pytest

from audio_pipeline import engines, transcript, voices
from audio_pipeline.errors import ConfigError
from audio_pipeline.model import VoiceSpec

from .conftest import SEED, VOICES

MINIMAL = """\
engines:
  kokoro:
    narrator: jf_alpha
    pool: [jf_nezumi, jf_tebukuro, jf_gongitsune]
"""


def test_shipped_file_gives_two_distinct_men_and_a_distinct_narrator() -> None:
    vmap = voices.load(VOICES)
    parsed = transcript.read(SEED, vmap.speakers)
    for engine in engines.names():
        assignment = vmap.assign(parsed, engine)
        luo, yan, narrator = assignment["罗永浩"], assignment["闫俊杰"], assignment[None]
        assert len({luo.voice, yan.voice, narrator.voice}) == 3, engine
        assert all(spec.engine == engine for spec in assignment.values())
    assert vmap.lexicon["MiniMax"] == "米尼麦克斯"


def test_pool_assignment_is_deterministic_distinct_and_avoids_narrator() -> None:
    vmap = voices.parse(MINIMAL + "    speakers: {Ann: jf_nezumi}\n", "v.yaml")
    engine = vmap.engine("kokoro")
    a = voices.assign(engine, ["Bob", "Cy"], "kokoro")
    b = voices.assign(engine, ["Cy", "Bob"], "kokoro")
    assert a == b
    used = [a["Bob"].voice, a["Cy"].voice]
    assert len(set(used)) == 2 and "jf_alpha" not in used
    # A configured speaker's voice is not handed out again.
    c = voices.assign(engine, ["Ann", "Bob", "Cy"], "kokoro")
    assert c["Ann"].voice == "jf_nezumi"
    assert len({c["Ann"].voice, c["Bob"].voice, c["Cy"].voice, c[None].voice}) == 4


def test_pool_exhausted_is_an_error() -> None:
    vmap = voices.parse(MINIMAL, "v.yaml")
    with pytest.raises(ConfigError, match="'D' has no voice.*3 unused voices for 4 speakers"):
        voices.assign(vmap.engine("kokoro"), ["A", "B", "C", "D"], "kokoro")


def test_settings_parsed() -> None:
    vmap = voices.parse(
        "engines:\n  edge:\n    narrator: {voice: zh-CN-XiaoxiaoNeural, rate: '+10%', pitch: '-5Hz', volume: '-20%'}\n"
        "  kokoro:\n    narrator: {voice: 'jm_kumo:0.7,jf_alpha:0.3', speed: 1.2}\n"
        "pauses: {paragraph_ms: 200}\nread_title: false\n",
        "v.yaml",
    )
    assert vmap.engine("edge").narrator == VoiceSpec("edge", "zh-CN-XiaoxiaoNeural", "+10%", "-5Hz", "-20%")
    assert vmap.engine("kokoro").narrator.speed == 1.2
    assert vmap.pauses.paragraph_ms == 200 and vmap.pauses.speaker_change_ms == 700
    assert vmap.read_title is False and vmap.read_headings is True


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        ("engines:\n  kokoro:\n    narrator: jf_alpha\n    colour: red\n", 4, "engines.kokoro.colour: unknown key"),
        ("engines:\n  kokoro:\n    narrator: nobody\n", 3, "unknown kokoro voice 'nobody'"),
        ("engines:\n  edge:\n    narrator: zh-CN-NobodyNeural\n", 3, "unknown edge voice"),
        ("engines:\n  espeak:\n    narrator: cmn+nosuch\n", 3, "unknown espeak-ng variant"),
        (
            "engines:\n  edge:\n    narrator: {voice: zh-CN-XiaoxiaoNeural, rate: fast}\n",
            3,
            "rate: 'fast' is not like '+10%'",
        ),
        ("engines:\n  edge:\n    narrator: {voice: zh-CN-XiaoxiaoNeural, pitch: '+5%'}\n", 3, "pitch"),
        ("engines:\n  kokoro:\n    narrator: {voice: jf_alpha, pitch: '+5Hz'}\n", 3, "pitch: unknown key"),
        ("engines:\n  kokoro:\n    narrator: {voice: jf_alpha, speed: 9}\n", 3, "speed: 9 must be"),
        ("engines:\n  kokoro:\n    narrator: jf_alpha\n  kokoro:\n    narrator: jf_nezumi\n", 4, "duplicate key"),
        ("engines: !!python/object/apply:os.system [ls]\n", 1, "not allowed"),
        (
            "engines:\n  kokoro:\n    narrator: jf_alpha\n    speakers: {A: jf_alpha}\n",
            4,
            "already used by the narrator",
        ),
        ("engines:\n  kokoro: {speakers: {}}\n", 2, "narrator voice is required"),
        ("engines: [\n", 2, "invalid YAML"),
        ("pauses: {paragraph_ms: -3}\n", 1, "must be a whole number"),
        ("read_title: maybe\n", 1, "must be true or false"),
        ("engines:\n  festival: {}\n", 2, "unknown key"),
    ],
)
def test_bad_voice_files(text: str, line: int, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        voices.parse(text, "v.yaml")
    message = str(info.value)
    assert needle in message
    assert message.startswith(f"v.yaml:{line}: ")


def test_every_problem_reported_at_once() -> None:
    text = "engines:\n  kokoro:\n    narrator: nobody\n    speakers: {A: {voice: jf_alpha, speed: x}}\nread_title: 3\n"
    with pytest.raises(ConfigError) as info:
        voices.parse(text, "v.yaml")
    lines = str(info.value).splitlines()
    assert len(lines) == 3
    assert [line.split(":")[1] for line in lines] == ["3", "4", "5"]


def test_load_reports_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        voices.load(tmp_path / "nope.yaml")


def test_espeak_names_match_case_insensitively() -> None:
    vmap = voices.parse("engines:\n  espeak:\n    narrator: en-us+m1\n    speakers: {A: EN+F3}\n", "v.yaml")
    assert vmap.engine("espeak").narrator.voice == "en-us+m1"
