"""A built-in list of edge-tts voice names, for validating settings offline.

The real list is fetched from the service (``edge-tts --list-voices``); this copy keeps
validation cheap and network-free, so it must not import ``edge_tts``.

Every name below was seen in ``edge-tts --list-voices`` output (dumps from 2023-2025)
or in edge-tts itself (``en-US-EmmaMultilingualNeural`` is its default voice). The read
aloud service only offers the voices the Edge browser offers: many Azure voices
(``zh-CN-XiaohanNeural``, ``zh-CN-XiaomoNeural``, ``zh-CN-XiaoxuanNeural``,
``zh-CN-YunfengNeural``, ``zh-CN-XiaochenNeural``, ...) are filtered out by Microsoft and
give no audio, so they are deliberately absent. Microsoft also retires voices now and
then: a name here can still fail online, and a new voice may be missing here.
"""

from __future__ import annotations

from .spec import EngineSpec

_ZH = (
    # Mainland Mandarin
    "zh-CN-XiaoxiaoNeural",  # female
    "zh-CN-XiaoyiNeural",  # female
    "zh-CN-YunjianNeural",  # male
    "zh-CN-YunxiNeural",  # male
    "zh-CN-YunxiaNeural",  # male (child-like)
    "zh-CN-YunyangNeural",  # male (news)
    # Dialects
    "zh-CN-liaoning-XiaobeiNeural",  # female, Northeastern
    "zh-CN-shaanxi-XiaoniNeural",  # female, Shaanxi
    # Cantonese (Hong Kong)
    "zh-HK-HiuGaaiNeural",
    "zh-HK-HiuMaanNeural",
    "zh-HK-WanLungNeural",
    # Taiwanese Mandarin
    "zh-TW-HsiaoChenNeural",
    "zh-TW-HsiaoYuNeural",
    "zh-TW-YunJheNeural",
)

_EN = (
    "en-US-AnaNeural",
    "en-US-AndrewMultilingualNeural",
    "en-US-AndrewNeural",
    "en-US-AriaNeural",
    "en-US-AvaMultilingualNeural",
    "en-US-AvaNeural",
    "en-US-BrianMultilingualNeural",
    "en-US-BrianNeural",
    "en-US-ChristopherNeural",
    "en-US-EmmaMultilingualNeural",
    "en-US-EmmaNeural",
    "en-US-EricNeural",
    "en-US-GuyNeural",
    "en-US-JennyNeural",
    "en-US-MichelleNeural",
    "en-US-RogerNeural",
    "en-US-SteffanNeural",
    "en-GB-LibbyNeural",
    "en-GB-MaisieNeural",
    "en-GB-RyanNeural",
    "en-GB-SoniaNeural",
    "en-GB-ThomasNeural",
)

_OTHER = (
    "ja-JP-KeitaNeural",
    "ja-JP-NanamiNeural",
    "de-DE-AmalaNeural",
    "de-DE-ConradNeural",
    "de-DE-KatjaNeural",
    "de-DE-KillianNeural",
    "de-DE-SeraphinaMultilingualNeural",
    "fr-FR-DeniseNeural",
    "fr-FR-EloiseNeural",
    "fr-FR-HenriNeural",
    "es-ES-AlvaroNeural",
    "es-ES-ElviraNeural",
    "es-ES-ManuelEsCUNeural",
)

EDGE_VOICES: frozenset[str] = frozenset(_ZH + _EN + _OTHER)


def voice_problem(voice: str) -> str | None:
    """Why ``voice`` is not an edge voice (None: it is in the built-in list)."""
    if voice not in EDGE_VOICES:
        return f"unknown edge voice {voice!r} (not in the built-in list of {len(EDGE_VOICES)})"
    return None


SPEC = EngineSpec(settings=("rate", "pitch", "volume"), voice_problem=voice_problem)
