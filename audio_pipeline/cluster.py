"""Clip synthesis on Ray actors: ``--executor ray`` (the optional extra:
``pip install -e ".[cluster]"``).

Each actor builds its engine once (Kokoro's ONNX session stays loaded for every clip
it is handed) and returns PCM and marks; the driver keeps the cache and the assembly,
so no file system is shared. An actor lost mid-clip is restarted and its clips are
retried by Ray; a clip that still fails is reported like any failing turn. A driver
killed mid-run loses only the clips in flight: every finished one is in its cache.

Ray connects to ``RAY_ADDRESS`` when set (a running cluster), else starts a local
instance for the run.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from . import engines
from .engines.base import Engine, synthesize_with_retry
from .engines.sentences import Int16Array, SentenceEngine
from .errors import ConfigError, EngineError, PipelineError, SynthesisError
from .executors import Outcome, SentenceLookup, prefetched, reusing_sentences
from .model import AudioSegment, ClipRequest, Synthesis
from .progress import Event, Reporter, silent

RAY_MISSING = 'the ray executor needs Ray: pip install -e ".[cluster]"'
#: Clips queued on each actor beyond the one it is speaking, so it never waits for the driver.
IN_FLIGHT = 2
#: Niceness of the workers of a local instance started here: the engine's, a step below
#: the first episode's assembly (render.ENGINE_NICENESS), not Ray's default of 15, which
#: lets any other work on the machine starve the engine.
LOCAL_WORKER_NICENESS = 2
#: How long to wait for the actors to be placed and load their engines.
START_TIMEOUT_S = 300.0

EngineFactory = Callable[[], Engine]


def require_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ConfigError(RAY_MISSING) from exc
    return ray


def engine_factory(name: str, options: Mapping[str, Any]) -> EngineFactory:
    """Builds engine ``name`` on a worker, from voices.yaml's options (picklable)."""
    return functools.partial(engines.create, name, dict(options))


class ClipWorker:
    """A Ray actor: one engine, built once, for every clip it is handed."""

    def __init__(self, make_engine: EngineFactory, retry_delay: float) -> None:
        self.retry_delay = retry_delay
        self.engine: Engine | None = None
        self.problem: str | None = None
        try:
            self.engine = make_engine()
        except PipelineError as exc:  # e.g. the model is not installed on this node
            self.problem = str(exc)

    def info(self) -> dict[str, Any]:
        engine = self.engine
        return {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "version": getattr(engine, "version", None),
            "problem": self.problem,
            "notice": getattr(engine, "notice", None),
            "sentence_rate": engine.sample_rate if isinstance(engine, SentenceEngine) else None,
        }

    def synthesize(self, request: ClipRequest, reused: dict[str, Int16Array]) -> tuple[str, Any]:
        """("ok", audio and marks), ("failed", why) or ("engine", why the engine is unusable).
        Plain values, not exceptions: they cross the wire whatever Ray does with errors."""
        if self.engine is None:
            return "engine", self.problem
        reuse = reusing_sentences(self.engine, prefetched(reused))
        try:
            result = synthesize_with_retry(self.engine, request, base_delay=self.retry_delay, synthesize=reuse)
        except SynthesisError as exc:
            return "failed", exc.message
        except PipelineError as exc:
            return "engine", str(exc)
        audio = result.audio
        pcm = (audio.raw_data, audio.sample_width, audio.frame_rate, audio.channels)
        return "ok", (pcm, result.marks, result.sentences)


def _synthesis(value: Any) -> Synthesis:
    (data, width, rate, channels), marks, spans = value
    return Synthesis(AudioSegment(data=data, sample_width=width, frame_rate=rate, channels=channels), marks, spans)


