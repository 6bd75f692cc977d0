"""Real transcripts: every common marker style, timestamp form, stage direction and
block of markup; what is never spoken; warnings instead of silence."""

from __future__ import annotations

import codecs
import itertools
import json
import random
import unicodedata
from pathlib import Path

import pytest
from click.testing import CliRunner

from audio_pipeline import transcript
from audio_pipeline.cli import main
from audio_pipeline.errors import TranscriptError
from audio_pipeline.model import Transcript


def turns(doc: str, **kwargs: object) -> list[tuple[str | None, str]]:
    parsed = transcript.parse(doc, "t.md", **kwargs)  # type: ignore[arg-type]
    return [(t.speaker, t.text) for t in parsed.turns]


def around(line: str) -> str:
    """``line`` between two turns by Bob, so it is never the only marker in the file."""
    return f"**Bob:** Hi there.\n\n{line}\n\n**Bob:** Bye now.\n\n**Ann:** See you.\n"


MARKERS = [
    "**Ann:** Hello there.",
    "**Ann：** Hello there.",
    "**Ann**: Hello there.",
    "**Ann**：Hello there.",
    "**Ann :** Hello there.",
    "**Ann:**Hello there.",
    "__Ann:__ Hello there.",
    "*Ann:* Hello there.",
    "*Ann*: Hello there.",
    "- **Ann:** Hello there.",
    "* **Ann:** Hello there.",
    "1. **Ann:** Hello there.",
    "> **Ann:** Hello there.",
    "Ann: Hello there.",
    "Ann：Hello there.",
    "**Ann** Hello there.",
    "**Ann* Hello there.",
    "  **Ann:**   Hello there.",
]


@pytest.mark.parametrize("line", MARKERS)
def test_marker_styles(line: str) -> None:
    assert turns(around(line))[1] == ("Ann", "Hello there.")


@pytest.mark.parametrize("label", ["Speaker 1", "SPEAKER_00", "Speaker A", "说话人1", "发言人 2"])
@pytest.mark.parametrize("style", ["{}: Hello there.", "**{}:** Hello there."])
def test_generic_labels_are_speakers(label: str, style: str) -> None:
    doc = style.format(label) + "\n"
    assert turns(doc) == [(label, "Hello there.")]


def test_names_match_ignoring_case_and_spaces_and_show_the_most_frequent_spelling() -> None:
    doc = "**ANN:** One.\n\n**Ann:** Two.\n\n** Ann :** Three.\n\n**Bob:** Four.\n"
    assert [s for s, _ in turns(doc)] == ["Ann", "Ann", "Ann", "Bob"]


def test_bold_name_without_colon_needs_two_paragraphs_or_voices_yaml() -> None:
    once = "**Ann:** One.\n\n**Important** point here.\n\n**Ann:** Two.\n"
    assert turns(once) == [("Ann", "One.\nImportant point here."), ("Ann", "Two.")]
    twice = "**Ann** One.\n\n**Bob** Two.\n\n**Ann** Three.\n\n**Bob** Four.\n"
    assert [s for s, _ in turns(twice)] == ["Ann", "Bob", "Ann", "Bob"]
    assert [s for s, _ in turns("**Ann** One.\n\nMore.\n", known_speakers=["ANN"])] == ["Ann"]


def test_bold_name_on_its_own_line_above_the_turn() -> None:
    doc = "**Ann**\n\nOne.\n\n**Bob**\n\nTwo.\n\n**Ann**\n\nThree.\n\n**Bob**\n\nFour.\n"
    assert turns(doc) == [("Ann", "One."), ("Bob", "Two."), ("Ann", "Three."), ("Bob", "Four.")]


def test_bold_only_emphasis_line_is_not_a_speaker() -> None:
    doc = "**Ann:** One.\n\n**想象力和自信**\n\nMore.\n"
    assert turns(doc) == [("Ann", "One.\n想象力和自信\nMore.")]


def test_broken_bold_is_a_speaker_only_when_known_elsewhere() -> None:
    assert turns("**Ann:** One.\n\n**Bob* Two.\n") == [("Ann", "One.\nBob Two.")]
    assert turns("**Bob:** One.\n\n**Bob* Two.\n")[1] == ("Bob", "Two.")


