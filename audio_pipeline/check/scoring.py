"""Comparing what a clip should say with what was heard: units, error rate, verdict.

Chinese is compared by toneless pinyin syllables (``pypinyin.lazy_pinyin``), so
homophones and the Traditional characters Whisper often writes count as right; numbers
are read out in Chinese (``3.5`` -> san dian wu, ``2014年`` digit by digit) so ``100万``
and ``一百万`` agree; Latin words are compared as lowercase words, inside Chinese text
too. Error rate = edit distance / reference length (syllables + words).
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from ..textnorm.numbers_zh import an2cn

DEFAULT_THRESHOLD = 0.25  # syllable (or word) error rate above which a clip fails
DEFAULT_WORST = 3
# A Latin word misheard in at least this share of its occurrences is suggested for the lexicon.
FAILING_SHARE = 0.5
# Spans longer than this (a hallucinated loop) are cut in reports.
MAX_SPAN_CHARS = 60

# "unsure": a clip too short for the recognizer to judge (a 2-3 syllable heading
# without context) that it heard wrong; reported, not failed.
Verdict = Literal["pass", "fail", "missing", "unsure"]
SHORT_UNITS = 3  # clips of at most this many syllables/words are "unsure" rather than failed


_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_UNIT = re.compile(
    rf"(?P<han>[{_HAN}]+)"
    r"|(?P<num>\d+(?:[.,]\d+)*%?)"
    r"|(?P<word>[A-Za-zÀ-ÖØ-öø-ÿ]+(?:['’][A-Za-z]+)*)"
)
_DIGITS = "零一二三四五六七八九"
# Characters read differently but meaning the same number: 两百 and 二百 are both right.
_SAME = {"两": "er", "兩": "er"}


@dataclass(frozen=True)
class Unit:
    """One compared unit (a toneless syllable or a lowercase word) and where it came from."""

    token: str
    start: int
    end: int
    latin: bool = False  # a Latin word (a candidate for the lexicon)
    # What this unit matches when it was heard: every reading of a heard character
    # (a heteronym's reading follows its context, and the context Whisper wrote may
    # differ: 乐 in 音乐 is yue, 樂 alone is le).
    readings: frozenset[str] = frozenset()

    @property
    def accepts(self) -> frozenset[str]:
        return self.readings | {self.token}


def language_of(text: str) -> str:
    """``zh`` when CJK characters outnumber Latin words, else ``en``."""
    han = sum(len(m.group("han")) for m in _UNIT.finditer(text) if m.group("han"))
    words = sum(1 for m in _UNIT.finditer(text) if m.group("word"))
    return "zh" if han and han >= words else "en"


def _pinyin(run: str) -> list[str]:
    from pypinyin import Style, lazy_pinyin

    syllables: list[str] = lazy_pinyin(run, style=Style.NORMAL)
    if len(syllables) != len(run):  # one syllable a character, whatever pypinyin groups
        syllables = [lazy_pinyin(ch, style=Style.NORMAL)[0] for ch in run]
    return syllables


@functools.lru_cache(maxsize=8192)
def _readings(ch: str) -> frozenset[str]:
    from pypinyin import Style, pinyin

    if ch in _SAME:
        return frozenset({_SAME[ch]})
    return frozenset(pinyin(ch, style=Style.NORMAL, heteronym=True)[0])


def _number_reading(number: str, following: str) -> str:
    """A number as Chinese characters, the way it is usually read aloud."""
    percent = number.endswith("%")
    digits = number.rstrip("%").replace(",", "")
    if len(digits) == 4 and digits.isdigit() and following.startswith("年"):
        return "".join(_DIGITS[int(d)] for d in digits)
    try:
        reading = an2cn(digits)
    except ValueError:
        reading = "".join(_DIGITS[int(d)] if d.isdigit() else "点" for d in digits)
    return ("百分之" + reading) if percent else reading


def units(text: str, language: str) -> list[Unit]:
    """The units compared for ``text``: syllables for Chinese, words for Latin."""
    out: list[Unit] = []
    for m in _UNIT.finditer(text):
        start, end = m.span()
        if m.group("han"):
            run = m.group("han")
            for i, (ch, syllable) in enumerate(zip(run, _pinyin(run), strict=True)):
                out.append(Unit(_SAME.get(ch, syllable), start + i, start + i + 1, readings=_readings(ch)))
        elif m.group("num"):
            if language == "zh":
                reading = _number_reading(m.group("num"), text[end : end + 1])
                out += [Unit(s, start, end) for s in _pinyin(reading)]
            else:
                out.append(Unit(m.group("num").rstrip("%").replace(",", ""), start, end))
        else:
            out.append(Unit(m.group("word").lower().replace("’", "'"), start, end, latin=True))
    return out


# ------------------------------------------------------------------------- scoring


@dataclass(frozen=True)
class Span:
    expected: str
    heard: str


@dataclass(frozen=True)
class Score:
    error_rate: float
    distance: int
    length: int  # reference units
    worst: tuple[Span, ...]
    failed_words: tuple[str, ...]  # Latin words of the text inside differing runs
    words: tuple[str, ...]  # every Latin word of the text


def _distance_matrix(same: npt.NDArray[np.bool_]) -> npt.NDArray[np.int32]:
    """Levenshtein table from ``same[i, j]`` (ref unit i matches hyp unit j), one numpy
    row at a time: substitutions and deletions vectorised, insertions by a running minimum."""
    n, m = same.shape
    table = np.zeros((n + 1, m + 1), dtype=np.int32)
    table[0] = np.arange(m + 1)
    cols = np.arange(m + 1, dtype=np.int32)
    differ = (~same).astype(np.int32)
    for i in range(1, n + 1):
        prev = table[i - 1]
        cand = np.empty(m + 1, dtype=np.int32)
        cand[0] = i
        cand[1:] = np.minimum(prev[1:] + 1, prev[:-1] + differ[i - 1])
        # row[j] = min_k<=j cand[k] + (j - k)
        table[i] = np.minimum.accumulate(cand - cols) + cols
    return table


def align(ref: Sequence[str], hyp: Sequence[str | AbstractSet[str]]) -> tuple[int, list[tuple[int, int, int, int]]]:
    """Edit distance and the differing runs as (ref_start, ref_end, hyp_start, hyp_end).

    A heard unit is a token or the set of tokens it may stand for."""
    n, m = len(ref), len(hyp)
    where: dict[str, list[int]] = {}
    for j, heard in enumerate(hyp):
        for token in {heard} if isinstance(heard, str) else heard:
            where.setdefault(token, []).append(j)
    same = np.zeros((n, m), dtype=bool)
    for i, token in enumerate(ref):
        same[i, where.get(token, [])] = True
    table = _distance_matrix(same)
    # Walk back from the end; each step says which sides it consumes and whether it differs.
    steps: list[tuple[int, int, bool]] = []
    i, j = n, m
    while i > 0 or j > 0:
        if i > 0 and j > 0 and same[i - 1, j - 1] and table[i, j] == table[i - 1, j - 1]:
            steps.append((1, 1, False))
            i, j = i - 1, j - 1
        elif i > 0 and j > 0 and table[i, j] == table[i - 1, j - 1] + 1:
            steps.append((1, 1, True))  # substitution
            i, j = i - 1, j - 1
        elif i > 0 and table[i, j] == table[i - 1, j] + 1:
            steps.append((1, 0, True))  # not heard
            i -= 1
        else:
            steps.append((0, 1, True))  # heard in addition
            j -= 1
    runs: list[tuple[int, int, int, int]] = []
    ri = hi = 0
    open_at: tuple[int, int] | None = None
    for dr, dh, differs in reversed(steps):
        if differs and open_at is None:
            open_at = (ri, hi)
        elif not differs and open_at is not None:
            runs.append((open_at[0], ri, open_at[1], hi))
            open_at = None
        ri, hi = ri + dr, hi + dh
    if open_at is not None:
        runs.append((open_at[0], ri, open_at[1], hi))
    return int(table[n, m]), runs


def _slice(text: str, seq: Sequence[Unit], start: int, end: int) -> str:
    if end <= start:
        return ""
    piece = text[seq[start].start : seq[end - 1].end]
    return piece if len(piece) <= MAX_SPAN_CHARS else piece[: MAX_SPAN_CHARS - 1] + "…"


def score(expected: str, heard: str, *, language: str | None = None, worst: int = DEFAULT_WORST) -> Score:
    """Compare the text a clip should say with what was heard."""
    language = language or language_of(expected)
    ref = units(expected, language)
    hyp = units(heard, language)
    distance, runs = align([u.token for u in ref], [u.accepts for u in hyp])
    rate = distance / len(ref) if ref else float(bool(hyp))
    # Worst first (most units wrong), then in reading order.
    ranked = sorted(runs, key=lambda run: (-max(run[1] - run[0], run[3] - run[2]), run[0]))
    spans = tuple(Span(_slice(expected, ref, a, b), _slice(heard, hyp, c, d)) for a, b, c, d in ranked[:worst])
    failed = [expected[u.start : u.end] for a, b, _c, _d in runs for u in ref[a:b] if u.latin]
    return Score(
        error_rate=round(rate, 4),
        distance=distance,
        length=len(ref),
        worst=spans,
        failed_words=tuple(failed),
        words=tuple(expected[u.start : u.end] for u in ref if u.latin),
    )


def judge(result: Score, problems: Sequence[str], threshold: float = DEFAULT_THRESHOLD) -> Verdict:
    """``fail`` when a fast check found a problem or the error rate is above ``threshold``
    (``unsure`` instead for a clip too short to judge), else ``pass``."""
    if problems:
        return "fail"
    if result.error_rate > threshold:
        # Whisper needs context: on two or three syllables alone it guesses (a
        # heading "二、结尾" becomes "R2A"); say so rather than fail the clip.
        return "unsure" if result.length <= SHORT_UNITS else "fail"
    return "pass"


def suggest_lexicon(scores: Iterable[Score], known: Iterable[str] = ()) -> list[str]:
    """Latin words that keep failing: misheard in at least half of their occurrences.

    These are the words worth a voices.yaml ``lexicon`` entry (spelled the way the
    engine should say them). Words already in the lexicon are left out.
    """
    seen: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    spelling: dict[str, str] = {}
    for s in scores:
        for word in s.words:
            seen[word.lower()] += 1
            spelling.setdefault(word.lower(), word)
        for word in s.failed_words:
            failed[word.lower()] += 1
    skip = {k.lower() for k in known}
    chosen = [w for w, n in failed.items() if w not in skip and n >= FAILING_SHARE * seen[w]]
    chosen.sort(key=lambda w: (-failed[w], w))
    return [spelling[w] for w in chosen]
