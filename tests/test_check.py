"""The recognizer on real speech: kokoro and espeak clips heard by faster-whisper.

Needs the ``check`` extra (faster-whisper and the packaged Whisper base model); the
whole module is skipped without it. The model parts are joined once per test session
into a temporary folder. Nothing touches the network.
"""

from __future__ import annotations

import json
import shutil
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("faster_whisper")

from audio_pipeline import engines  # noqa: E402
from audio_pipeline.cache import ClipCache  # noqa: E402
from audio_pipeline.check import listen, recognizer  # noqa: E402
from audio_pipeline.check.heard import ResultCache  # noqa: E402
from audio_pipeline.cli import main  # noqa: E402
from audio_pipeline.cli.check import check  # noqa: E402
from audio_pipeline.model import AudioSegment, ClipRequest, Job, Synthesis, VoiceSpec  # noqa: E402

from .conftest import VOICES  # noqa: E402

pytestmark = pytest.mark.slow

SENTENCE = "今天我们来聊一聊人工智能的发展。"
OTHER = "明天下午三点在火车站门口见面。"


@pytest.fixture(scope="session")
def whisper_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return recognizer.model_dir(tmp_path_factory.mktemp("whisper") / "base")


@pytest.fixture(autouse=True)
def _use_model(whisper_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(recognizer.MODEL_ENV, str(whisper_dir))


class Counting:
    """A real listener that counts how often it is asked."""

    def __init__(self, inner: recognizer.WhisperListener) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.calls = 0

    def hear(self, path: Path, language: str, expected_units: int | None = None) -> str:
        self.calls += 1
        return self.inner.hear(path, language, expected_units)


@pytest.fixture(scope="module")
def kokoro_clips() -> Iterator[dict[str, tuple[ClipRequest, Synthesis]]]:
    engine = engines.create("kokoro")
    made = {}
    for text in (SENTENCE, OTHER):
        request = ClipRequest(VoiceSpec("kokoro", "jm_kumo"), ((text,),), engine.version)
        made[text] = (request, engine.synthesize(request))
    yield made


def _store(root: Path, request: ClipRequest, samples: np.ndarray, rate: int) -> ClipCache:
    cache = ClipCache(root)
    audio = AudioSegment(data=samples.astype(np.int16).tobytes(), sample_width=2, frame_rate=rate, channels=1)
    cache.put(request.key, Synthesis(audio, ()))
    return cache


def _samples(synthesis: Synthesis) -> np.ndarray:
    return np.frombuffer(synthesis.audio.raw_data, dtype=np.int16)


def _check(cache: ClipCache, request: ClipRequest, listener: recognizer.Listener, results: Path) -> listen.TurnCheck:
    job = Job(1, 0, 1, "罗永浩", request, request.paragraphs)
    [result] = listen.check_jobs([job], cache, listener, ResultCache(results))
    return result


def test_kokoro_clips_heard(tmp_path: Path, kokoro_clips: dict[str, tuple[ClipRequest, Synthesis]]) -> None:
    request, good = kokoro_clips[SENTENCE]
    _other_request, other = kokoro_clips[OTHER]
    rate = good.audio.frame_rate
    listener = Counting(recognizer.WhisperListener())
    samples = _samples(good)
    cases = {
        "good": samples,
        "truncated": samples[: int(len(samples) * 0.3)],
        "silent": np.zeros_like(samples),
        "other": _samples(other),
    }
    verdicts = {}
    for name, audio in cases.items():
        cache = _store(tmp_path / name, request, audio, rate)
        verdicts[name] = _check(cache, request, listener, tmp_path / name / "results")
    good_check = verdicts["good"]
    assert good_check.verdict == "pass", good_check.to_json()
    assert good_check.score and good_check.score.error_rate <= 0.1
    assert verdicts["truncated"].verdict == "fail"
    assert any(p.startswith("too short") for p in verdicts["truncated"].fast_problems)
    truncated_score = verdicts["truncated"].score
    assert truncated_score and truncated_score.error_rate > 0.25
    assert verdicts["silent"].verdict == "fail" and verdicts["silent"].fast_problems
    other_check = verdicts["other"]
    assert other_check.verdict == "fail" and other_check.fast_problems == []
    assert other_check.score and other_check.score.error_rate >= 0.6
    assert listener.calls == 4

    # A second check of the same clips listens to nothing.
    again = Counting(recognizer.WhisperListener())
    for name in cases:
        cache = ClipCache(tmp_path / name)
        repeat = _check(cache, request, again, tmp_path / name / "results")
        assert repeat.to_json() == verdicts[name].to_json()
    assert again.calls == 0


TALK = """---
title: 小测试
---
## 一、开场

**罗永浩**：你好，欢迎来到我们的节目。

**闫俊杰**：谢谢邀请，很高兴来到这里。

## 二、结尾

**罗永浩**：今天就聊到这里，再见。
"""


@pytest.fixture(scope="module")
def rendered_talk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """TALK rendered once with espeak; each test works on its own copy."""
    folder = tmp_path_factory.mktemp("talk")
    src = folder / "talk.md"
    src.write_text(TALK, "utf-8")
    args = [str(src), "--config", str(VOICES), "--out", str(folder / "out"), "--engine", "espeak"]
    result = CliRunner().invoke(main, ["render", *args])
    assert result.exit_code == 0, result.output
    return folder


def _rendered(tmp_path: Path, rendered_talk: Path) -> tuple[CliRunner, Path, list[str]]:
    work = tmp_path / "work"
    shutil.copytree(rendered_talk, work)
    src = work / "talk.md"
    return CliRunner(), src, [str(src), "--config", str(VOICES), "--out", str(work / "out")]


def test_cli_check_json(tmp_path: Path, rendered_talk: Path) -> None:
    runner, _src, args = _rendered(tmp_path, rendered_talk)
    result = runner.invoke(check, [*args, "--json"])
    assert result.exit_code in (0, 1), result.output
    rows = json.loads(result.stdout)
    # Title, two headings, three turns; the engine came from the render's manifest.
    assert [(r["section"], r["line"], r["speaker"]) for r in rows] == [
        (0, 1, None), (1, 4, None), (1, 6, "罗永浩"), (1, 8, "闫俊杰"), (2, 10, None), (2, 12, "罗永浩")
    ]
    for row in rows:
        assert set(row) >= {
            "section", "line", "speaker", "clip_key", "error_rate", "verdict", "worst", "fast_problems",
            "suggest_lexicon",
        }
        want = "fail" if row["error_rate"] > 0.25 or row["fast_problems"] else "pass"
        if want == "fail" and not row["fast_problems"] and row["speaker"] is None:
            want = "unsure"  # the title and headings here are three syllables: too short to judge
        assert row["verdict"] == want
        assert all(set(w) == {"expected", "heard"} for w in row["worst"])
    assert result.exit_code == (1 if any(r["verdict"] == "fail" for r in rows) else 0)
    assert "recognizer: 6 clip(s)" in result.stderr
    checks = list((Path(args[-1]) / ".cache" / "checks").glob("whisper-*/??/*.json"))
    assert len(checks) == 6

    again = runner.invoke(check, [*args, "--json", "--threshold", "10"])
    assert again.exit_code == 0, again.output
    assert "recognizer:" not in again.stderr  # every result came from the cache
    assert [r["error_rate"] for r in json.loads(again.stdout)] == [r["error_rate"] for r in rows]

    table = runner.invoke(check, [*args, "--sections", "2", "--threshold", "10"])
    assert table.exit_code == 0, table.output
    assert "罗永浩" in table.stdout and "2 clip(s) checked, 0 failed" in table.stdout


def test_cli_check_reports_missing_clips(tmp_path: Path, rendered_talk: Path) -> None:
    runner, src, args = _rendered(tmp_path, rendered_talk)
    src.write_text(TALK.replace("再见。", "我们下次再见。"), "utf-8")
    result = runner.invoke(check, [*args, "--threshold", "10"])
    assert result.exit_code == 0, result.output
    assert "missing (not rendered yet)" in result.stdout and "1 missing" in result.stdout


def test_cli_check_fix_resynthesizes_a_broken_clip(tmp_path: Path, rendered_talk: Path) -> None:
    runner, _src, args = _rendered(tmp_path, rendered_talk)
    out = Path(args[-1]) / "talk"
    manifest = json.loads((out / "manifest.json").read_text("utf-8"))
    episode = out / manifest["sections"][1]["audio"]
    before = episode.read_bytes()
    rows = json.loads(runner.invoke(check, [*args, "--json", "--threshold", "10"]).stdout)
    key = rows[-1]["clip_key"]
    # Break the last turn's cached clip: same length, all silence.
    wav_path = Path(args[-1]) / ".cache" / "clips" / key[:2] / f"{key}.wav"
    with wave.open(str(wav_path), "rb") as wav:
        params, frames = wav.getparams(), wav.getnframes()
    with wave.open(str(wav_path), "wb") as wav:
        wav.setparams(params)
        wav.writeframes(b"\x00\x00" * frames)
    # Rebuild section 2 from the broken clip, as a render would after a bad synthesis.
    episode.unlink()
    assert runner.invoke(main, ["render", *args, "--engine", "espeak"]).exit_code == 0
    broken_episode = episode.read_bytes()
    assert broken_episode != before
    broken_whole = json.loads((out / "manifest.json").read_text("utf-8"))["whole"]["build_key"]
    broken = runner.invoke(check, [*args, "--json", "--threshold", "10"])
    assert broken.exit_code == 1
    assert json.loads(broken.stdout)[-1]["fast_problems"][0].startswith("silent")

    fixed = runner.invoke(check, [*args, "--json", "--threshold", "10", "--fix"])
    assert fixed.exit_code == 0, fixed.output
    assert json.loads(fixed.stdout)[-1]["verdict"] == "pass"
    assert "identical" not in fixed.stderr
    after = json.loads((out / "manifest.json").read_text("utf-8"))
    assert after["sections"][1]["build_key"] == manifest["sections"][1]["build_key"]
    # The whole interview follows its episodes' audio, so it was rebuilt too.
    assert after["whole"]["build_key"] != broken_whole
    # Section 2 was rebuilt from the new clip (espeak's output varies by a few samples from
    # call to call, so the bytes are not the first render's; they are not the broken ones).
    assert episode.read_bytes() != broken_episode
    assert abs(len(episode.read_bytes()) - len(before)) < 2000