def test_plain_names_are_markers_when_known() -> None:
    assert turns("**Ann:** One.\n\nBob: two.\n") == [("Ann", "One.\nBob: two.")]
    assert turns("**Ann:** One.\n\nBob: two.\n", known_speakers=["Bob"])[1] == ("Bob", "two.")
    # known from bold markers elsewhere in the file
    assert turns("**Ann:** One.\n\nAnn: two.\n") == [("Ann", "One."), ("Ann", "two.")]


def test_plain_dialogue_without_any_bold() -> None:
    doc = "Q: What is it?\nA: A tool.\nQ: Why?\nA: Because.\n"
    assert [s for s, _ in turns(doc)] == ["Q", "A", "Q", "A"]


def test_aliases_rename_labels() -> None:
    doc = "Speaker 0: Hello.\n\nSpeaker 1: Hi.\n\nSPEAKER 0: Bye.\n"
    aliases = {"speaker 0": "Prof. Lee"}
    assert [s for s, _ in turns(doc, aliases=aliases)] == ["Prof. Lee", "Speaker 1", "Prof. Lee"]


TIMESTAMPS = [
    ("[00:12:34] **Ann:** Hello there.", "00:12:34"),
    ("[0:12:34] **Ann:** Hello there.", "00:12:34"),
    ("[00:12:34.5] **Ann:** Hello there.", "00:12:34"),
    ("[12:34] **Ann:** Hello there.", "00:12:34"),
    ("(00:12:34) **Ann:** Hello there.", "00:12:34"),
    ("00:12:34 **Ann:** Hello there.", "00:12:34"),
    ("12:34 **Ann:** Hello there.", "00:12:34"),
    ("[00:12:34 - 00:13:00] **Ann:** Hello there.", "00:12:34"),
    ("[00:12:34:190 - 00:13:00:040] **Ann:** Hello there.", "00:12:34"),
    ("\\[0:12:34.9\\] **Ann** Hello there.", "00:12:34"),
    ("**[00:12:34] Ann:** Hello there.", "00:12:34"),
    ("**Ann** [00:12:34]: Hello there.", "00:12:34"),
    ("**Ann:** [00:12:34] Hello there.", "00:12:34"),
    ("**Ann:** Hello there. [00:12:34]", "00:12:34"),
    ("Ann [00:12:34]: Hello there.", "00:12:34"),
    ("[00:12:34](https://youtu.be/x?t=754) **Ann:** Hello there.", "00:12:34"),
    ("**Ann:** Hello there.", None),
]


@pytest.mark.parametrize(("line", "time"), TIMESTAMPS)
def test_timestamp_forms(line: str, time: str | None) -> None:
    parsed = transcript.parse(around(line), "t.md", known_speakers=["Ann"])
    turn = parsed.turns[1]
    assert (turn.speaker, turn.text, turn.time) == ("Ann", "Hello there.", time)


def test_timestamps_leave_continuations_headings_and_titles() -> None:
    doc = (
        "# [00:00:00] The Show\n\n## [00:01:02] Nathan Lambert intro\n\n"
        "**Ann:** [00:01:05] Hello there.\n\n00:01:09 And more, at 00:01:10 too.\n\n"
        "[00:01:20]\n\n**Bob:** Hi.\n"
    )
    parsed = transcript.parse(doc, "t.md")
    assert parsed.title == "The Show"
    assert [s.title for s in parsed.sections] == ["Nathan Lambert intro"]
    assert [(t.speaker, t.text, t.time) for t in parsed.turns] == [
        ("Ann", "Hello there.\nAnd more, at too.", "00:01:05"),
        ("Bob", "Hi.", "00:01:20"),  # a timestamp on its own line belongs to the turn below
    ]


def test_times_of_day_in_prose_stay() -> None:
    assert turns("**Ann:** We met at 7:30 and left at 9:15.\n")[0][1] == "We met at 7:30 and left at 9:15."


