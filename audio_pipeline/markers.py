"""Speaker markers at the start of a line: what they look like, and whose they are. Pure.

``find`` reads one line (timestamps already removed) and returns a *candidate*: a
label and how it was written. Whether a candidate is a speaker depends on the whole
file (a bold name without a colon counts once it opens two paragraphs), so the
parser decides that after seeing every candidate.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from enum import Enum

from .mdtext import clean_inline, is_cjk, is_speakable

MAX_NAME = 40
MAX_LABEL = 80  # "Dr. Samuel Okonjo-Whitfield (University of Lagos)": the name is the first part
_COLON = "[:：]"
_SENTENCE_PUNCT = set('。！？!?；;、…"“”')
# Emoji or a symbol some transcripts put before a name ("🎙️ **Mara:**").
_SYMBOLS = r"(?:[\U0001F000-\U0001FAFF\u2600-\u27BF\u2190-\u21FF\u25A0-\u25FF\uFE0F\u200D]+[ \t]*)?"
# A list bullet, a numbered item or a quote marker before the marker.
_LEAD = rf"[ \t]*(?P<lead>(?:[-*+][ \t]+|\d{{1,3}}[.)][ \t]+|(?:>[ \t]*)+))?[ \t]*{_SYMBOLS}"
# "(主持人)" or "(host)" between a bold name and its colon.
_ROLE = r"(?:[ \t]*(?P<role>[（(][^（）()\n]{1,30}[）)])(?=[ \t]*[:：]))?"


class Kind(Enum):
    COLON = "colon"  # **Ann:** / **Ann**: / __Ann:__ / *Ann:* / [Ann]: — a marker on its own
    BOLD = "bold"  # **Ann** text — a speaker once the name opens two paragraphs
    ALONE = "alone"  # **Ann** (or "### Ann", "Ann  0:03") on a line of its own, the turn below it
    BROKEN = "broken"  # **Ann* text — a speaker when Ann is one elsewhere
    PLAIN = "plain"  # Ann: text — a speaker when the name is known


@dataclass(frozen=True)
class Candidate:
    name: str  # as written (cleaned)
    rest: str  # the line after the marker
    kind: Kind
    listed: bool  # inside a list item
    shortened: bool = False  # a role or affiliation was cut off the label
    label: str = ""  # the whole label as written, role included
    form: str = ""  # "clock" ("Maya Okafor  0:03") or "heading" ("### Ruth"): a name on a line of its own

    @property
    def key(self) -> str:
        return name_key(self.name)


def name_key(name: str) -> str:
    """Names match case-insensitively and ignoring surrounding and repeated spaces and a
    closing full stop ("Q." is "Q")."""
    return " ".join(name.split()).rstrip(".").casefold()


def _emphasis(open_: str, strong: bool) -> tuple[re.Pattern[str], bool]:
    """Emphasis around the name; the colon inside it or right after it. ``**_Joe:_**``
    (emphasis inside strong) and a dash instead of the colon are allowed too."""
    o = re.escape(open_)
    not_o = "[^*\\n]" if "*" in open_ else "[^_\\n]"
    close = o + ("(?!\\*)" if open_[0] == "*" else "(?!_)")
    inner_em = "_?" if "*" in open_ else ""
    return (
        re.compile(
            rf"^{_LEAD}{o}{inner_em}[ \t]*(?P<name>{not_o}+?)[ \t]*(?P<inner>{_COLON}|[ \t][—–](?=[ \t]*{o}))?"
            rf"{inner_em}[ \t]*{close}{_ROLE}[ \t]*(?P<outer>{_COLON}|[—–](?=[ \t]))?[ \t]*"
        ),
        strong,
    )


_OPENERS = (("***", True), ("___", True), ("**", True), ("__", True), ("*", False), ("_", False))
_EMPHASES = tuple(_emphasis(o, strong) for o, strong in _OPENERS)
_BROKEN = re.compile(rf"^{_LEAD}\*\*[ \t]*(?P<name>[^*\n]+?)[ \t]*\*(?!\*)[ \t]*(?P<outer>{_COLON})?[ \t]*")
# Plain "Name:" ("Name｜" in some Chinese transcripts); never the colon of a clock ("0:03").
_PLAIN = re.compile(rf"^{_LEAD}(?P<name>[^:：\s*#>\[\]()|`_][^:：*\n|｜]*?)[ \t]*(?:[:：](?!\d)|｜)(?!//)[ \t]*")
# "[SPEAKER_00]: text" (WhisperX), "<v Kenji>text</v>" (WebVTT voice tags).
_BRACKETED_NAME = re.compile(
    rf"^{_LEAD}\[(?P<name>[^\[\]\n:：]{{1,40}})(?:\][ \t]*[:：]|[:：][ \t]*\])[ \t]*"
)
# Markers inside a line, where a transcript runs several turns together.
MID_LINE = re.compile(r"(?<=\S)[ \t]+(?=(?:\*\*[^*\n]{1,40}?[:：]\*\*|\[[^\[\]\n]{1,40}?[:：]\])[ \t])")
_VOICE_TAG = re.compile(r"^[ \t]*<v(?:\.[\w.-]+)?[ \t]+(?P<name>[^>\n]{1,40})>[ \t]*")
# "【主持人】欢迎…": a name in lenticular brackets opening the line.
_LENTICULAR = re.compile(rf"^{_LEAD}【(?P<name>[^【】\n]{{1,12}})】[ \t]*(?P<outer>{_COLON})?[ \t]*")
# Hearing records: "Mr. O'BRIEN." / "The CHAIRMAN." / "Senator WU."; depositions: "Q. " / "A. ".
_TITLED_CAPS = re.compile(
    r"^[ \t]*(?P<name>(?:(?:Mr|Mrs|Ms|Dr|Miss)\.|Chairman|Chairwoman|Senator|Representative|Judge|The|Madam) "
    r"[A-Z][A-Z'’\-]{1,30}(?: [A-Z][A-Z'’\-]{1,30})?)\.[ \t]+"
)
_QA = re.compile(r"^[ \t]*(?P<name>[QA])\.[ \t]+(?=\S)")
# A name and a clock on a line of their own, the text below (Otter, 通义听悟, 飞书妙记):
# "Maya Okafor  0:03", "发言人1 00:00", "Ann (00:12:34)".
_NAME_CLOCK = re.compile(
    rf"^{_LEAD}(?:\*\*)?(?P<name>[^\s:：*\[\]()（）][^:：*\[\]()（）\n]{{0,39}}?)(?:\*\*)?[ \t]+"
    r"[(\[]?(?P<clock>\d{1,2}(?::\d{2}){1,2})[)\]]?[ \t]*$"
)
# Generic labels of ASR tools and anonymized transcripts: "Speaker 1", "SPEAKER_00", "说话人2".
_GENERIC = re.compile(
    r"^(?:(?:speaker|spk|person|participant|voice|interviewee|respondent|"
    r"说话人|发言人|讲者|发言者|嘉宾|受访者)[ _-]?#?(?:\d{1,3}|[A-Z])"
    r"|(?:unknown|unidentified) (?:speaker|person|male|female|voice)(?:[ _-]?#?(?:\d{1,3}|[A-Z]))?)$",
    re.IGNORECASE,
)
# Labels that name a language, not a person ("**EN:** … **CN:** …" in translations):
# the current speaker goes on, in the other language.
_LANGUAGE_LABELS = frozenset(
    ["en", "eng", "english", "cn", "zh", "chn", "chinese", "zh-cn", "en-us", "ja", "jp", "japanese"]
    + ["中文", "英文", "原文", "译文", "翻译", "translation", "original", "日文", "日语", "英语", "汉语", "普通话"]
)
# Labels of editors' notes: read by the narrator, never a speaker of their own.
_EDITORIAL = frozenset(
    ["note", "notes", "update", "updated", "correction", "editor's note", "editors' note", "editor’s note"]
    + ["disclaimer", "ps", "p.s", "编者注", "编者按", "注", "备注", "更正", "声明", "说明", "按"]
)


# Labels of a metadata block ("**时间：** …", "**Recorded:** …").
_METADATA = frozenset(
    ["date", "time", "location", "place", "venue", "guest", "guests", "host", "hosts", "topic", "theme", "recorded"]
    + ["source", "author", "editor", "transcript", "transcribed by", "episode", "duration", "tags", "links", "link"]
    + ["时间", "日期", "地点", "主题", "嘉宾", "主持", "主持人", "译者", "翻译", "整理", "编辑", "来源", "作者", "链接"]
    + ["标签", "时长", "文字整理", "校对", "出品", "制作", "本期嘉宾", "本期主播"]
)


def is_metadata_label(name: str) -> bool:
    return name_key(name) in _METADATA


def is_generic(name: str) -> bool:
    return bool(_GENERIC.match(name.strip()))


def is_language_label(name: str) -> bool:
    return name_key(name) in _LANGUAGE_LABELS


def is_editorial(name: str) -> bool:
    return name_key(name) in _EDITORIAL


def valid_name(raw: str) -> tuple[str, bool] | None:
    found = label_name(raw)
    return (found[0], found[1]) if found else None


def label_name(raw: str) -> tuple[str, bool, str] | None:
    """(cleaned name, whether a role was cut off, whole label), or None when the text
    cannot be a speaker's label. "Priya Nair, research scientist" and "林晓，主持人" name Priya
    Nair and 林晓; "Dr. Jane Doe (Stanford)" names Dr. Jane Doe."""
    name = clean_inline(raw).strip().strip("*_ \t").rstrip("—–- \t")
    if not name or len(name) > MAX_LABEL:
        return None
    label = name
    short = re.split(r"[,，(（]", name, maxsplit=1)[0].strip()
    shortened = short != name
    if shortened:
        tail = name[len(short) :]
        if not short or any(ch in _SENTENCE_PUNCT for ch in tail) or len(tail.split()) > 8:
            return None
        name = short
    if len(name) > MAX_NAME or any(ch in _SENTENCE_PUNCT for ch in name) or any(ch in ",，" for ch in name):
        return None
    if not is_speakable(name) or name[0] in "([{（【" or name.endswith(("/",)):
        return None
    if len(name.split()) > 6:
        return None
    return name, shortened, label


def looks_like_name(name: str) -> bool:
    """Stricter test for markers without a colon or without bold: capitalized words
    ("Ann", "Prof. Lee", "Speaker 1", "d'Artagnan Ruiz"), or a short CJK name."""
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
        if head.isupper() or head.isdigit() or word.lower() in particles or not head.isascii():
            continue
        if re.match(r"^[a-z]{1,2}['’][A-Z]", word) or re.match(r"^#\d", word):
            continue  # d'Artagnan, #1
        return False
    return True


def _listed(m: re.Match[str]) -> bool:
    lead = m.group("lead") or ""
    return bool(lead) and not lead.lstrip().startswith(">")


def _candidate(m: re.Match[str], line: str, kind: Kind, listed: bool | None = None) -> Candidate | None:
    found = label_name(m.group("name"))
    if found is None:
        return None
    name, shortened, label = found
    return Candidate(name, line[m.end() :], kind, _listed(m) if listed is None else listed, shortened, label)


def find_name_clock(line: str) -> tuple[Candidate, str] | None:
    """"Name  0:03" alone on a line (the turn below it): the candidate and the clock."""
    m = _NAME_CLOCK.match(line)
    if not m or not looks_like_name(m.group("name").strip()):
        return None
    found = _candidate(m, line, Kind.ALONE)
    return (dataclasses.replace(found, form="clock"), m.group("clock")) if found else None


def find(line: str) -> Candidate | None:
    """The marker candidate that opens ``line``, if any (timestamps already removed)."""
    m = _VOICE_TAG.match(line)
    if m:
        return _candidate(m, line, Kind.COLON, listed=False)
    for pattern, strong in _EMPHASES:
        m = pattern.match(line)
        if not m:
            continue
        found = label_name(m.group("name"))
        if found is None:
            return None
        name, shortened, label = found
        role = m.group("role")
        rest = line[m.end() :]
        inner, outer = m.group("inner"), m.group("outer")
        colon = any(sep is not None and sep.strip() in ":：" for sep in (inner, outer))
        if colon:
            return Candidate(name, rest, Kind.COLON, _listed(m), shortened or role is not None, label)
        if shortened:
            return None  # "**第一，这跟…**": a role is cut off only before a colon
        if strong:
            return Candidate(name, rest, Kind.BOLD if is_speakable(rest) else Kind.ALONE, _listed(m), False, label)
        return None
    m = _BRACKETED_NAME.match(line)
    if m:
        return _candidate(m, line, Kind.COLON)
    m = _TITLED_CAPS.match(line)
    if m:
        return _candidate(m, line, Kind.COLON, listed=False)
    m = _LENTICULAR.match(line)
    if m:
        rest = line[m.end() :]
        return _candidate(m, line, Kind.BOLD if is_speakable(rest) else Kind.ALONE)
    m = _BROKEN.match(line)
    if m:
        return _candidate(m, line, Kind.BROKEN)
    m = _QA.match(line)
    if m:
        return _candidate(m, line, Kind.PLAIN, listed=False)
    m = _PLAIN.match(line)
    if m:
        return _candidate(m, line, Kind.PLAIN)
    return None
