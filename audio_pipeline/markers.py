"""Speaker markers at the start of a line: what they look like, and whose they are. Pure.

``find`` reads one line (timestamps already removed) and returns a *candidate*: a
label and how it was written. Whether a candidate is a speaker depends on the whole
file (a bold name without a colon counts once it opens two paragraphs), so the
parser decides that after seeing every candidate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from .mdtext import clean_inline, is_cjk, is_speakable

MAX_NAME = 40
_COLON = "[:：]"
_SENTENCE_PUNCT = set('。！？!?，,；;、…"“”')
# A list bullet, a numbered item or a quote marker before the marker.
_LEAD = r"[ \t]*(?P<lead>(?:[-*+][ \t]+|\d{1,3}[.)][ \t]+|(?:>[ \t]*)+))?[ \t]*"


class Kind(Enum):
    COLON = "colon"  # **Ann:** / **Ann**: / __Ann:__ / *Ann:* — a marker on its own
    BOLD = "bold"  # **Ann** text — a speaker once the name opens two paragraphs
    ALONE = "alone"  # **Ann** on a line of its own, the turn below it
    BROKEN = "broken"  # **Ann* text — a speaker when Ann is one elsewhere
    PLAIN = "plain"  # Ann: text — a speaker when the name is known


@dataclass(frozen=True)
class Candidate:
    name: str  # as written (cleaned)
    rest: str  # the line after the marker
    kind: Kind
    listed: bool  # inside a list item

    @property
    def key(self) -> str:
        return name_key(self.name)


def name_key(name: str) -> str:
    """Names match case-insensitively and ignoring surrounding and repeated spaces."""
    return " ".join(name.split()).casefold()


# Emphasis around the name, strong first; the colon inside the emphasis or right after it.
def _emphasis(open_: str, strong: bool) -> tuple[re.Pattern[str], bool]:
    o = re.escape(open_)
    not_o = "[^*\\n]" if "*" in open_ else "[^_\\n]"
    close = o + ("(?!\\*)" if open_ == "*" else "(?!_)" if open_ == "_" else "")
    return (
        re.compile(
            rf"^{_LEAD}{o}[ \t]*(?P<name>{not_o}+?)[ \t]*(?P<inner>{_COLON})?[ \t]*{close}"
            rf"[ \t]*(?P<outer>{_COLON})?[ \t]*"
        ),
        strong,
    )


_EMPHASES = (_emphasis("**", True), _emphasis("__", True), _emphasis("*", False), _emphasis("_", False))
_BROKEN = re.compile(rf"^{_LEAD}\*\*[ \t]*(?P<name>[^*\n]+?)[ \t]*\*(?!\*)[ \t]*(?P<outer>{_COLON})?[ \t]*")
_PLAIN = re.compile(rf"^{_LEAD}(?P<name>[^:：\s*#>\[\]()|`_][^:：*\n]*?)[ \t]*{_COLON}(?!//)[ \t]*")
# Generic labels of ASR tools and anonymized transcripts: "Speaker 1", "SPEAKER_00", "说话人2".
_GENERIC = re.compile(
    r"^(?:speaker|spk|person|participant|voice|unknown speaker|interviewee|respondent|"
    r"说话人|发言人|讲者|发言者|嘉宾|受访者)[ _-]?(?:\d{1,3}|[A-Z])$",
    re.IGNORECASE,
)
# Labels that name a language, not a person ("**EN:** … **CN:** …" in translations):
# the current speaker goes on, in the other language.
_LANGUAGE_LABELS = frozenset(
    ["en", "eng", "english", "cn", "zh", "chn", "chinese", "zh-cn", "en-us", "ja", "jp", "japanese"]
    + ["中文", "英文", "原文", "译文", "翻译", "translation", "original", "日文", "日语", "英语", "汉语", "普通话"]
)


def is_generic(name: str) -> bool:
    return bool(_GENERIC.match(name.strip()))


def is_language_label(name: str) -> bool:
    return name_key(name) in _LANGUAGE_LABELS


def valid_name(raw: str) -> str | None:
    """The cleaned name, or None when the text cannot be a speaker's label."""
    name = clean_inline(raw).strip().strip("*_ \t")
    if not name or len(name) > MAX_NAME or any(ch in _SENTENCE_PUNCT for ch in name):
        return None
    if not is_speakable(name) or name[0] in "([{（【" or name.endswith(("-", "/")):
        return None
    words = name.split()
    if len(words) > 6:
        return None
    return name


def looks_like_name(name: str) -> bool:
    """Stricter test for markers without a colon or without bold: capitalized words
    ("Ann", "Prof. Lee", "Speaker 1"), or a short CJK name."""
    if is_generic(name):
        return True
    if all(is_cjk(ch) or ch in "·・ " for ch in name):
        return len(name.replace(" ", "")) <= 8
    words = name.split()
    if len(words) > 4:
        return False
    particles = {"de", "van", "von", "der", "da", "del", "di", "la", "le", "bin", "al", "and", "&"}
    for word in words:
        head = word[0]
        if not (head.isupper() or head.isdigit() or word.lower() in particles or not head.isascii()):
            return False
    return True


def _listed(m: re.Match[str]) -> bool:
    lead = m.group("lead") or ""
    return bool(lead) and not lead.lstrip().startswith(">")


def find(line: str) -> Candidate | None:
    """The marker candidate that opens ``line``, if any (timestamps already removed)."""
    for pattern, strong in _EMPHASES:
        m = pattern.match(line)
        if not m:
            continue
        name = valid_name(m.group("name"))
        if name is None:
            return None
        rest = line[m.end() :]
        if m.group("inner") is not None or m.group("outer") is not None:
            return Candidate(name, rest, Kind.COLON, _listed(m))
        if strong:
            return Candidate(name, rest, Kind.BOLD if is_speakable(rest) else Kind.ALONE, _listed(m))
        return None
    m = _BROKEN.match(line)
    if m:
        name = valid_name(m.group("name"))
        return Candidate(name, line[m.end() :], Kind.BROKEN, _listed(m)) if name else None
    m = _PLAIN.match(line)
    if m:
        name = valid_name(m.group("name"))
        return Candidate(name, line[m.end() :], Kind.PLAIN, _listed(m)) if name else None
    return None
