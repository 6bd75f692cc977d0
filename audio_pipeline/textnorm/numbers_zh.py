"""Arabic numbers read out in Chinese, as cn2an 0.5 reads them (its "an2cn" direction).

Why not cn2an itself: importing it compiles ~30 large regular expressions for the
other direction (Chinese to Arabic) and costs ~0.3 s, a tenth of an edited turn's
whole render, while the direction needed here is a few small rules. The rules below
follow cn2an's ``An2Cn.an2cn`` ("low" and "direct" modes) and the "an2cn" branch of
``Transform.transform`` case for case, quirks included; the tests hold them to
cn2an's own output on the seed, on every integer up to 10^5 and on generated text.
"""

from __future__ import annotations

import re
from collections.abc import Callable

NUMERALS = "零一二三四五六七八九"
#: The unit after the digit at each place (ones first), up to 16 places as cn2an.
UNITS = ("", "十", "百", "千", "万", "十", "百", "千", "亿", "十", "百", "千", "万", "十", "百", "千")
MEASURE_WORDS = (
    "斤|克|千克|公斤|吨|米|厘米|毫米|公里|升|毫升|元|角|分|个|只|条|张|块|瓶|杯|份|本|"
    "辆|台|匹|头|位|亩|小时|分钟|秒|天|半"
)
_VALID = frozenset("0123456789.-")
_FULL_WIDTH = str.maketrans("０１２３４５６７８９．－", "0123456789.-")
_WAN_ZERO_QIAN = re.compile(r"([万亿])零([一二三四五六七八九壹贰叁肆伍陆柒捌玖][千仟])")

_RANGE = re.compile(rf"\d+(\.\d+)?-\d+(\.\d+)?(?=({MEASURE_WORDS}))")
_DATE = re.compile(r"(\d{2,4}年)?(\d{1,2}月)?(\d{1,2}日)?")
_YEAR_DIGITS = re.compile(r"\d+(?=年)")
_DIGITS = re.compile(r"\d+")
_FRACTION = re.compile(r"\d+/\d+")
_PERCENT = re.compile(r"-?(\d+\.)?\d+%")
_CELSIUS = re.compile(r"\d+℃")
_NUMBER = re.compile(r"-?(\d+\.)?\d+")


def _integer(digits: str) -> str:
    digits = str(int(digits))  # 007 -> 7
    n = len(digits)
    if n > len(UNITS):
        raise ValueError(f"{n} digits: at most {len(UNITS)} are read")
    out = ""
    for i, d in enumerate(digits):
        place = n - i - 1
        if d != "0":
            out += NUMERALS[int(d)] + UNITS[place]
        else:
            if place % 4 == 0:  # a 万 or 亿 group ends here
                out += "零" + UNITS[place]
            if i > 0 and out[-1] != "零":
                out += "零"
    out = out.replace("零零", "零").replace("零万", "万").replace("零亿", "亿").replace("亿万", "亿").strip("零")
    out = _WAN_ZERO_QIAN.sub(r"\1\2", out)
    if out.startswith("一十"):  # 十二, not 一十二
        out = out[1:]
    return out or "零"


def an2cn(number: str, mode: str = "low") -> str:
    """``"2022"`` -> 二千零二十二 (``low``), 二零二二 (``direct``: digit by digit);
    decimals ("3.50" -> 三点五零) and a leading minus (负). ValueError when not a number."""
    number = number.translate(_FULL_WIDTH)
    if not number or not set(number) <= _VALID:
        raise ValueError(f"not a number: {number!r}")
    sign = ""
    if number[0] == "-":
        sign, number = "负", number[1:]
    if mode == "direct":
        return sign + "".join("点" if d == "." else NUMERALS[int(d)] for d in number)
    if mode != "low":
        raise ValueError(f"unknown mode {mode!r}")
    parts = number.split(".")
    if len(parts) == 1:
        return sign + _integer(parts[0])
    if len(parts) == 2:
        decimals = parts[1][:16]  # cn2an keeps 16 places
        return sign + _integer(parts[0]) + ("点" if decimals else "") + "".join(NUMERALS[int(d)] for d in decimals)
    raise ValueError(f"not a number: {number!r}")


def _reading(read: Callable[[str], str]) -> Callable[[re.Match[str]], str]:
    """A substitution that leaves the match as written when it cannot be read (cn2an
    warns and does the same, e.g. for numbers longer than 16 digits)."""

    def sub(match: re.Match[str]) -> str:
        text = match.group()
        if not text:
            return text
        try:
            return read(text)
        except ValueError:
            return text

    return sub


def _low(match: re.Match[str]) -> str:
    return an2cn(match.group(), "low")


def _date(text: str) -> str:
    text = _YEAR_DIGITS.sub(lambda m: an2cn(m.group(), "direct"), text)  # 2022年 -> 二零二二年
    return _DIGITS.sub(_low, text)


def _fraction(text: str) -> str:
    numerator, denominator = _DIGITS.sub(_low, text).split("/")
    return f"{denominator}分之{numerator}"


def _range(text: str) -> str:
    start, end = text.split("-")
    return f"{an2cn(start)}到{an2cn(end)}"


def transform(text: str) -> str:
    """Every number in ``text`` read out: ranges before a measure word (10-20个 ->
    十到二十个), dates (2022年12月3日), fractions (1/3 -> 三分之一), percentages,
    degrees Celsius, then any other number."""
    text = _RANGE.sub(_reading(_range), text)
    text = _DATE.sub(_reading(_date), text)
    text = _FRACTION.sub(_reading(_fraction), text)
    text = _PERCENT.sub(_reading(lambda t: "百分之" + an2cn(t[:-1])), text)
    text = _CELSIUS.sub(_reading(lambda t: an2cn(t[:-1]) + "摄氏度"), text)
    return _NUMBER.sub(_reading(an2cn), text)
