"""Languages: the transcript's and each turn's, voices.yaml per language, aliases,
the shipped defaults, and a voice pool too small (named at the transcript's line)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from audio_pipeline import engines, lang, render, synth, transcript, voices
from audio_pipeline.cli import main
from audio_pipeline.errors import ConfigError
from audio_pipeline.model import Transcript

from .conftest import VOICES
from .fakes import ToneEngine

# ----------------------------------------------------------------- detection


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("今天我们聊一聊人工智能，还有GPT-4和OpenAI。", "zh"),
        ("We talked about large language models and their cost.", "en"),
        ("I think 人工智能 is the future of everything we build.", "en"),
        ("今日はいい天気ですね。散歩に行きましょう。", "ja"),
        ("12345 ……", "zh"),
    ],
)
def test_detect(text: str, expected: str) -> None:
    assert lang.detect(text) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("zh", "zh"), ("zh-CN", "zh"), ("en_US", "en"), ("English", "en"), ("中文", "zh"), ("klingon", None), (3, None)],
)
def test_normalize(value: object, expected: str | None) -> None:
    assert lang.normalize(value) == expected


@pytest.mark.parametrize(
    ("text", "transcript_lang", "expected"),
    [
        ("我们用GPT-4做了很多OpenAI的实验。", "zh", "zh"),
        ("OK.", "zh", "zh"),  # two words or fewer: read in the transcript's voice
        ("Thank you so much for having me.", "zh", "en"),
        ("Yes, and the numbers back that up.", "en", "en"),
        ("很好, the model is great.", "en", "en"),  # two Chinese syllables are not an answer in Chinese
        ("这个 model 很好。", "en", "zh"),
        ("我觉得这个问题很好，我们公司一开始就想清楚了。", "en", "zh"),
    ],
)
def test_turn_language(text: str, transcript_lang: str, expected: str) -> None:
    assert lang.of_turn(text, transcript_lang) == expected


def test_front_matter_wins_over_detection() -> None:
    assert lang.of_transcript({"lang": "en"}, ["全是中文的文字。"]) == "en"
    assert lang.of_transcript({"language": "zh-TW"}, ["All English."]) == "zh"
    assert lang.of_transcript({"title": "x"}, ["全是中文的文字。"]) == "zh"


# ----------------------------------------------------------------- voices.yaml

PER_LANGUAGE = """\
engines:
  kokoro:
    zh:
      narrator: zf_xiaoxiao
      speakers: {Ann: zm_yunjian}
      pool: [zm_yunxi, zm_yunyang]
    en:
      narrator: af_heart
      speakers: {ann: am_michael}
      pool: [bm_george, af_bella]
    options: {threads: 1}
aliases:
  Speaker 0: Ann
  "SPEAKER 1": Bob
"""

PANEL = """---
title: Panel
---
## Opening

**Ann:** Welcome everyone to the show, glad you are here.

**Bob:** Thanks for having me, it is great to be here.

**Cy:** 谢谢，我用中文回答这个问题，我觉得很好。

**Bob:** 我也说几句中文，大家好，很高兴认识大家。

**Cy:** And back to English for the last word.
"""


def _read(text: str, tmp_path: Path, vmap: voices.VoiceMap) -> Transcript:
    path = tmp_path / "panel.md"
    path.write_text(text, "utf-8")
    return transcript.read(str(path), vmap.speakers)


def test_per_language_voices_and_same_voice_each_time(tmp_path: Path) -> None:
    vmap = voices.parse(PER_LANGUAGE, "v.yaml")
    parsed = _read(PANEL, tmp_path, vmap)
    cast = vmap.cast(parsed, "kokoro")
    assert cast.lang == "en"
    assert cast.voice(None, "en").voice == "af_heart"
    assert cast.voice("Ann", "en").voice == "am_michael"  # speaker names match in any case
    assert cast.voice("Bob", "en").voice in {"bm_george", "af_bella"}
    assert cast.voice("Cy", "zh").voice in {"zm_yunxi", "zm_yunyang"}
    assert cast.voice("Bob", "zh").voice in {"zm_yunxi", "zm_yunyang"}
    assert cast.voice("Bob", "zh") != cast.voice("Cy", "zh")
    jobs = synth.jobs_for(parsed, vmap, "kokoro", "v1")
    by_line = {job.line: job for job in jobs if job.turn is not None}
    lines = sorted(by_line)
    # Bob in English, then in Chinese: his voice for each language; Cy likewise.
    assert [by_line[n].request.lang for n in lines] == ["en", "en", "zh", "zh", "en"]
    assert by_line[lines[1]].request.spec == cast.voice("Bob", "en")
    assert by_line[lines[3]].request.spec == cast.voice("Bob", "zh")
    assert by_line[lines[4]].request.spec == cast.voice("Cy", "en")
    assert vmap.engine("kokoro").options == {"threads": 1}


def test_flat_form_still_loads_and_keeps_clip_keys() -> None:
    """The flat form means the transcript's language; clips keep the keys they had."""
    flat = voices.parse("engines:\n  kokoro:\n    narrator: jf_alpha\n    speakers: {罗永浩: jm_kumo}\n", "v.yaml")
    parsed = transcript.parse("## 一\n\n**罗永浩**：你好，欢迎。\n", "t.md")
    [heading, turn] = synth.jobs_for(parsed, flat, "kokoro", "kokoro-r1-mX")[1:]
    assert turn.request.spec.voice == "jm_kumo" and turn.request.lang == "zh"
    assert "lang" not in json.dumps(turn.request._identity())
    # An English turn in a flat file is read by the same (only) voices, in English.
    english = transcript.parse("## One\n\n**罗永浩**：I am speaking English here today.\n", "t.md")
    assert synth.jobs_for(english, flat, "kokoro", "v")[-1].request.spec.voice == "jm_kumo"


