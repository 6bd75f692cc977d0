"""Numbers rewritten before cn2an-style reading: the forms cn2an's ``an2cn`` misreads.

Both Mandarin paths use it: Kokoro's (misaki's G2P runs cn2an) and espeak's (which then
spells every number out with :mod:`.numbers_zh`). Pure text, no heavy imports.
"""

from __future__ import annotations

import re

from . import numbers_zh

_NUM = r"\d+(?:\.\d+)?"
_RANGE_DASH = r"[-‐‑–—－~～]"
# Two numbers joined by a dash or tilde: a range ("10-20人", "3~5年", "10%-20%").
_RANGE_RE = re.compile(rf"(?<![0-9A-Za-z.\-])({_NUM})(%?)\s*{_RANGE_DASH}\s*({_NUM})(%?)(?![0-9A-Za-z.])")
# A hyphen between a model name and its number: "GPT-3.5", "GPT-4o", "Qwen2.5-72B".
_MODEL_RE = re.compile(rf"([A-Za-z][A-Za-z0-9.]*)[-‐‑–－]({_NUM})")
# Clock times: "7:30", "23:05" (not ratios like "3:2", not "1:30:00").
_TIME_RE = re.compile(r"(?<![\d:.])([01]?\d|2[0-3]):([0-5]\d)(?![\d:])")
# ISO-like dates: "2023-10-01", "2023/10/1".
_DATE_RE = re.compile(r"(?<![\d.])(\d{4})([-/])(\d{1,2})\2(\d{1,2})(?![\d.])")
# Thousands separators: "1,000", "12,345,678".
_THOUSANDS_RE = re.compile(r"(?<![\d.,])\d{1,3}(?:,\d{3})+(?![\d,]|\.\d)")


def _cn(number: str) -> str:
    """Read a number ("3.5", "20") the way cn2an does in running text."""
    return numbers_zh.an2cn(number, "low")


def _cn_year(digits: str) -> str:
    """Read a year digit by digit: 2014 -> 二零一四."""
    return numbers_zh.an2cn(digits, "direct")


def _range(match: re.Match[str]) -> str:
    first, pct1, second, pct2 = match.groups()
    after = match.string[match.end() : match.end() + 1]
    if pct1 or pct2:
        return f"百分之{_cn(first)}到百分之{_cn(second)}"
    if after == "年" and len(first) == 4 and len(second) == 4 and first.isdigit():
        return f"{_cn_year(first)}到{_cn_year(second)}"
    return f"{_cn(first)}到{_cn(second)}"


def _model_name(match: re.Match[str]) -> str:
    return f"{match.group(1)} {_cn(match.group(2))}"


def _clock(match: re.Match[str]) -> str:
    hour, minute = match.group(1), match.group(2)
    if minute == "00":
        return f"{_cn(hour)}点"
    if minute.startswith("0"):
        return f"{_cn(hour)}点零{_cn(minute[1])}"
    return f"{_cn(hour)}点{_cn(minute)}"


def _date(match: re.Match[str]) -> str:
    year, _, month, day = match.groups()
    if not (1 <= int(month) <= 12 and 1 <= int(day) <= 31):
        return match.group(0)
    return f"{_cn_year(year)}年{_cn(str(int(month)))}月{_cn(str(int(day)))}日"


# Full-width digits, Latin letters and percent sign -> ASCII ("ＧＰＴ４" -> "GPT4").
_HALFWIDTH = {
    code: code - 0xFEE0 for code in (*range(0xFF10, 0xFF1A), *range(0xFF21, 0xFF3B), *range(0xFF41, 0xFF5B), 0xFF05)
}


def normalize_numbers(text: str) -> str:
    """Rewrite the number forms that cn2an's ``an2cn`` (misaki's number step) misreads.

    cn2an takes a hyphen before a digit for a minus sign and leaves clock times and
    dates alone, so before it runs: ``GPT-3.5`` -> ``GPT 三点五``, ranges
    ``10-20人`` -> ``十到二十人`` (``10%-20%`` -> ``百分之十到百分之二十``), times
    ``7:30`` -> ``七点三十``, dates ``2023-10-01`` -> ``二零二三年十月一日``, and
    thousands separators ``1,000`` -> ``1000``. Everything cn2an already reads right
    (``1/3``, ``50%``, ``2014年``, ``-5度``, ``3.5``) is left as it is. Full-width
    digits, Latin letters and ``％`` are made ASCII first.
    """
    text = text.translate(_HALFWIDTH)
    text = _THOUSANDS_RE.sub(lambda m: m.group(0).replace(",", ""), text)
    text = _DATE_RE.sub(_date, text)
    text = _TIME_RE.sub(_clock, text)
    text = _RANGE_RE.sub(_range, text)
    text = _MODEL_RE.sub(_model_name, text)
    return text
