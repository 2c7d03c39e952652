"""The engine interface: run ``func(*task)`` for many tasks and yield each result as it finishes."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Callable, Iterator

Task = tuple
Result = dict

# What a stage needs: "cpu" tasks hold no state (encode: audio → features → image, one CPU each);
# "vocoder" tasks run in long-lived workers that load a vocoder model once and keep it (decode,
# report, bench), on a GPU when the cluster has one and --device allows it.
STAGES = ("cpu", "vocoder")


class Engine(ABC):
    """Runs tasks somewhere; ``with engine:`` releases what it started (pools, a local cluster)."""

    name = ""

    @abstractmethod
    def map(self, func: Callable[..., Result], tasks: list[Task], stage: str = "cpu",
            batch_func: Callable[[list[Task]], list[Result]] | None = None) -> Iterator[tuple[Task, Result]]:
        """Yield ``(task, func(*task))`` for every task, in the order they finish. ``func`` never
        raises; a task lost to a dead worker yields ``batch.failure(...)``. ``batch_func``, when
        given, does several tasks at once (``batch_func(tasks)`` equals ``[func(*t) for t in tasks]``)
        and an engine may use it where batching pays (a GPU vocoder batching spectrograms)."""

    def run(self, func: Callable[..., Result], tasks: list[Task], stage: str = "cpu",
            batch_func: Callable[[list[Task]], list[Result]] | None = None) -> Iterator[tuple[Task, Result]]:
        """``map``, then ``close`` (also when the caller stops early or is interrupted)."""
        try:
            yield from self.map(func, tasks, stage, batch_func)
        finally:
            self.close()

    def describe(self) -> str:
        """A few words for the summary line ("2 jobs", "ray: 8 CPUs, 1 GPU"); "" for nothing."""
        return ""

    def close(self) -> None:
        """Release workers and anything started for the run."""

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
