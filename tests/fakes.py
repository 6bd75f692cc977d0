"""A deterministic stand-in engine: tones whose length follows the text, with marks."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from typing import ClassVar

import numpy as np
import yaml

from audio_pipeline.engines import sentences
from audio_pipeline.engines.base import expected_ms
from audio_pipeline.engines.spec import EngineSpec
from audio_pipeline.errors import SynthesisError
from audio_pipeline.model import AudioSegment, ClipRequest, Mark, Synthesis, VoiceSpec

RATE = 16000
GAP_MS = 100
# What voices.yaml may give the registered stand-in: any voice name, espeak's settings.
TONE_SPEC = EngineSpec(settings=("rate", "pitch", "volume"), voice_problem=lambda voice: None)


class ToneEngine:
    # Handed to render directly, it poses as espeak so the repository's voices.yaml applies
    # (most tests). Through the registry it is engine "tone": RegisteredTone.
    name: ClassVar[str] = "espeak"
    default_jobs = 2

    def __init__(
        self,
        *,
        version: str = "tone/1",
        fail_containing: str | None = None,
        transient_every: int = 0,
        ms_per_unit: float = 0.5,
        delay: float = 0.0,
    ) -> None:
        self.version = version
        self.fail_containing = fail_containing
        self.transient_every = transient_every
        self.ms_per_unit = ms_per_unit  # scale of expected_ms, so tests stay fast
        self.delay = delay  # seconds per call, so a test can catch a render mid-way
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def synthesize(self, request: ClipRequest) -> Synthesis:
        with self._lock:
            self.calls.append(request.text)
            count = len(self.calls)
        if self.delay:
            time.sleep(self.delay)
        if self.fail_containing and self.fail_containing in request.text:
            raise SynthesisError("stand-in refuses this text", transient=False)
        if self.transient_every and count % self.transient_every == 0:
            raise SynthesisError("stand-in hiccup", transient=True)
        seed = int(hashlib.sha256(request.spec.voice.encode()).hexdigest()[:6], 16)
        freq = 150 + seed % 250
        chunks: list[np.ndarray] = []
        marks: list[Mark] = []
        pos = 0
        for p, paragraph in enumerate(request.paragraphs):
            for sentence in paragraph:
                n = max(RATE // 5, int(expected_ms(sentence) * self.ms_per_unit * RATE / 1000))
                t = np.arange(n) / RATE
                tone = (0.3 * np.sin(2 * np.pi * freq * t) * 32767).astype(np.int16)
                chunks.append(tone)
                marks.append(Mark(p, sentence, round(pos * 1000 / RATE), round((pos + n) * 1000 / RATE)))
                pos += n
                gap = np.zeros(RATE * GAP_MS // 1000, dtype=np.int16)
                chunks.append(gap)
                pos += len(gap)
        data = np.concatenate(chunks).tobytes()
        return Synthesis(AudioSegment(data=data, sample_width=2, frame_rate=RATE, channels=1), tuple(marks))


class RegisteredTone(ToneEngine):
    """The stand-in as the registry's engine "tone" (the ``register_tone`` fixture), with
    voices from voices.yaml's ``engines.tone`` (:func:`tone_voices`)."""

    name: ClassVar[str] = "tone"


def tone_voices(text: str) -> str:
    """voices.yaml ``text`` with its espeak voices given to engine "tone" too."""
    data = yaml.safe_load(text)
    data["engines"]["tone"] = data["engines"]["espeak"]
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


# The register_tone fixture (conftest.py): registers a stand-in as engine "tone", returns it.
RegisterTone = Callable[[ToneEngine], ToneEngine]


class SentenceToneEngine:
    """A stand-in that speaks sentence by sentence (like espeak and Kokoro): each
    sentence a tone whose pitch follows the voice and whose length and amplitude
    follow the text, so every sentence's samples are distinct and repeatable."""

    name: ClassVar[str] = "espeak"
    default_jobs = 1
    sample_rate = RATE
    sentence_gap_ms = GAP_MS

    def __init__(self, version: str = "sentence-tone/1") -> None:
        self.version = version
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def sentence_pcm(self, sentence: str, spec: VoiceSpec, lang: str = "zh") -> np.ndarray:
        with self._lock:
            self.calls.append(sentence)
        digest = hashlib.sha256(f"{spec.voice}|{sentence}".encode()).digest()
        freq = 150 + digest[0] % 250
        n = RATE // 10 + int(expected_ms(sentence) * RATE / 2000) + digest[1]
        t = np.arange(n) / RATE
        return ((0.2 + digest[2] / 1000) * np.sin(2 * np.pi * freq * t) * 32767).astype(np.int16)

    def synthesize(self, request: ClipRequest) -> Synthesis:
        return sentences.synthesize(self, request)


def main() -> None:
    """``python -m tests.fakes OUT TRANSCRIPT``: render with the stand-in in a child process."""
    import sys
    from pathlib import Path

    from audio_pipeline import render, transcript, voices

    out, source, config = (Path(a) for a in sys.argv[1:4])
    vmap = voices.load(config)
    parsed = transcript.read(source, vmap.speakers)
    settings = render.Settings(out_root=out, engine="espeak")
    render.render(parsed, vmap, ToneEngine(delay=0.05), settings)


if __name__ == "__main__":
    main()
