"""The Ray executor on a local Ray instance (2 CPUs), started once for this module.

Skipped only when Ray (the ``cluster`` extra) is not installed; ``make setup`` installs it.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from audio_pipeline import batch, cluster, engines, render, transcript, voices
from audio_pipeline.cli import main
from audio_pipeline.engines.base import Engine
from audio_pipeline.errors import EngineError
from audio_pipeline.progress import Event

from .conftest import ROOT, VOICES
from .fakes import ToneEngine

ray = pytest.importorskip("ray", reason='Ray is not installed (pip install -e ".[cluster]")')


def _talk(title: str, sections: int, turns: int) -> str:
    return f"---\ntitle: {title}\n---\n" + "".join(
        f"## 第{s}节\n\n"
        + "".join(
            f"**{'罗永浩' if t % 2 else '闫俊杰'}**：{title}第{s}节第{t}段，用来测试集群渲染。再说一句话。\n\n"
            for t in range(turns)
        )
        for s in range(1, sections + 1)
    )


@pytest.fixture(scope="module", autouse=True)
def local_ray() -> Iterator[None]:
    """One local instance for the module; workers import tests.fakes from the checkout."""
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.ERROR,
        runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}},
    )
    yield
    ray.shutdown()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "voices.yaml").write_text(VOICES.read_text("utf-8"), "utf-8")
    (tmp_path / "one.md").write_text(_talk("一号", 2, 3), "utf-8")
    (tmp_path / "two.md").write_text(_talk("二号", 1, 4), "utf-8")
    return tmp_path


def _outputs(out: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(out)): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.suffix in (".mp3", ".m4b", ".vtt", ".srt", ".json") and ".parts" not in p.parts and ".cache" not in p.parts
    }


def _batch(
    folder: Path, out: Path, engine: Engine, executor: Any, names: tuple[str, ...] = ("one.md", "two.md"), **kw: Any
) -> list[batch.Outcome]:
    vmap = voices.load(folder / "voices.yaml")

    def prepare(source: str) -> batch.Prepared:
        settings = render.Settings(out_root=out, engine="espeak", **kw)
        return batch.Prepared(transcript.read(source, vmap.speakers), vmap, engine, settings)

    return batch.render_all([str(folder / n) for n in names], prepare, executor_for=lambda item: executor)


def test_ray_render_of_two_transcripts_matches_the_local_executor(folder: Path) -> None:
    executor = cluster.RayExecutor(ToneEngine, "tone/1", workers=2)
    try:
        assert executor.workers == 2 and len({i["pid"] for i in executor.infos}) == 2
        on_ray = _batch(folder, folder / "ray", ToneEngine(), executor)
    finally:
        executor.close()
    here = _batch(folder, folder / "local", ToneEngine(), None)
    assert all(o.ok for o in on_ray + here), [o.error for o in on_ray + here]
    assert all(o.result is not None and o.result.plan.missing for o in on_ray)  # synthesized, not cached
    for name in ("one", "two"):
        ray_files, local_files = _outputs(folder / "ray" / name), _outputs(folder / "local" / name)
        assert ray_files and ray_files == local_files


def test_espeak_clips_made_by_ray_actors_render_as_the_local_executor_does(folder: Path) -> None:
    vmap = voices.load(folder / "voices.yaml")
    options = vmap.engine("espeak").options
    engine = engines.create("espeak", options)
    executor = cluster.executor_for(engine, options, workers=2)
    try:
        on_ray = _batch(folder, folder / "ray", engine, executor)
    finally:
        executor.close()
    assert all(o.ok for o in on_ray), [o.error for o in on_ray]
    # The local executor from the same clips (espeak is not bit-repeatable across
    # processes, so "the same clips" means the cache the actors filled).
    shutil.copytree(folder / "ray" / ".cache", folder / "local" / ".cache")
    here = _batch(folder, folder / "local", engines.create("espeak", options), None)
    for outcome in here:
        assert outcome.result is not None and not outcome.result.plan.missing  # every clip came from Ray
    for name in ("one", "two"):
        assert _outputs(folder / "ray" / name) == _outputs(folder / "local" / name)


def test_a_worker_killed_mid_run_is_replaced_and_the_render_completes(folder: Path) -> None:
    (folder / "long.md").write_text(_talk("长", 2, 8), "utf-8")
    executor = cluster.RayExecutor(functools.partial(ToneEngine, delay=0.3), "tone/1", workers=2)
    victim = executor.infos[0]["pid"]
    killed: list[int] = []

    def kill_once(event: Event) -> None:
        if event.kind == "step" and event.stage == "audio" and not killed:
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)

    vmap = voices.load(folder / "voices.yaml")
    parsed = transcript.read(str(folder / "long.md"), vmap.speakers)
    try:
        result = render.render(
            parsed, vmap, ToneEngine(), render.Settings(out_root=folder / "out", engine="espeak"), kill_once,
            executor=executor,
        )  # fmt: skip
        after = ray.get(executor.actors[0].info.remote())
    finally:
        executor.close()
    assert killed == [victim]
    assert after["pid"] != victim  # Ray restarted the actor, and retried its clips
    assert result.whole_built and len(result.built) == 2
    assert (folder / "out" / "long" / "long.mp3").is_file()


def test_a_bad_transcript_and_failing_turns_in_a_ray_batch_are_reported_while_the_other_renders(folder: Path) -> None:
    (folder / "bad.md").write_text("---\ntitle: [never closed\n## 一\n\n**甲**：你好。\n", "utf-8")
    (folder / "fails.md").write_text(_talk("失败", 1, 2).replace("再说一句话", "FAILS"), "utf-8")
    executor = cluster.RayExecutor(functools.partial(ToneEngine, fail_containing="FAILS"), "tone/1", workers=2)
    try:
        outcomes = _batch(folder, folder / "out", ToneEngine(), executor, names=("bad.md", "fails.md", "one.md"))
    finally:
        executor.close()
    bad, fails, good = outcomes
    assert bad.error is not None and "front matter" in str(bad.error) and bad.error.exit_code == 2
    assert fails.error is not None and fails.error.exit_code == 1
    assert "2 clip(s) failed" in str(fails.error) and "stand-in refuses this text" in str(fails.error)
    assert good.ok and (folder / "out" / "one" / "one.mp3").is_file()
    assert batch.exit_code(outcomes) == 2


def test_a_worker_with_another_engine_version_is_refused() -> None:
    with pytest.raises(EngineError, match="engine version tone/2"):
        cluster.RayExecutor(functools.partial(ToneEngine, version="tone/2"), "tone/1", workers=1)


def test_cli_renders_a_batch_on_ray(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(folder)
    result = CliRunner().invoke(
        main, ["render", "one.md", "two.md", "--engine", "espeak", "--executor", "ray", "--jobs", "2", "-q"]
    )
    assert result.exit_code == 0, result.output
    assert (folder / "output" / "one" / "one.m4b").is_file() and (folder / "output" / "two" / "two.m4b").is_file()
    assert "2 of 2 transcripts done" in result.output
    assert ray.is_initialized()  # the test's instance: the CLI did not shut down what it did not start


def test_workers_asking_for_a_gpu_on_a_cluster_without_one_run_on_cpus_with_a_notice() -> None:
    said: list[str] = []
    executor = cluster.RayExecutor(
        ToneEngine, "tone/1", workers=1, gpus_per_worker=1.0, report=lambda e: said.append(e.message)
    )
    try:
        assert executor.workers == 1
    finally:
        executor.close()
    assert said == ["Ray: no GPU in the cluster; the workers run on CPUs"]
