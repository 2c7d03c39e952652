"""``--engine ray``: the same tasks as the local engine, run by Ray Data on a Ray cluster.

Each task becomes one row of a dataset (``from_items``, one block per row, so the streaming
executor hands files out one at a time and keeps every worker busy, with backpressure) and is run
by ``map_batches``:

- stage "cpu" (encode: audio → features → image): stateless Ray tasks, one CPU each;
- stage "vocoder" (decode, report, bench): an actor pool; each actor keeps its vocoder between
  files (``batch.cached_vocoder``: the model is loaded once per actor). When the cluster has GPUs
  and ``--device`` is auto or cuda, each actor takes ``GPU_FRACTION`` of a GPU and gets
  ``GPU_BATCH`` files at a time, whose spectrograms go through the vocoder as one batch
  (``batch.decode_batch``).

Rows come back to this process as they finish (``iter_rows``), so the progress bar and per-file
errors appear live; outputs are written by the workers themselves with the atomic writes of
core/files.py. Without ``--address`` a local cluster is started for the run (``--jobs`` CPUs,
default all) and stopped after; with it, the run joins that cluster and leaves it running. Workers
use one thread each (as the local engine's), so outputs are byte-identical to ``--engine local``.
A worker that dies (out of memory, a crash) fails only the files it held.
"""

from __future__ import annotations

import logging
import os
import pickle
import warnings
from typing import Any, Callable, Iterator

from ...core.errors import InputError
from .base import STAGES, Engine, Result, Task, failure
from .local import THREAD_VARS

INSTALL = "pip install 'spectrocodec[ray]'"
GPU_FRACTION = 0.5  # two vocoder actors per GPU: one computes while the other reads and writes files
GPU_BATCH = 16  # files per actor call on a GPU: their spectrograms are vocoded as one batch


