"""Where folder work runs: ``--engine local`` (a process pool on this machine, the default) or
``--engine ray`` (Ray Data, on a local Ray cluster started for the run or on ``--address``).

    engine = open_engine(args, tasks=len(tasks), device=args.device)   # an Engine (base.py)
    with engine:
        for task, result in engine.map(func, tasks, stage="cpu"):
            ...

``func(*task)`` is a module-level function returning a result dict and never raising (see
``base.guarded``); both engines call the same functions, so outputs are the same bytes. Ray is
imported only when ``--engine ray`` is asked for (``pip install 'spectrocodec[ray]'``).
"""

from __future__ import annotations

import argparse

from ...core.errors import InputError
from .base import Engine

ENGINES = ("local", "ray")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--engine`` and ``--address`` on a subcommand's parser."""
    parser.add_argument("--engine", choices=ENGINES, default="local",
                        help="where files are processed: local (a process pool here; default) or ray "
                             "(Ray Data on a Ray cluster; pip install 'spectrocodec[ray]')")
    parser.add_argument("--address", metavar="RAY_ADDRESS",
                        help="with --engine ray: the cluster to run on (e.g. ray://head:10001 or auto); "
                             "default: start a local Ray cluster for this run and stop it after")


def open_engine(args: argparse.Namespace, tasks: int, device: str | None = None) -> Engine:
    """The engine ``args`` asks for (``--engine``, ``--address``, ``--jobs``), ready to map.
    ``tasks`` is the number of tasks to run (the local engine sizes its pool from it)."""
    name = getattr(args, "engine", None) or "local"
    address = getattr(args, "address", None)
    jobs = getattr(args, "jobs", 0) or 0
    if jobs < 0:
        raise InputError(f"--jobs takes a positive number (0 = one per CPU core), not {jobs}")
    if name == "local":
        if address:
            raise InputError("--address needs --engine ray (the local engine runs on this machine)")
        from .local import LocalEngine

        return LocalEngine(jobs, tasks, device)
    if name == "ray":
        from .ray import RayEngine

        return RayEngine(address=address, jobs=jobs, device=device, quiet=getattr(args, "quiet", False))
    raise InputError(f"--engine takes {' or '.join(ENGINES)}, not '{name}'")