DIRECTIONS = [
    ("(laughs)", "(laughs)"),
    ("(intro music: electroswing)", "(intro music: electroswing)"),
    ("[inaudible]", "[inaudible]"),
    ("[inaudible 00:12:01]", "[inaudible]"),
    ("[crosstalk]", "[crosstalk]"),
    ("[music]", "[music]"),
    ("[MUSIC]", "[MUSIC]"),
    ("[applause]", "[applause]"),
    ("（笑）", "（笑）"),
    ("【掌声】", "【掌声】"),
    ("[笑]", "[笑]"),
    ("*(laughs)*", "(laughs)"),
    ("_[Laughter]_", "[Laughter]"),
    ("\\[crosstalk\\]", "[crosstalk]"),
]


@pytest.mark.parametrize(("written", "recorded"), DIRECTIONS)
def test_stage_directions_are_never_spoken(written: str, recorded: str) -> None:
    doc = f"**Ann:** Well {written} that is true.\n\n{written}\n\n**Bob:** {written}\n\nYes.\n"
    parsed = transcript.parse(doc, "t.md")
    ann, bob = parsed.turns
    assert ann.paragraphs == ("Well", "that is true.")  # the direction became a pause
    assert ann.directions == (recorded, recorded)
    assert bob.text == "Yes." and bob.directions == (recorded,)


def test_asides_in_brackets_keep_their_words() -> None:
    text = turns("**Ann:** I think [the company] said so (and I agree).\n")[0][1]
    assert text == "I think the company said so (and I agree)."


def test_direction_between_cjk_clauses_leaves_no_dangling_comma() -> None:
    assert transcript.parse("**甲：** 大家好（笑），欢迎。\n", "t.md").turns[0].paragraphs == ("大家好", "欢迎。")


@pytest.mark.parametrize(
    ("block", "notice"),
    [
        ("| a | b |\n|---|---|\n| secret | cell |", "table not read"),
        ("```\nsecret code\n```", "code block not read"),
        ("<details>\n<summary>secret</summary>\n\nsecret copy\n\n</details>", "<details> block not read"),
        ("[^1]: secret footnote\n    secret more", "footnote not read"),
        ("- [Intro](#intro)\n- [Secret part](#secret)\n- [00:10:00 Outro](#outro)", "table of contents not read"),
        ("- 00:00 Intro\n- 03:15 Secret talk\n- 10:00 Outro", "table of contents not read"),
    ],
)
def test_skipped_blocks_get_one_notice_with_their_line(block: str, notice: str) -> None:
    doc = f"**Ann:** One.\n\n{block}\n\n**Ann:** Two.\n"
    parsed = transcript.parse(doc, "t.md")
    assert [t.text for t in parsed.turns] == ["One.", "Two."]
    assert [(n.line, n.message) for n in parsed.notices] == [(3, notice)]
    assert "secret" not in json.dumps(transcript.to_json(parsed)).lower()


def test_html_tags_and_footnote_references_are_not_spoken() -> None:
    assert turns("**Ann:** <b>Bold</b> claim<br/>here[^1].\n")[0][1] == "Bold claimhere."


def test_table_of_contents_section_and_bare_divider_make_no_episode() -> None:
    doc = (
        "# Show\n\n## Contents\n\n- Intro\n- Part two\n\n## Intro\n\n**Ann:** One.\n\n"
        "## Transcript\n\n## Part two\n\n**Ann:** Two.\n"
    )
    parsed = transcript.parse(doc, "t.md")
    assert [s.title for s in parsed.sections] == ["Intro", "Part two"]
    assert [s.index for s in parsed.sections] == [1, 2]
    messages = [(n.line, n.message) for n in parsed.notices]
    assert (3, "table of contents not read") in messages
    assert (12, "section 'Transcript' has nothing to read: no episode") in messages


def test_metadata_block_before_the_first_turn_is_narration() -> None:
    doc = (
        "# 访谈\n\n- **嘉宾**：Quintus\n- **主持人**：小王\n\n**主题：** 大模型\n\n"
        "**主持人**：大家好。\n\n**Quintus**：谢谢。\n\n**主持人**：好的。\n"
    )
    parsed = transcript.parse(doc, "t.md")
    assert [(t.speaker, t.paragraphs) for t in parsed.turns] == [
        (None, ("嘉宾：Quintus", "主持人：小王", "主题：大模型")),
        ("主持人", ("大家好。",)),
        ("Quintus", ("谢谢。",)),
        ("主持人", ("好的。",)),
    ]
    assert not [n for n in parsed.notices if n.level == "warning"]