def import_ray() -> Any:
    """The ``ray`` module with Ray Data, or a one-line InputError saying how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise InputError(f"--engine ray needs Ray, which is not installed; install it with: {INSTALL}") from None
    return ray


def reachable(address: str, timeout: float = 5.0) -> None:
    """A one-line InputError at once when ``host:port`` (or ``ray://host:port``) does not answer,
    instead of Ray's minutes of connection retries. Other forms ("auto") are left to Ray."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(address if "://" in address else f"ray://{address}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host = port = None
    if not host or not port:
        return
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        raise InputError(f"cannot reach the Ray cluster at {address} ({exc.strerror or exc}); start it with "
                         f"'ray start --head' or give its address as HOST:PORT or ray://HOST:10001") from None


def _quiet_ray(ray: Any) -> None:
    """No Ray progress bars or execution logs: our own bar and summary say what happens."""
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.enable_operator_progress_bars = False
    context.print_on_execution_start = False
    context.enable_auto_log_stats = False
    for name in ("ray", "ray.data"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


class RayEngine(Engine):
    name = "ray"

    def __init__(self, address: str | None = None, jobs: int = 0, device: str | None = None,
                 quiet: bool = False) -> None:
        self.ray, self.jobs, self.device, self.address = import_ray(), jobs, device, address
        self.started = self.connected = False
        self.size = 0

    def connect(self) -> None:
        """Join --address or start a local cluster (once, at the first map: a run with nothing
        to do starts nothing), and see what it has."""
        if self.connected:
            return
        ray, address, jobs, device = self.ray, self.address, self.jobs, self.device
        if not ray.is_initialized():
            threads = {name: "1" for name in (*THREAD_VARS, "SPECTROCODEC_THREADS")}
            options: dict[str, Any] = {"runtime_env": {"env_vars": threads}, "logging_level": logging.ERROR,
                                       "log_to_driver": bool(os.environ.get("SPECTROCODEC_DEBUG"))}
            if address:
                reachable(address)
                options["address"] = address
            else:
                options.update(num_cpus=jobs or None, include_dashboard=False)
            try:
                ray.init(**options)
            except Exception as exc:  # connection refused, bad address, ...
                where = f"the Ray cluster at {address}" if address else "a local Ray cluster"
                raise InputError(f"cannot start or reach {where}: {' '.join(str(exc).split())[:300]}") from None
            self.started = True
        _quiet_ray(ray)
        resources = ray.cluster_resources()
        self.cpus = int(resources.get("CPU", 1))
        self.gpus = float(resources.get("GPU", 0))
        if device == "cuda" and not self.gpus:
            self.close()
            raise InputError("--device cuda: the Ray cluster has no GPU; use --device cpu or auto")
        self.use_gpu = bool(self.gpus) and device in ("auto", "cuda")
        self.connected = True

    def workers(self, stage: str, tasks: int) -> int:
        """How many run at once: --jobs if given, else a CPU each (vocoder stage on GPUs:
        1 / GPU_FRACTION per GPU), never more than the tasks."""
        if self.jobs:
            count = self.jobs
        elif stage == "vocoder" and self.use_gpu:
            count = int(self.gpus / GPU_FRACTION)
        else:
            count = self.cpus
        return max(1, min(count, tasks))

    def map(self, func: Callable[..., Result], tasks: list[Task], stage: str = "cpu",
            batch_func: Callable[[list[Task]], list[Result]] | None = None) -> Iterator[tuple[Task, Result]]:
        if stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}, not {stage!r}")
        if not tasks:
            return iter(())
        self.connect()
        ray = self.ray
        context = ray.data.DataContext.get_current()
        context.max_errored_blocks = len(tasks)  # a dead worker loses its rows, not the run
        rows = [{"i": i, "task": pickle.dumps(task)} for i, task in enumerate(tasks)]
        data = ray.data.from_items(rows, override_num_blocks=len(rows))
        size = self.workers(stage, len(tasks))
        with warnings.catch_warnings():  # retry options have no named parameter yet (Ray 2.60)
            warnings.simplefilter("ignore")
            data = self._stage(data, func, batch_func, stage, size)
        self.size = size
        return _collect(data, tasks)

    def _stage(self, data: Any, func: Callable[..., Result], batch_func: Callable | None, stage: str, size: int) -> Any:
        """map_batches of the stage. A file that crashes its worker is tried once more (a task)
        or not (an actor: it is restarted for the next files); either way the run goes on."""
        ray = self.ray
        if stage == "vocoder":
            gpu = self.use_gpu
            data = data.map_batches(
                actor_class(func, batch_func if gpu else None),
                batch_size=GPU_BATCH if gpu and batch_func else 1,
                compute=ray.data.ActorPoolStrategy(min_size=1, max_size=size, initial_size=size),
                num_cpus=1, num_gpus=GPU_FRACTION if gpu else 0, max_restarts=0)
        else:
            data = data.map_batches(run_rows, fn_args=(func,), batch_size=1, num_cpus=1, concurrency=size,
                                    max_retries=1)
        return data

    def describe(self) -> str:
        if not self.size:  # nothing was run
            return ""
        where = f"cluster {self.address}" if self.address else "local cluster"
        gpus = f", {self.gpus:g} GPU" if self.gpus else ""
        return f"ray ({where}, {self.cpus} CPUs{gpus}, {self.size} workers)"

    def close(self) -> None:
        if self.started and self.ray.is_initialized():
            self.ray.shutdown()
        self.started = self.connected = False


def _collect(data: Any, tasks: list[Task]) -> Iterator[tuple[Task, Result]]:
    """Yield (task, result) as rows stream back; then a failure for each task whose row was lost."""
    seen = set()
    lost = "the Ray worker running it died (out of memory or a crash in a library)"
    try:
        for row in data.iter_rows():
            index = int(row["i"])
            seen.add(index)
            yield tasks[index], pickle.loads(row["result"])
    except Exception as exc:  # the dataset as a whole failed (more lost rows than allowed, cluster gone)
        lost = f"the Ray run stopped: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
    for index, task in enumerate(tasks):
        if index not in seen:
            yield task, failure(lost, 1)


def _results(indices: Any, results: list[Result]) -> dict[str, Any]:
    import numpy as np

    packed = np.empty(len(results), dtype=object)
    packed[:] = [pickle.dumps(result) for result in results]
    return {"i": np.asarray(indices), "result": packed}


def run_rows(rows: dict[str, Any], func: Callable[..., Result]) -> dict[str, Any]:
    """map_batches function of the cpu stage: ``func(*task)`` for each row."""
    return _results(rows["i"], [func(*pickle.loads(task)) for task in rows["task"]])


class VocoderActor:
    """map_batches class of the vocoder stage: lives as long as the run, so what the tasks cache
    in their process (the vocoder model) is loaded once per actor. ``actor_class`` sets the task
    functions as class attributes (constructor arguments would sit in the object store, which
    Ray warns about for restartable actors)."""

    func: Callable[..., Result]
    batch_func: Callable[[list[Task]], list[Result]] | None = None

    def __call__(self, rows: dict[str, Any]) -> dict[str, Any]:
        tasks = [pickle.loads(task) for task in rows["task"]]
        if self.batch_func is not None and len(tasks) > 1:
            results = type(self).batch_func(tasks)
        else:
            results = [type(self).func(*task) for task in tasks]
        return _results(rows["i"], results)


def actor_class(func: Callable[..., Result], batch_func: Callable[[list[Task]], list[Result]] | None) -> type:
    """A VocoderActor subclass that runs ``func`` (and ``batch_func`` for batches)."""
    return type(f"VocoderActor_{func.__name__}", (VocoderActor,),
                {"func": staticmethod(func), "batch_func": None if batch_func is None else staticmethod(batch_func)})
