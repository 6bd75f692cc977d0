"""Prepare turn text for speech: lexicon, sentences, and nothing unspeakable."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from .mdtext import is_speakable

# A sentence ends at CJK or Latin terminal punctuation (a Latin period only before
# whitespace or the end, so 3.5 and U.S. stay whole), plus any closing quotes or
# brackets that follow it.
_END = re.compile(r"(?:[。！？!?；;…]+|(?<![A-Z])\.(?=\s|$))[”’」』）)\]\"']*")


def split_sentences(paragraph: str) -> list[str]:
    out: list[str] = []
    start = 0
    for m in _END.finditer(paragraph):
        piece = paragraph[start : m.end()].strip()
        if piece:
            out.append(piece)
        start = m.end()
    tail = paragraph[start:].strip()
    if tail:
        out.append(tail)
    # A fragment with nothing speakable ("……", an emoji) joins its neighbour
    # rather than being sent on its own; engines refuse such text.
    merged: list[str] = []
    for piece in out:
        if merged and not is_speakable(piece) or merged and not is_speakable(merged[-1]):
            merged[-1] += piece
        else:
            merged.append(piece)
    return [p for p in merged if is_speakable(p)]


def lexicon_pattern(lexicon: Mapping[str, str]) -> re.Pattern[str] | None:
    if not lexicon:
        return None
    parts = []
    for word in sorted(lexicon, key=len, reverse=True):
        escaped = re.escape(word)
        # Latin words match whole words only ("Max" must not hit "MiniMax's" middle).
        if word[0].isascii() and word[0].isalnum():
            escaped = r"(?<![A-Za-z0-9])" + escaped
        if word[-1].isascii() and word[-1].isalnum():
            escaped += r"(?![A-Za-z0-9])"
        parts.append(escaped)
    return re.compile("|".join(parts))


def apply_lexicon(text: str, lexicon: Mapping[str, str], pattern: re.Pattern[str] | None = None) -> str:
    pattern = pattern if pattern is not None else lexicon_pattern(lexicon)
    if pattern is None:
        return text
    return pattern.sub(lambda m: lexicon[m.group(0)], text)


def prepare(
    paragraphs: Iterable[str], lexicon: Mapping[str, str]
) -> tuple[tuple[tuple[str, ...], ...], tuple[tuple[str, ...], ...]]:
    """Paragraphs -> (spoken, shown): paragraphs of speakable sentences, the first with
    the lexicon applied (what the engine gets), the second as written (for subtitles).
    Both have the same shape, sentence for sentence."""
    pattern = lexicon_pattern(lexicon)
    spoken: list[tuple[str, ...]] = []
    shown: list[tuple[str, ...]] = []
    for paragraph in paragraphs:
        pairs = [(apply_lexicon(s, lexicon, pattern), s) for s in split_sentences(paragraph)]
        pairs = [(say, see) for say, see in pairs if is_speakable(say)]
        if pairs:
            spoken.append(tuple(say for say, _ in pairs))
            shown.append(tuple(see for _, see in pairs))
    return tuple(spoken), tuple(shown)