def test_a_transcript_that_opens_with_consecutive_turns_is_not_metadata() -> None:
    doc = "**Ann:** Hi.\n**Bob:** Hello.\n\n**Ann:** How are you?\n\n**Bob:** Fine.\n"
    assert [s for s, _ in turns(doc)] == ["Ann", "Bob", "Ann", "Bob"]


def test_bulleted_transcript() -> None:
    doc = "- **Ann:** Hi.\n- **Bob:** Hello.\n- **Ann:** Bye.\n"
    assert turns(doc) == [("Ann", "Hi."), ("Bob", "Hello."), ("Ann", "Bye.")]


def test_language_labels_continue_the_speaker() -> None:
    doc = "**Ann:**\n**EN:** Hello there.\n**CN:** 你好。\n\n**Bob:**\n**EN:** Hi.\n**CN:** 嗨。\n"
    assert turns(doc) == [("Ann", "Hello there."), ("Ann", "你好。"), ("Bob", "Hi."), ("Bob", "嗨。")]


def test_list_items_are_sentences_of_their_own() -> None:
    parsed = transcript.parse("**Ann:** Three things:\n- apples\n- pears\n1. plums\n", "t.md")
    assert parsed.turns[0].paragraphs == ("Three things:", "apples", "pears", "plums")


def test_lines_join_with_a_space_in_latin_text_and_nothing_in_cjk() -> None:
    parsed = transcript.parse("**Ann:** We met at the meetup.\nThree came.\n\n**甲：** 我们\n见面了。\n", "t.md")
    assert [t.text for t in parsed.turns] == ["We met at the meetup. Three came.", "我们见面了。"]


# -- round trip: nothing speakable is lost ------------------------------------------


def speakable_chars(text: str) -> int:
    return sum(1 for ch in text if unicodedata.category(ch)[0] in "LN")


SENTENCES = ["Hello there, friend.", "We shipped version 2 today.", "大家好，欢迎收听。", "这是第3期节目。", "OK then."]
STYLES = ["**{n}:** {t}", "**{n}**: {t}", "- **{n}:** {t}", "__{n}:__ {t}", "> **{n}:** {t}", "**{n}** {t}"]
STAMPS = ["", "[00:01:02] ", "\\[0:01:02.5\\] ", "(00:01:02) ", "[00:00:07:190 - 00:00:34:040] "]
NOTES = ["", " (laughs)", " [crosstalk]", " （笑）"]


def test_round_trip_keeps_every_speakable_character() -> None:
    rng = random.Random(7)
    for _ in range(60):
        names = rng.sample(["Ann", "Bob", "Chen Li", "Speaker 3", "罗永浩"], 3)
        lines, expected = [], []
        for i in range(rng.randint(6, 9)):  # every name opens two turns
            name = names[i % len(names)]
            text = rng.choice(SENTENCES)
            style, stamp, note = rng.choice(STYLES), rng.choice(STAMPS), rng.choice(NOTES)
            lines.append(stamp + style.format(n=name, t=text) + note)
            expected.append((name, text))
        doc = "\n\n".join(lines) + "\n"
        parsed = transcript.parse(doc, "t.md")
        assert [(t.speaker, t.text) for t in parsed.turns] == expected, doc
        spoken = sum(speakable_chars(t.text) for t in parsed.turns)
        assert spoken == sum(speakable_chars(text) for _, text in expected)


# -- input that must read ----------------------------------------------------------


DOC = "**Ann:** Hello.\n\n**Bob:** 你好。"


