"""``--engine local``: the process pool of ``batch.run_tasks`` on this machine (``--jobs`` workers,
default one per CPU core, one in all when a CUDA GPU does the vocoding)."""

from __future__ import annotations

from typing import Callable, Iterator

from .base import Engine, Result, Task


class LocalEngine(Engine):
    name = "local"

    def __init__(self, jobs: int, tasks: int, device: str | None = None) -> None:
        from .. import batch

        self.jobs = batch.default_jobs(jobs, tasks, device) if tasks else 1

    def map(self, func: Callable[..., Result], tasks: list[Task], stage: str = "cpu",
            batch_func: Callable[[list[Task]], list[Result]] | None = None) -> Iterator[tuple[Task, Result]]:
        from .. import batch

        return batch.run_tasks(func, tasks, self.jobs)

    def describe(self) -> str:
        return f"{self.jobs} jobs" if self.jobs > 1 else ""
