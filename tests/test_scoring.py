"""Scoring what was heard: pinyin and word units, numbers read as spoken, error rates,
the worst spans, and lexicon suggestions (pypinyin comes with misaki[zh]: no recognizer)."""

from __future__ import annotations

from audio_pipeline.check import scoring


def test_units_compare_pinyin_and_latin_words() -> None:
    simplified = scoring.units("图书馆这个东西", "zh")
    traditional = scoring.units("圖書館這個東西", "zh")
    assert (
        [u.token for u in simplified]
        == [u.token for u in traditional]
        == ["tu", "shu", "guan", "zhe", "ge", "dong", "xi"]
    )
    # A heard heteronym matches any of its readings: 音乐 (yue) heard as 音樂 (le by default).
    assert scoring.score("他在成长，喜欢音乐。", "他在成長喜歡音樂").error_rate == 0.0
    assert scoring.score("他在成长。", "他在成场").error_rate == 0.25  # zhang, not chang
    mixed = scoring.units("我们用了OpenAI的模型", "zh")
    assert [u.token for u in mixed] == ["wo", "men", "yong", "le", "openai", "de", "mo", "xing"]
    assert [u.latin for u in mixed].count(True) == 1


def test_numbers_read_as_spoken() -> None:
    same = [
        ("GPT-3.5发布", "GPT三点五发布"),
        ("2022年", "二零二二年"),
        ("增长50%", "增长百分之五十"),
        ("约200亿", "约两百亿"),
    ]
    for written, spoken in same:
        assert scoring.score(written, spoken).error_rate == 0.0, (written, spoken)


def test_score_error_rate_and_worst_spans() -> None:
    result = scoring.score(
        "今天我们聊聊人工智能。我们用了OpenAI的GPT模型，效果很好。",
        "今天,我們聊聊人工圈我們用了OpenAI的GPD模型效果很好",
    )
    assert result.length == 23 and result.distance == 3
    assert result.error_rate == round(3 / 23, 4)
    assert result.worst[0].expected == "智能" and result.worst[0].heard == "圈"
    assert ("GPT", "GPD") in [(s.expected, s.heard) for s in result.worst]
    assert result.failed_words == ("GPT",) and result.words == ("OpenAI", "GPT")


def test_score_english_words() -> None:
    result = scoring.score("Hello world, this is a test.", "hello word this is test")
    assert result.error_rate == round(2 / 6, 4)
    assert {(s.expected, s.heard) for s in result.worst} == {("world", "word"), ("a", "")}


def test_score_nothing_heard_and_nothing_expected() -> None:
    assert scoring.score("你好世界", "").error_rate == 1.0
    assert scoring.score("", "").error_rate == 0.0
    assert scoring.score("", "嗯").error_rate == 1.0


def test_align_runs() -> None:
    distance, runs = scoring.align(list("abcdef"), list("abxdef"))
    assert distance == 1 and runs == [(2, 3, 2, 3)]
    distance, runs = scoring.align(list("abc"), [])
    assert distance == 3 and runs == [(0, 3, 0, 0)]


def test_language_of() -> None:
    assert scoring.language_of("我们用了OpenAI的GPT模型") == "zh"
    assert scoring.language_of("Hello there, my friend, 你好") == "en"
    assert scoring.language_of("1234") == "en"


def test_suggest_lexicon_keeps_words_that_keep_failing() -> None:
    a = scoring.score("我们用OpenAI和Claude。", "我们用欧喷和Claude。")
    b = scoring.score("Claude和DOTA。", "克劳德和DOTA。")
    c = scoring.score("Claude很好。", "Claude很好。")
    # OpenAI: failed in its only occurrence; Claude: failed once in three; DOTA: never.
    assert scoring.suggest_lexicon([a, b, c]) == ["OpenAI"]
    d = scoring.score("Claude来了。", "克劳德来了。")
    assert scoring.suggest_lexicon([a, b, c, d]) == ["Claude", "OpenAI"]
    assert scoring.suggest_lexicon([a, b, c, d], known=["claude"]) == ["OpenAI"]


def test_judge() -> None:
    good = scoring.score("今天我们聊聊人工智能。", "今天我们聊聊人工智能")
    assert scoring.judge(good, []) == "pass"
    assert scoring.judge(good, ["silence of 4.0 s at 1.0 s"]) == "fail"  # a fast-check problem fails it
    wrong = scoring.score("今天我们聊聊人工智能。", "明天下雨")
    assert scoring.judge(wrong, []) == "fail"
    assert scoring.judge(wrong, [], threshold=5.0) == "pass"
    # Three syllables heard wrong: too short for the recognizer to judge.
    assert scoring.judge(scoring.score("二、结尾", "R2A"), []) == "unsure"
