"""What survives an interruption: the checkpoint and the metrics log, both written so that a kill
at any moment leaves the last complete version (temporary file + fsync + rename).

metrics.csv has one row per completed step. Rows are appended (and flushed) as steps finish; steps
after the last checkpoint are lost on a kill and are trained again on resume, so ``open_metrics``
first drops rows past the checkpoint's step: no step is ever listed twice.
"""

from __future__ import annotations

import csv
import io
import os
import random
from pathlib import Path

import numpy as np

COLUMNS = ("step", "loss_gen", "loss_disc", "loss_mel", "loss_adv", "loss_fm", "lr", "seconds")


def write_atomic(path: Path, data) -> None:
    """Replace ``path`` by ``data`` (bytes, or a function that writes to a binary file handle) all
    at once: a temporary file beside it, fsync, rename; never a half-written file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            if callable(data):
                data(handle)
            else:
                handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def save_checkpoint(path: Path, state: dict) -> None:
    """``state`` (tensors, dicts, numbers) → ``path``, atomically, with every RNG state added."""
    import torch

    state = dict(state, rng={"python": random.getstate(), "numpy": np.random.get_state(),
                             "torch": torch.get_rng_state(),
                             "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []})
    write_atomic(path, lambda handle: torch.save(state, handle))  # ~1 GB with HiFi-GAN's discriminators


def load_checkpoint(path: Path, device: str) -> dict | None:
    """The saved state (tensors on ``device``) with the RNG states restored, or None if absent."""
    import torch

    if not path.is_file():
        return None
    state = torch.load(path, map_location=device, weights_only=False)
    rng = state.get("rng", {})
    if rng:
        random.setstate(rng["python"])
        np.random.set_state(rng["numpy"])
        torch.set_rng_state(rng["torch"].cpu())
        if rng["cuda"] and torch.cuda.is_available() and len(rng["cuda"]) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all([s.cpu() for s in rng["cuda"]])
    return state


def read_metrics(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def open_metrics(path: Path, last_step: int, columns: tuple[str, ...] = COLUMNS):
    """A CSV log (metrics.csv, validation.csv) with the rows of steps up to ``last_step`` kept
    (later ones dropped), open to append: (file handle, csv.DictWriter)."""
    kept = [row for row in read_metrics(path) if int(row["step"]) <= last_step]
    text = io.StringIO()
    writer = csv.DictWriter(text, columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(kept)
    write_atomic(path, text.getvalue().encode())
    handle = open(path, "a", newline="")
    return handle, csv.DictWriter(handle, columns, extrasaction="ignore")
