"""numbers_zh reads numbers exactly as cn2an does (cn2an, installed with misaki[zh], is the oracle)."""

from __future__ import annotations

import random
import warnings

import cn2an
import pytest

from audio_pipeline.textnorm import numbers_zh

from .conftest import SEED


def _oracle(call, *args):  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cn2an warns where it gives up (and returns the input)
        try:
            return call(*args)
        except Exception:  # its an2cn raises bare ValueErrors and worse on odd input
            return ValueError


def _ours(call, *args):  # type: ignore[no-untyped-def]
    try:
        return call(*args)
    except ValueError:
        return ValueError


@pytest.mark.parametrize("mode", ["low", "direct"])
def test_integers_and_decimals_as_cn2an(mode: str) -> None:
    rng = random.Random(7)
    numbers = [str(i) for i in range(0, 20001)]
    numbers += [str(rng.randrange(10**k)) for k in range(5, 20) for _ in range(300)]  # past 16 digits: refused
    numbers += ["007", "-0", "-15", "3.50", "0.000", "-2.5", "1.2.3", "--5", "-", ".5", "5.", "１２", "12a", ""]
    numbers += [f"{rng.randrange(10**6)}.{rng.randrange(10**rng.randint(1, 18))}" for _ in range(500)]
    for number in numbers:
        assert _ours(numbers_zh.an2cn, number, mode) == _oracle(cn2an.an2cn, number, mode), number


def test_text_as_cn2an_transform() -> None:
    rng = random.Random(11)
    pieces = [
        "2022年", "12月", "3日", "1/3", "50%", "-3.5%", "30℃", "10-20个", "3.5-4.5公斤", "3.50", "007", "GPT-3.5",
        "1.2.3", "-7", "１２３", "12345678901234567", "5月1日", "99年", "1990年10月", "7/8", "1,000", "3-5",
        "10-20分钟", "第1", "，", "人", "AI", " ", "半个",
    ]  # fmt: skip
    texts = SEED.read_text("utf-8").splitlines()
    for _ in range(3000):
        texts.append("".join(rng.choice(pieces) for _ in range(rng.randint(1, 6))))
        texts.append("".join(rng.choice("0123456789-./%年月日℃个分钟半万亿，") for _ in range(rng.randint(1, 12))))
    for text in texts:
        assert numbers_zh.transform(text) == _oracle(cn2an.transform, text, "an2cn"), text


def test_readings() -> None:
    """A few readings spelled out, so the rules stay readable without the oracle."""
    assert numbers_zh.transform("2022年12月3日") == "二零二二年十二月三日"
    assert numbers_zh.transform("10-20个，占1/3，涨了50%，30℃") == "十到二十个，占三分之一，涨了百分之五十，三十摄氏度"
    assert numbers_zh.an2cn("100010000") == "一亿零一万"
    assert numbers_zh.an2cn("1010") == "一千零一十"
    assert numbers_zh.an2cn("-3.50") == "负三点五零"
    assert numbers_zh.an2cn("2014", "direct") == "二零一四"
    assert numbers_zh.transform("12345678901234567") == "12345678901234567"  # too long: left as written
