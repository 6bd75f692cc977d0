"""Which section is which across edits: an identity per section that follows its content.

A section's position changes when one is inserted or removed before it, and its
heading's number changes when the author renumbers ("五、" -> "六、"); its text
changes when a typo is fixed. None of that makes it a different episode. So a new
render's sections are matched to the previous render's (manifest.json) by content:

1. the title without its numbering, when it is the same on both sides;
2. then the text, for sections whose title changed: the pair most alike first
   (character-bigram overlap, at least ``MIN_SIMILARITY``).

A matched section keeps its identity (and its place in the publishing order); an
unmatched one gets a new identity derived from its content. Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

#: Text overlap (Dice coefficient of character bigrams) two sections with different
#: titles need to count as one section edited.
MIN_SIMILARITY = 0.5

_CN_DIGITS = "零〇一二三四五六七八九十百千两壹贰叁肆伍陆柒捌玖拾"
_NUMBERING = re.compile(
    rf"""^\s*(?:
        第\s*[0-9{_CN_DIGITS}]+\s*[章节部分回篇集讲期]*      # 第五章, 第3节
      | (?:part|chapter|section|episode|ep\.?)\s*[0-9ivxlc]+\b  # Part 3, Chapter IV
      | [(（]?\s*[0-9{_CN_DIGITS}]+\s*[)）]                   # (3), （五）
      | [0-9{_CN_DIGITS}]+(?:\.[0-9]+)*\s*[、.．:：\-—–]       # 五、 3. 3.1. 2:
      | [0-9]+\s+                                           # "3 Title"
    )\s*""",
    re.IGNORECASE | re.VERBOSE,
)
_NOT_WORD = re.compile(r"[\W_]+")


def bare_title(title: str) -> str:
    """The title without its numbering, emphasis, punctuation or case: what stays when
    the author renumbers the headings."""
    text = unicodedata.normalize("NFKC", title).strip().strip("*_#").strip()
    stripped = _NUMBERING.sub("", text, count=1)
    return _NOT_WORD.sub("", stripped or text).casefold()


def _bigrams(text: str) -> Counter[str]:
    compact = _NOT_WORD.sub("", unicodedata.normalize("NFKC", text)).casefold()
    return Counter(compact[i : i + 2] for i in range(len(compact) - 1))


def similarity(a: Counter[str], b: Counter[str]) -> float:
    """Dice coefficient of two bigram multisets (1.0: the same text, 0.0: nothing shared)."""
    total = sum(a.values()) + sum(b.values())
    return 2 * sum((a & b).values()) / total if total else 0.0


@dataclass(frozen=True)
class Known:
    """A section of the previous render, as its manifest entry records it."""

    identity: str
    title: str
    text: str


@dataclass(frozen=True)
class Current:
    """A section of this render: its heading and its speakable text."""

    title: str
    text: str


def match(old: Sequence[Known], new: Sequence[Current]) -> list[int | None]:
    """For each new section, the index in ``old`` of the section it continues, or None."""
    result: list[int | None] = [None] * len(new)
    taken: set[int] = set()
    old_grams = [_bigrams(o.text) for o in old]
    new_grams = [_bigrams(n.text) for n in new]

    def pair_up(candidates: list[tuple[float, int, int, int]]) -> None:
        # Most alike first; ties go to the pair closest in position, then the earliest.
        for _score, _distance, j, i in sorted(candidates, key=lambda c: (-c[0], c[1], c[2], c[3])):
            if result[j] is None and i not in taken:
                result[j] = i
                taken.add(i)

    old_titles = [bare_title(o.title) for o in old]
    by_title = [
        (similarity(old_grams[i], new_grams[j]), abs(i - j), j, i)
        for j, n in enumerate(new)
        for i, t in enumerate(old_titles)
        if t and t == bare_title(n.title)
    ]
    pair_up(by_title)
    by_text = [
        (score, abs(i - j), j, i)
        for j in range(len(new))
        if result[j] is None
        for i in range(len(old))
        if i not in taken and (score := similarity(old_grams[i], new_grams[j])) >= MIN_SIMILARITY
    ]
    pair_up(by_text)
    return result


def new_identity(section: Current, taken: set[str]) -> str:
    """An identity for a section seen for the first time: from its content (so the same
    transcript rendered afresh gets the same identities), distinct from ``taken``."""
    seed = hashlib.sha256(f"{bare_title(section.title)}\n{section.text[:500]}".encode()).hexdigest()[:16]
    identity, n = seed, 1
    while identity in taken:
        n += 1
        identity = f"{seed}-{n}"
    return identity


def assign(old: Sequence[Known], new: Sequence[Current]) -> list[tuple[str, int | None]]:
    """(identity, index in ``old`` or None) for each new section."""
    matched = match(old, new)
    taken = {old[i].identity for i in matched if i is not None}
    out: list[tuple[str, int | None]] = []
    for section, i in zip(new, matched, strict=True):
        if i is not None:
            out.append((old[i].identity, i))
        else:
            identity = new_identity(section, taken)
            taken.add(identity)
            out.append((identity, None))
    return out
