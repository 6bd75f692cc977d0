"""Clips spoken sentence by sentence (espeak, Kokoro): one composition for all such engines.

Such an engine speaks each sentence on its own and a clip is its sentences joined by
a fixed gap, so a sentence's audio depends only on the sentence and the voice. The
clip records where each sentence sits (in samples, with its key): an edited turn
then takes its unchanged sentences from the clip it had before and synthesizes
only the sentences that changed (see :class:`audio_pipeline.cache.ClipCache`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from ..errors import SynthesisError
from ..model import AudioSegment, ClipRequest, Mark, SentenceSpan, Synthesis, VoiceSpec
from .base import Engine

Int16Array = npt.NDArray[np.int16]
#: Gets one sentence's samples (empty when it has nothing to say).
Speak = Callable[[str], Int16Array]


@runtime_checkable
class SentenceEngine(Engine, Protocol):
    """An engine whose clips are :func:`compose` over :meth:`sentence_pcm`."""

    sample_rate: int
    sentence_gap_ms: int

    def sentence_pcm(self, sentence: str, spec: VoiceSpec, lang: str = "zh") -> Int16Array:
        """Mono 16-bit samples at ``sample_rate`` for one sentence read in ``lang``
        (see :attr:`ClipRequest.lang`), trimmed of silence; empty when the sentence has
        nothing speakable."""
        ...


def compose(request: ClipRequest, speak: Speak, sample_rate: int, gap_ms: int) -> Synthesis:
    """The clip for ``request``: each sentence spoken by ``speak``, joined by ``gap_ms``
    of silence; a mark (and a sample-exact span) for every sentence that made sound."""
    gap = np.zeros(sample_rate * gap_ms // 1000, dtype=np.int16)
    pieces: list[Int16Array] = []
    marks: list[Mark] = []
    spans: list[SentenceSpan] = []
    cursor = 0
    for index, paragraph in enumerate(request.paragraphs):
        for sentence in paragraph:
            if not sentence.strip():
                continue
            audio = speak(sentence)
            if not audio.size:
                continue  # nothing speakable: no mark
            if pieces:
                pieces.append(gap)
                cursor += gap.size
            pieces.append(audio)
            start, cursor = cursor, cursor + audio.size
            marks.append(Mark(index, sentence, start * 1000 // sample_rate, cursor * 1000 // sample_rate))
            spans.append(SentenceSpan(request.sentence_key(sentence), start, cursor))
    if not pieces:
        raise SynthesisError(f"nothing speakable in {request.text[:40]!r}")
    pcm = np.concatenate(pieces).astype("<i2")
    audio_segment = AudioSegment(data=pcm.tobytes(), sample_width=2, frame_rate=sample_rate, channels=1)
    return Synthesis(audio_segment, tuple(marks), tuple(spans))


def synthesize(engine: SentenceEngine, request: ClipRequest) -> Synthesis:
    """``engine.synthesize``: every sentence spoken afresh."""

    def speak(sentence: str) -> Int16Array:
        return engine.sentence_pcm(sentence, request.spec, request.lang)

    return compose(request, speak, engine.sample_rate, engine.sentence_gap_ms)
