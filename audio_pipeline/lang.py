"""Which language a transcript, or one turn of it, is spoken in. Pure: text in, code out.

A transcript's language comes from its front matter (``lang:`` or ``language:``), else
from its text: Han characters against Latin letters (a Chinese syllable is one
character, an English one about three letters), kana for Japanese. A turn keeps the
transcript's language unless another one clearly dominates it: a Chinese turn with
``GPT-4`` and ``OpenAI`` in it stays Chinese (its Latin words are read as English
inside it), while an English answer on a Chinese panel, or a Chinese one on an
English panel, is spoken in its own language.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

# Languages voices.yaml may hold voices for (those Kokoro has voices for).
LANGUAGES = ("zh", "en", "ja", "es", "fr", "it", "pt", "hi")
DEFAULT = "zh"

_ALIASES = {
    "cmn": "zh",
    "chi": "zh",
    "zho": "zh",
    "chinese": "zh",
    "mandarin": "zh",
    "中文": "zh",
    "普通话": "zh",
    "汉语": "zh",
    "eng": "en",
    "english": "en",
    "英文": "en",
    "英语": "en",
    "jpn": "ja",
    "japanese": "ja",
    "日本語": "ja",
    "spanish": "es",
    "french": "fr",
    "italian": "it",
    "portuguese": "pt",
    "hindi": "hi",
}


def normalize(value: Any) -> str | None:
    """A language code from a front-matter value (``zh-CN``, ``en_US``, ``English``,
    ``中文``), or None when it names no language we know."""
    if not isinstance(value, str):
        return None
    text = value.strip().lower().replace("_", "-")
    if not text:
        return None
    if text in _ALIASES:
        return _ALIASES[text]
    base = text.split("-")[0]
    if base in LANGUAGES:
        return base
    return _ALIASES.get(base)


def counts(text: str) -> tuple[int, int, int]:
    """(Han characters, kana, Latin letters) in ``text``."""
    han = kana = latin = 0
    for ch in text:
        if "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf" or "\uf900" <= ch <= "\ufaff":
            han += 1
        elif "\u3040" <= ch <= "\u30ff":
            kana += 1
        elif ("a" <= ch <= "z") or ("A" <= ch <= "Z") or ("\u00c0" <= ch <= "\u024f"):
            latin += 1
    return han, kana, latin


def detect(text: str, default: str = DEFAULT) -> str:
    """The language most of ``text`` is in (``default`` when it has no letters)."""
    han, kana, latin = counts(text)
    if not (han or kana or latin):
        return default
    if kana >= 2 and kana * 5 >= han + kana:
        return "ja"
    return "zh" if han * 3 >= latin else "en"


def of_meta(meta: Mapping[str, Any]) -> str | None:
    """The language the front matter declares (``lang`` or ``language``), if any."""
    for key in ("lang", "language"):
        found = normalize(meta.get(key))
        if found:
            return found
    return None


def of_transcript(meta: Mapping[str, Any], texts: Iterable[str]) -> str:
    """Front matter first, else detection over all of the text."""
    return of_meta(meta) or detect("\n".join(texts))


def of_turn(text: str, transcript: str) -> str:
    """The language a turn is read in: the transcript's unless another clearly dominates.

    In a Chinese (or Japanese) transcript a turn is English only when it has no Han or
    kana at all and at least three Latin words; in a Latin-script one it is Chinese when
    Chinese syllables outnumber Latin ones and there are at least four of them.
    """
    han, kana, latin = counts(text)
    if transcript in ("zh", "ja"):
        if han == 0 and kana == 0 and sum(1 for w in text.split() if any(c.isalpha() for c in w)) >= 3:
            return "en"
        return transcript
    if han >= 4 and han * 3 > latin:
        return "ja" if kana >= 2 and kana * 5 >= han + kana else "zh"
    return transcript