@pytest.mark.parametrize(
    "data",
    [
        codecs.BOM_UTF16_LE + DOC.encode("utf-16-le"),
        codecs.BOM_UTF16_BE + DOC.encode("utf-16-be"),
        codecs.BOM_UTF8 * 2 + DOC.encode("utf-8"),
        DOC.replace("\n", "\r").encode("utf-8"),
        DOC.replace("\n", "\r\n").encode("utf-8"),
        DOC.encode("utf-8"),  # no final newline
    ],
)
def test_encodings_and_line_ends(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "t.md"
    path.write_bytes(data)
    parsed = transcript.read(path)
    assert [(t.speaker, t.text, t.line) for t in parsed.turns] == [("Ann", "Hello.", 1), ("Bob", "你好。", 3)]


def test_latin1_is_still_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "t.md"
    path.write_bytes("**Ann:** caf\u00e9\n".encode("latin-1"))
    with pytest.raises(TranscriptError, match="not UTF-8"):
        transcript.read(path)


# -- warnings instead of silence ----------------------------------------------------


def warnings_of(parsed: Transcript) -> list[str]:
    return [f"{n.line}: {n.message}" for n in parsed.notices if n.level == "warning"]


def test_warning_when_no_speaker_is_found() -> None:
    doc = "Intro text.\n\nAnn - hello there.\n\nBob - hi.\n\nAnn - bye.\n\nBob - ok.\n"
    assert warnings_of(transcript.parse(doc, "t.md")) == [
        "3: no speaker markers recognised: all 5 paragraphs are read by the narrator; "
        "line 3 looks like an unrecognised speaker marker"
    ]


def test_no_warning_for_a_short_note_without_speakers() -> None:
    assert warnings_of(transcript.parse("Just a note.\n\nAnother line.\n", "t.md")) == []


def test_warning_when_most_text_is_narration() -> None:
    doc = "Bob -- a long answer, one.\n\nBob -- long answer two.\n\n**Ann:** Hi.\n"
    assert warnings_of(transcript.parse(doc, "t.md")) == [
        "1: 94% of the text is read by the narrator although it has speakers; "
        "line 1 looks like an unrecognised speaker marker"
    ]


def test_warning_when_an_unknown_label_keeps_opening_paragraphs() -> None:
    doc = "**Ann:** Hi.\n\nBob -- long answer one.\n\nBob -- long answer two.\n"
    assert warnings_of(transcript.parse(doc, "t.md")) == [
        "3: 2 paragraphs open with 'bob' like a speaker marker, but it is not one; "
        "write it as **Name:** or list the name under speakers in voices.yaml"
    ]


def test_no_warning_on_the_seed() -> None:
    seed = Path(__file__).resolve().parents[1] / "seeds" / "luo-yonghao-yan-junjie.md"
    assert transcript.read(seed).notices == ()


def test_cli_prints_speakers_notices_and_warnings_on_stderr(tmp_path: Path) -> None:
    path = tmp_path / "t.md"
    path.write_text("**Ann:** One.\n\n| a | b |\n|---|---|\n\n**Bob:** Two.\n\n**Ann:** Three.\n", "utf-8")
    result = CliRunner().invoke(main, ["parse", str(path), "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["sections"][0]["turns"][0] == {
        "speaker": "Ann",
        "text": "One.",
        "line": 1,
        "time": None,
        "directions": [],
    }
    assert result.stderr.splitlines() == [
        f"notice: {path}:3: table not read",
        "speaker: Ann (2 turns)",
        "speaker: Bob (1 turn)",
    ]


@pytest.mark.parametrize(("a", "b"), list(itertools.combinations(["**X:**", "X:", "**X**"], 2)))
def test_marker_styles_mix_in_one_file(a: str, b: str) -> None:
    doc = f"{a.replace('X', 'Ann')} One.\n\n{b.replace('X', 'Bob')} Two.\n\n{a.replace('X', 'Ann')} Three.\n\n"
    doc += f"{b.replace('X', 'Bob')} Four.\n"
    assert [s for s, _ in turns(doc)] == ["Ann", "Bob", "Ann", "Bob"]


# -- shapes of real exports (the adversarial corpus in fixtures/ has whole files) -------

EXPORT_MARKERS = [
    "***Ann:*** Hello there.",
    "**_Ann:_** Hello there.",
    "🎙️ **Ann:** Hello there.",
    "[Ann]: Hello there.",
    "[Ann:] Hello there.",
    "<v Ann>Hello there.</v>",
    "`[00:00:05]` **Ann:** Hello there.",
    "*[00:12:47]* **Ann:** Hello there.",
    '<span class="ts">00:01:20</span> **Ann:** Hello there.',
    "[00:01:12 → 00:01:20] **Ann:** Hello there.",
    "[00:00:04;12] **Ann:** Hello there.",
    "**Ann, research scientist at Lumen Labs:** Hello there.",
    "**Ann (Stanford):** Hello there.",
    "**Ann**（主持人）：Hello there.",
    "**Ann —** Hello there.",
]


@pytest.mark.parametrize("line", EXPORT_MARKERS)
def test_export_marker_styles(line: str) -> None:
    parsed = transcript.parse(around(line), "t.md")
    assert (parsed.turns[1].speaker, parsed.turns[1].text) == ("Ann", "Hello there.")


def test_name_and_clock_above_the_text() -> None:
    doc = "Maya Okafor  0:03\nOkay, let's start.\n\nJon Ames  0:09\nSure.\n\nMaya Okafor  0:15\nGood.\n"
    parsed = transcript.parse(doc, "t.md")
    assert [(t.speaker, t.text, t.time) for t in parsed.turns] == [
        ("Maya Okafor", "Okay, let's start.", "00:00:03"),
        ("Jon Ames", "Sure.", "00:00:09"),
        ("Maya Okafor", "Good.", "00:00:15"),
    ]
    zh = "发言人1 00:00\n大家好。\n\n发言人2 00:05\n你好。\n"
    assert turns(zh) == [("发言人1", "大家好。"), ("发言人2", "你好。")]


def test_labels_in_lenticular_brackets_and_with_a_bar() -> None:
    doc = "【主持人】欢迎。\n\n【嘉宾】谢谢。\n\n【主持人】开始吧。\n\n【嘉宾】好。\n"
    assert [s for s, _ in turns(doc)] == ["主持人", "嘉宾", "主持人", "嘉宾"]
    doc = "主持人｜欢迎。\n\n陈默｜谢谢。\n\n主持人｜开始吧。\n\n陈默｜好。\n"
    assert [s for s, _ in turns(doc)] == ["主持人", "陈默", "主持人", "陈默"]


def test_hearing_and_deposition_labels() -> None:
    doc = "The CHAIRMAN. The hearing will come to order.\n\nMr. O'BRIEN. Thank you.\n\nThe CHAIRMAN. Go on.\n"
    assert [s for s, _ in turns(doc)] == ["The CHAIRMAN", "Mr. O'BRIEN", "The CHAIRMAN"]
    doc = "Q. Where were you?\n\nA. At home.\n\nQ. Alone?\n\nA. Yes.\n"
    assert [s for s, _ in turns(doc)] == ["Q", "A", "Q", "A"]


def test_names_in_headings_above_their_turns() -> None:
    doc = "### Ruth\n\nOne.\n\n### Ben\n\nTwo.\n\n### Ruth\n\nThree.\n"
    assert turns(doc) == [("Ruth", "One."), ("Ben", "Two."), ("Ruth", "Three.")]


def test_turns_run_together_on_one_line() -> None:
    doc = "[Ann:] Good morning. [Bob:] Hi.\n\n[Ann:] Let's start. [Bob:] Right.\n"
    assert turns(doc) == [("Ann", "Good morning."), ("Bob", "Hi."), ("Ann", "Let's start."), ("Bob", "Right.")]


def test_a_lone_first_speaker_and_show_notes_after_the_talk() -> None:
    doc = (
        "**Moderator:** Welcome everyone to the panel tonight.\n\n**Ann:** Hi.\n\n**Bob:** Hello.\n\n"
        "**Ann:** Bye.\n\n**Bob:** Bye.\n\n- **Paper:** Attention is all you need\n- **Dataset:** C4\n\n"
        "**Note:** Recorded in March.\n"
    )
    parsed = transcript.parse(doc, "t.md")
    assert [t.speaker for t in parsed.turns] == ["Moderator", "Ann", "Bob", "Ann", "Bob", None]
    notes = ("Paper: Attention is all you need", "Dataset: C4", "Note: Recorded in March.")
    assert parsed.turns[-1].paragraphs == notes


def test_caption_files_lose_their_cue_ids() -> None:
    doc = "WEBVTT\n\n1\n00:00:01.000 --> 00:00:03.000\nAnn: Hello.\n\n2\n00:00:03.500 --> 00:00:05.000\nBob: Hi.\n"
    doc += "\n3\n00:00:05.000 --> 00:00:06.000\nAnn: Bye.\n\n4\n00:00:06.000 --> 00:00:07.000\nBob: Bye.\n"
    assert turns(doc) == [("Ann", "Hello."), ("Bob", "Hi."), ("Ann", "Bye."), ("Bob", "Bye.")]


def test_front_matter_in_toml_and_setext_headings() -> None:
    doc = '+++\ntitle = "Diaries"\n+++\n\nPart one\n--------\n\n**Ivy:** Late again.\n\n**Raj:** Cold nights.\n'
    parsed = transcript.parse(doc, "t.md")
    assert parsed.title == "Diaries" and [s.title for s in parsed.sections] == ["Part one"]


def test_several_h1_headings_are_chapters() -> None:
    doc = "# Show\n\n# Part 1\n\n**Ann:** One.\n\n# Part 2\n\n**Ann:** Two.\n"
    parsed = transcript.parse(doc, "t.md")
    assert parsed.title == "Show" and [s.title for s in parsed.sections] == ["Part 1", "Part 2"]


@pytest.mark.parametrize(
    "written",
    ["*laughs*", "[indistinct radio chatter]", "[foreign language]", "(Through interpreter)", "♪ ♪", "(rires)",
     "[musique]", "[off mic]"],
)
def test_more_directions(written: str) -> None:
    parsed = transcript.parse(f"**Ann:** Yes {written} indeed.\n", "t.md")
    assert parsed.turns[0].paragraphs == ("Yes", "indeed.")


def test_prose_time_at_a_line_start_stays_but_timestamped_files_lose_theirs() -> None:
    assert turns("**Ann:** Busy.\n\n11:45 is when it calms down.\n")[0][1] == "Busy.\n11:45 is when it calms down."
    doc = "0:00\nso today\n0:04 we talk\n0:09 about this\n"
    assert turns(doc) == [(None, "so today we talk about this")]


def test_legends_and_editors_notes_in_parentheses_are_spoken() -> None:
    parsed = transcript.parse("（A＝记者 林晓；B＝受访者 周敏）\n\n**A：** 你好。\n\n**B：** 你好。\n", "t.md")
    assert parsed.turns[0] == parsed.turns[0].__class__(None, ("（A＝记者 林晓；B＝受访者 周敏）",), 1)


def test_a_table_with_speaker_and_text_columns_is_the_transcript() -> None:
    doc = "| Time | Speaker | Text |\n|---|---|---|\n| 00:00:01 | Agent | Hello. |\n| 00:00:05 | Caller | Hi. |\n"
    parsed = transcript.parse(doc, "t.md")
    assert [(t.speaker, t.text, t.time) for t in parsed.turns] == [
        ("Agent", "Hello.", "00:00:01"),
        ("Caller", "Hi.", "00:00:05"),
    ]
    assert parsed.notices == ()


def test_aliases_from_voices_yaml_rename_speakers_before_voices(tmp_path: Path) -> None:
    from .conftest import VOICES

    config = tmp_path / "voices.yaml"
    text = VOICES.read_text("utf-8")
    assert "\naliases: {}" in text  # the shipped file names the key, empty
    config.write_text(text.replace("\naliases: {}", '\naliases: {"Speaker 0": "Prof. Lee"}'), "utf-8")
    talk = tmp_path / "t.md"
    talk.write_text("Speaker 0: Hello.\n\nSpeaker 1: Hi.\n\nspeaker 0: Bye.\n", "utf-8")
    result = CliRunner().invoke(main, ["parse", str(talk), "--config", str(config), "--json"])
    assert result.exit_code == 0, result.output
    speakers = [t["speaker"] for s in json.loads(result.stdout)["sections"] for t in s["turns"]]
    assert speakers == ["Prof. Lee", "Speaker 1", "Prof. Lee"]
    voices_out = CliRunner().invoke(main, ["voices", str(talk), "--config", str(config), "--json"])
    assert "Prof. Lee" in {row["speaker"] for row in json.loads(voices_out.stdout)}