class RayExecutor:
    """Clip requests spread over Ray actors, each with its own engine.

    ``workers``: actors to start (default: as many as the cluster's free CPUs allow at
    ``cpus_per_worker``, or its GPUs at ``gpus_per_worker``). ``version`` is the engine
    version the driver keys clips with: a worker whose engine differs (other packages
    on that node) is refused, since its clips would be filed under the wrong keys."""

    def __init__(
        self,
        make_engine: EngineFactory,
        version: str,
        *,
        workers: int | None = None,
        cpus_per_worker: float = 1.0,
        gpus_per_worker: float = 0.0,
        retry_delay: float = 0.5,
        max_retries: int = 3,
        report: Reporter = silent,
    ) -> None:
        ray = require_ray()
        self.ray = ray
        self.started = False
        if not ray.is_initialized():
            _connect(ray)
            self.started = True
        if gpus_per_worker and not ray.cluster_resources().get("GPU", 0):
            report(Event("notice", message="Ray: no GPU in the cluster; the workers run on CPUs"))
            gpus_per_worker = 0.0
        if workers is None:
            workers = _fitting(ray.available_resources(), cpus_per_worker, gpus_per_worker)
        actor = ray.remote(ClipWorker).options(
            num_cpus=cpus_per_worker,
            num_gpus=gpus_per_worker,
            max_restarts=max_retries,
            max_task_retries=max_retries,
        )
        self.actors = [actor.remote(make_engine, retry_delay) for _ in range(workers)]
        try:
            infos = ray.get([a.info.remote() for a in self.actors], timeout=START_TIMEOUT_S)
        except Exception as exc:
            self.close()
            raise EngineError(f"Ray workers did not start: {exc}") from exc
        refused = _refusal(infos, version)
        if refused is not None:
            self.close()
            raise EngineError(refused)
        for notice in sorted({info["notice"] for info in infos if info["notice"]}):
            report(Event("notice", message=f"Ray workers: {notice}"))
        self.infos = infos
        self.sentence_rate: int | None = infos[0]["sentence_rate"]

    @property
    def workers(self) -> int:
        return len(self.actors)

    def _reused(self, request: ClipRequest, lookup: SentenceLookup | None) -> dict[str, Int16Array]:
        """The request's sentences already cached here, shipped with it (an edited turn
        then costs only its changed sentences on the worker too)."""
        if lookup is None or self.sentence_rate is None:
            return {}
        found: dict[str, Int16Array] = {}
        for paragraph in request.paragraphs:
            for sentence in paragraph:
                key = request.sentence_key(sentence)
                samples = lookup(key, self.sentence_rate)
                if samples is not None:
                    found[key] = samples
        return found

    def results(
        self,
        requests: Sequence[ClipRequest],
        *,
        sentences: SentenceLookup | None = None,
        stop: threading.Event | None = None,
    ) -> Iterator[Outcome]:
        ray = self.ray
        queue = collections.deque(enumerate(requests))
        pending: dict[Any, tuple[int, int]] = {}  # object ref -> (request index, actor slot)
        load = [0] * len(self.actors)
        alive = [True] * len(self.actors)
        try:
            while True:
                while queue and not (stop is not None and stop.is_set()):
                    free = [i for i, n in enumerate(load) if alive[i] and n < IN_FLIGHT]
                    if not free:
                        break
                    slot = min(free, key=load.__getitem__)
                    index, request = queue.popleft()
                    ref = self.actors[slot].synthesize.remote(request, self._reused(request, sentences))
                    pending[ref] = (index, slot)
                    load[slot] += 1
                if not pending:
                    if queue and not any(alive) and not (stop is not None and stop.is_set()):
                        raise EngineError("every Ray worker was lost; finished clips are cached, run again")
                    return
                (ref,), _ = ray.wait(list(pending), num_returns=1)
                index, slot = pending.pop(ref)
                load[slot] -= 1
                try:
                    kind, value = ray.get(ref)
                except ray.exceptions.RayActorError as exc:  # lost, and Ray's retries with it
                    alive[slot] = False
                    yield index, SynthesisError(f"Ray worker lost ({type(exc).__name__}) after retries")
                    continue
                except ray.exceptions.RayError as exc:
                    yield index, SynthesisError(f"Ray task failed: {type(exc).__name__}")
                    continue
                if kind == "engine":
                    raise EngineError(str(value))
                yield index, SynthesisError(str(value)) if kind == "failed" else _synthesis(value)
        finally:
            for ref in pending:  # the consumer gave up: drop what is still queued
                with contextlib.suppress(Exception):
                    ray.cancel(ref)

    def close(self) -> None:
        for a in self.actors:
            with contextlib.suppress(Exception):
                self.ray.kill(a)
        self.actors = []
        if self.started:
            with contextlib.suppress(Exception):
                self.ray.shutdown()
            self.started = False


def _connect(ray: Any) -> None:
    """Connect to the cluster at ``RAY_ADDRESS``, else start a local instance whose
    workers run at LOCAL_WORKER_NICENESS."""
    address = os.environ.get("RAY_ADDRESS") or None
    try:
        if address is None:
            ray.init(
                include_dashboard=False,
                log_to_driver=False,
                logging_level=logging.ERROR,
                _system_config={"worker_niceness": LOCAL_WORKER_NICENESS},
            )
        else:
            ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR)
    except Exception as exc:  # Ray's connection errors have no common public base
        raise EngineError(f"cannot start or reach Ray ({address or 'local'}): {exc}") from exc


def _fitting(free: Mapping[str, float], cpus_per_worker: float, gpus_per_worker: float) -> int:
    """How many workers the cluster's free CPUs (and GPUs, when asked for) allow: one at least."""
    by_cpu = int(free.get("CPU", 1) // cpus_per_worker) if cpus_per_worker else 1
    by_gpu = int(free.get("GPU", 0) // gpus_per_worker) if gpus_per_worker else by_cpu
    return max(1, min(by_cpu, by_gpu))


def _refusal(infos: list[dict[str, Any]], version: str) -> str | None:
    """Why the workers (their :meth:`ClipWorker.info`) cannot be used: one has no engine,
    or another engine version than ``version``; None when they all can."""
    for info in infos:
        if info["problem"]:
            return f"Ray worker on {info['host']}: {info['problem']}"
        if info["version"] != version:
            return (
                f"Ray worker on {info['host']} has engine version {info['version']}, this machine {version}: "
                "install the same audio-pipeline and engine packages on every node"
            )
    return None


def executor_for(
    engine: Engine, options: Mapping[str, Any], *, workers: int | None = None, report: Reporter = silent
) -> RayExecutor:
    """A Ray executor running ``engine`` (its name and voices.yaml ``options``) on actors
    asking for the CPU threads it uses, and a GPU when ``device: cuda`` is set."""
    threads = getattr(engine, "threads", 1)
    gpus = 1.0 if options.get("device") == "cuda" else 0.0
    return RayExecutor(
        engine_factory(engine.name, options),
        engine.version,
        workers=workers,
        cpus_per_worker=float(threads if isinstance(threads, int) else 1),
        gpus_per_worker=gpus,
        report=report,
    )
