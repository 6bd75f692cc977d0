"""normalize_numbers rewrites what cn2an (misaki's number step) would misread."""

from __future__ import annotations

import cn2an
import pytest

from audio_pipeline.textnorm.numbers import normalize_numbers

CASES = [
    # model names: a hyphen before a digit is not a minus sign
    ("OpenAI的GPT-3.5发布了。", "OpenAI的GPT 三点五发布了。"),
    ("GPT-4就是多模态整合的成功案例", "GPT 四就是多模态整合的成功案例"),
    ("GPT-5", "GPT 五"),
    ("GPT-4o", "GPT 四o"),
    ("Qwen2.5-72B", "Qwen2.5 七十二B"),
    ("COVID-19疫情", "COVID 十九疫情"),
    # ranges
    ("10-20人", "十到二十人"),
    ("3~5年", "三到五年"),
    ("3～5年", "三到五年"),
    ("1.5-2倍", "一点五到二倍"),
    ("10%-20%", "百分之十到百分之二十"),
    ("10-20%", "百分之十到百分之二十"),
    ("2019-2020年", "二零一九到二零二零年"),
    # clock times
    ("7:30", "七点三十"),
    ("早上7:05出发", "早上七点零五出发"),
    ("23:00", "二十三点"),
    # dates and thousands separators
    ("2023-10-01", "二零二三年十月一日"),
    ("1,000人", "1000人"),
    ("12,345,678元", "12345678元"),
    # full-width forms
    ("ＧＰＴ－４", "GPT 四"),
    ("１０－２０人", "十到二十人"),
    ("增长５０％", "增长50%"),
    # already right in cn2an: left alone
    ("1/3", "1/3"),
    ("50%", "50%"),
    ("2014年", "2014年"),
    ("100万小时", "100万小时"),
    ("-5度", "-5度"),
    ("DOTA 2", "DOTA 2"),
    ("比分3:2", "比分3:2"),
    ("没有数字", "没有数字"),
    ("", ""),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_normalize_numbers(text: str, expected: str) -> None:
    assert normalize_numbers(text) == expected


# What misaki finally reads after the normalization (cn2an's an2cn step included).
SPOKEN = [
    ("GPT-3.5", "GPT 三点五"),
    ("10-20人", "十到二十人"),
    ("7:30", "七点三十"),
    ("1/3", "三分之一"),
    ("50%", "百分之五十"),
    ("2014年", "二零一四年"),
    ("100万小时", "一百万小时"),
]


@pytest.mark.parametrize(("text", "expected"), SPOKEN)
def test_reading_after_cn2an(text: str, expected: str) -> None:
    assert cn2an.transform(normalize_numbers(text), "an2cn") == expected


def test_idempotent() -> None:
    for text, _ in CASES:
        once = normalize_numbers(text)
        assert normalize_numbers(once) == once