def test_aliases_validated_and_matched_in_any_case() -> None:
    vmap = voices.parse(PER_LANGUAGE, "v.yaml")
    assert dict(vmap.aliases) == {"Speaker 0": "Ann", "SPEAKER 1": "Bob"}
    assert vmap.rename("speaker  0") == "Ann" and vmap.rename("Speaker 1") == "Bob"
    assert vmap.rename("Speaker 2") == "Speaker 2"


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        ("engines:\n  kokoro:\n    zh:\n      pool: [zm_yunxi]\n", 3, "kokoro.zh: a narrator voice is required"),
        ("engines:\n  kokoro:\n    zh:\n      narrator: zm_nobody\n", 4, "engines.kokoro.zh.narrator.voice: unknown"),
        ("engines:\n  kokoro:\n    xx:\n      narrator: zm_yunxi\n", 3, "engines.kokoro.xx: unknown key"),
        ("engines:\n  kokoro:\n    en:\n      narrator: af_heart\n      voice: x\n", 5, "en.voice: unknown key"),
        (
            "engines:\n  edge:\n    en:\n      narrator: en-US-AriaNeural\n"
            "      pool: [en-US-GuyNeural, en-US-GuyNeural]\n",
            5,
            "engines.edge.en.pool.1: 'en-US-GuyNeural' is already pool voice 0",
        ),
        (
            "engines:\n  kokoro:\n    zh:\n      narrator: zf_xiaoyi\n"
            "      speakers: {Ann: zm_yunxi, ANN: zm_yunjian}\n",
            5,
            "same speaker as 'Ann'",
        ),
        ("aliases: {a: b, A: c}\n", 1, "aliases.A: same label as 'a'"),
        ("aliases: {a: b, b: c}\n", 1, "aliases.a: 'b' is itself renamed"),
        ("aliases:\n  a: [x]\n", 2, "aliases.a: must map a speaker label"),
        ("aliases: [a]\n", 1, "aliases: must be a mapping"),
    ],
)
def test_bad_language_blocks_and_aliases(text: str, line: int, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        voices.parse(text, "v.yaml")
    message = str(info.value)
    assert needle in message, message
    assert message.startswith(f"v.yaml:{line}: "), message


# ----------------------------------------------------------------- shipped defaults


def test_packaged_voices_yaml_is_the_repositorys() -> None:
    assert voices.shipped_config().read_bytes() == VOICES.read_bytes()


@pytest.mark.parametrize("engine", engines.names())
@pytest.mark.parametrize("code", ["zh", "en"])
def test_shipped_pools_give_twelve_speakers_distinct_voices(engine: str, code: str) -> None:
    block = voices.load(VOICES).engine(engine).languages[code]
    names = [f"Speaker {i}" for i in range(12)]
    assigned = voices.assign(block, names, engine)
    assert len({spec.voice for spec in assigned.values()}) == 13  # 12 speakers and the narrator


def test_shipped_languages_have_native_voices() -> None:
    vmap = voices.load(VOICES)
    kokoro = vmap.engine("kokoro").languages
    assert all(s.voice.split(":")[0][0] == "z" for s in (kokoro["zh"].narrator, *kokoro["zh"].speakers.values()))
    assert kokoro["en"].narrator is not None and kokoro["en"].narrator.voice[0] in "ab"
    edge = vmap.engine("edge").languages
    assert edge["zh"].narrator is not None and edge["zh"].narrator.voice.startswith("zh-CN-")
    assert all(s.voice.startswith(("en-US-", "en-GB-")) for s in edge["en"].pool)
    espeak = vmap.engine("espeak").languages
    assert all(s.voice.startswith("cmn") for s in espeak["zh"].pool)
    assert all(s.voice.startswith("en") for s in espeak["en"].pool)


def test_without_voices_yaml_the_shipped_one_is_used_with_a_notice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "a" / "b"
    folder.mkdir(parents=True)
    monkeypatch.chdir(folder)
    Path("t.md").write_text("## S\n\n**罗永浩**：你好。\n", "utf-8")
    result = CliRunner().invoke(main, ["voices", "t.md", "--engine", "espeak", "--json"])
    assert result.exit_code == 0, result.output
    assert "notice: no voices.yaml here or beside the transcript; using the shipped defaults" in result.stderr
    rows = json.loads(result.stdout)
    assert {row["speaker"]: row["voice"] for row in rows} == {None: "cmn+f3", "罗永浩": "cmn+m3"}


# ----------------------------------------------------------------- a pool too small


def test_too_few_voices_names_the_line_and_writes_nothing(tmp_path: Path) -> None:
    vmap = voices.parse("engines:\n  espeak:\n    narrator: cmn+f3\n    pool: [cmn+m1, cmn+m2]\n", "v.yaml")
    text = "## 一\n\n**甲**：你好。\n\n**乙**：你好。\n\n**甲**：再见。\n\n**丙**：大家好。\n\n**丁**：我也来了。\n"
    parsed = transcript.parse(text, str(tmp_path / "t.md"))
    settings = render.Settings(out_root=tmp_path / "out")
    with pytest.raises(ConfigError) as info:
        render.render(parsed, vmap, ToneEngine(), settings)
    assert str(info.value).startswith(f"{tmp_path / 't.md'}:9: speaker '丙' has no voice: engines.espeak.pool has 2")
    assert not (tmp_path / "out").exists()


def test_kokoro_reads_an_english_turn_in_english_throughout() -> None:
    from audio_pipeline.engines.kokoro_phonemes import phonemize

    english = phonemize("We sold 3 phones in 2023.", "en")
    assert "θɹ" in english  # "three", not the Chinese "san" the Mandarin path would read
    assert "san" not in english and "θɹ" not in phonemize("We sold 3 phones.", "zh")
    assert phonemize("Let's go.", "en-gb") != "" and phonemize("Let's go.", "en") != ""


def test_native_voices_spell_acronyms_letter_by_letter() -> None:
    from audio_pipeline.engines.kokoro_phonemes import phonemize

    spelled = phonemize("我们的AGI和OpenAI。", spell_acronyms=True)
    assert "ei→ ʨi→ ai↘" in spelled and "ˈOpən ei→ ai↘" in spelled
    assert "ei→" not in phonemize("我们的AGI和OpenAI。")  # the Japanese voices' path is unchanged
    assert phonemize("DOTA和MiniMax。", spell_acronyms=True) == phonemize("DOTA和MiniMax。")


def test_the_seed_with_the_former_flat_voices_yaml_keeps_every_clip_key() -> None:
    """voices.yaml as shipped before languages (commit 9af0f81): every clip of the seed
    gets the voice spec, version and language (so, with the key test in
    test_voicepack.py, the key) it had. At 9af0f81 the seed's 189 kokoro keys hashed to
    66a9f1b4… with version "V1", and so they did here when this was written."""
    from audio_pipeline.model import VoiceSpec

    from .conftest import SEED

    vmap = voices.load(Path(__file__).parent / "data" / "voices-flat-9af0f81.yaml")
    parsed = transcript.read(SEED, vmap.speakers)
    jobs = synth.jobs_for(parsed, vmap, "kokoro", "V1")
    former = {
        None: VoiceSpec("kokoro", "jf_alpha"),
        "罗永浩": VoiceSpec("kokoro", "jm_kumo"),
        "闫俊杰": VoiceSpec("kokoro", "jm_kumo:0.6,jf_tebukuro:0.4", speed=1.08),
    }
    assert len(jobs) > 150
    assert all(job.request.spec == former[job.speaker] for job in jobs)
    assert all(job.request.lang == "zh" and job.request.engine_version == "V1" for job in jobs)


def test_languages_sharing_flat_voices_share_one_assignment(tmp_path: Path) -> None:
    """With only flat voices, a speaker's English turns get the voice of their Chinese
    ones, never another speaker's."""
    flat = voices.parse(
        "engines:\n  kokoro:\n    narrator: jf_alpha\n    pool: [jf_nezumi, jf_tebukuro, jf_gongitsune, jm_kumo]\n",
        "v.yaml",
    )
    names = ["甲", "乙", "丙", "丁"]
    text = "## 一\n\n" + "".join(f"**{n}**：大家好，我是{n}。\n\n" for n in names)
    text += "**丁**：Thank you all for coming today.\n"
    parsed = transcript.parse(text, "t.md")
    cast = flat.cast(parsed, "kokoro")
    assert len({cast.voice(n, "zh").voice for n in names}) == 4
    assert cast.voice("丁", "en") == cast.voice("丁", "zh")
