"""The engine interface: run ``func(*task)`` for many tasks and yield each result as it finishes;
and the task convention both engines rely on: a task returns a dict, ``{"ok": True, ...}`` or
``failure(...)``, and never raises (``guarded``)."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from typing import Any, Callable, Iterator

from ...core.errors import SpectrocodecError

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


def failure(message: str, code: int = 2) -> dict:
    return {"ok": False, "error": " ".join(message.split()), "code": code}


def guarded(func: Callable[..., dict]) -> Callable[..., dict]:
    """Wrap a task so any error comes back as ``failure(...)`` (one line) instead of raising."""
    import functools

    @functools.wraps(func)
    def wrapper(*args: Any) -> dict:
        try:
            return func(*args)
        except SpectrocodecError as exc:
            return failure(str(exc), exc.exit_code)
        except MemoryError:
            return failure("out of memory; try a shorter file or fewer --jobs", 1)
        except Exception as exc:  # a bug: still one line (the traceback too with SPECTROCODEC_DEBUG=1)
            if os.environ.get("SPECTROCODEC_DEBUG"):
                import traceback

                traceback.print_exc()
            return failure(f"internal error: {type(exc).__name__}: {exc} (set SPECTROCODEC_DEBUG=1 for a traceback and please report it)", 1)

    return wrapper
