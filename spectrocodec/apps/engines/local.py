"""``--engine local``: a process pool on this machine (``--jobs`` workers, default one per CPU
core, one in all when a CUDA GPU does the vocoding), each worker on one numeric thread."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Callable, Iterator

from ...core.errors import InputError
from .base import Engine, Result, Task, failure

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


class LocalEngine(Engine):
    name = "local"

    def __init__(self, jobs: int, tasks: int, device: str | None = None) -> None:
        self.jobs = default_jobs(jobs, tasks, device) if tasks else 1

    def map(self, func: Callable[..., Result], tasks: list[Task], stage: str = "cpu",
            batch_func: Callable[[list[Task]], list[Result]] | None = None) -> Iterator[tuple[Task, Result]]:
        return run_tasks(func, tasks, self.jobs)

    def describe(self) -> str:
        return f"{self.jobs} jobs" if self.jobs > 1 else ""


def default_jobs(requested: int | None, tasks: int, device: str | None = None) -> int:
    """--jobs: as asked; by default one per CPU core, or one when a CUDA device does the work."""
    if requested is not None and requested < 0:
        raise InputError(f"--jobs takes a positive number (0 = one per CPU core), not {requested}")
    if requested:
        jobs = requested
    elif device is not None and _cuda(device):
        jobs = 1
    else:
        jobs = os.cpu_count() or 1
    return max(1, min(jobs, tasks))


def _cuda(device: str) -> bool:
    if device == "cpu":
        return False
    if device == "cuda":
        return True
    import glob
    import importlib.util

    if sys.platform == "darwin" or sys.platform.startswith("linux") and not glob.glob("/dev/nvidia[0-9]*"):
        return False  # no CUDA device: do not pay for importing torch to learn that
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


def run_tasks(func: Callable[..., dict], tasks: list[tuple], jobs: int) -> Iterator[tuple[tuple, dict]]:
    """Yield (task, result) as each ``func(*task)`` finishes; in this process when jobs is 1, else
    in a pool of ``jobs`` worker processes. ``func`` returns a dict and never raises (see guarded)."""
    if jobs <= 1:
        for task in tasks:
            yield task, func(*task)
        return
    pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_init_worker, initargs=(os.getpid(), 1))
    try:
        futures = {pool.submit(func, *task): task for task in tasks}
        for future in as_completed(futures):
            try:
                result = future.result()
            except Exception as exc:  # the worker process died (killed, out of memory, a crash)
                result = failure(f"the worker process died ({type(exc).__name__}); out of memory or a crash in a library", 1)
            yield futures[future], result
    except BaseException:
        for process in list(getattr(pool, "_processes", {}).values()):
            process.terminate()  # do not wait for the files in progress (they leave no output)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _init_worker(parent: int, threads: int) -> None:
    """In each worker: one thread for numpy/torch, Ctrl-C handled by the parent, and exit at once
    if the parent dies (killed), so no orphan keeps working."""
    for name in THREAD_VARS:
        os.environ[name] = str(threads)
    os.environ["SPECTROCODEC_THREADS"] = str(threads)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(0.25)
        if os.getppid() != parent:
            os._exit(1)


def limit_torch_threads() -> None:
    """In a worker, keep torch to the thread count the pool gave it (no-op elsewhere)."""
    threads = os.environ.get("SPECTROCODEC_THREADS")
    if threads and "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(int(threads))
