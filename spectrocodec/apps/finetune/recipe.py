"""The fine-tuning recipe (HiFi-GAN V1's, Kong et al. 2020) and the run folder's layout.

RUN_DIR/
  recipe.json      the Recipe of the run (written once; a resumed run reuses it, with the new steps)
  checkpoint.pt    models, optimisers, schedulers, step, RNG states (replaced atomically)
  metrics.csv      one row per training step: step, loss_gen, loss_disc, loss_mel, ...
  validation.csv   one row per held-out file per validation: step, file, pesq_wb, mel_db
  samples/         decoded held-out examples, ``step{N}_{name}.wav``
  vocoder/         the export: config.json + model.safetensors (SpeechT5HifiGan.save_pretrained)
  cache/           codec round trips of the data (unless --cache names another folder)
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HUB_ID = "microsoft/speecht5_hifigan"


@dataclass
class Recipe:
    """Everything that decides what a run computes. Units: steps are optimiser steps (one batch
    each); segments in feature frames of 256 samples (16 ms) at 16 kHz."""

    steps: int = 1000  # total steps: a later run with more resumes up to it
    batch_size: int = 16
    segment_frames: int = 32  # 8192 samples (0.51 s) per training segment, as HiFi-GAN
    device: str = "auto"
    init: str | None = None  # None: the hub id when cached, else random; "random"; a folder or hub id
    generator: dict = field(default_factory=dict)  # SpeechT5HifiGanConfig overrides (random init only)
    disc_scale: float = 1.0  # discriminator channel multiplier (1 = HiFi-GAN's; smaller for tests)
    codec: str = "avif"
    quality: tuple[float, float] = (30.0, 70.0)  # codec quality range the round trips are drawn from
    bitrate: tuple[float, float] | None = None  # or a bitrate range in kbps (rate control), instead of quality
    bits: int = 10
    variants: int = 4  # codec round trips per file, at qualities drawn uniformly from the range
    lr: float = 2e-4
    betas: tuple[float, float] = (0.8, 0.99)
    weight_decay: float = 0.01  # AdamW's
    lr_decay: float = 0.999  # multiplied into the learning rate every decay_steps (HiFi-GAN: per epoch)
    decay_steps: int = 1000
    lambda_mel: float = 45.0
    lambda_fm: float = 2.0
    checkpoint_every: int = 500
    validate_every: int = 1000
    val_files: int = -1  # held-out files; -1: 1 in 20, between 1 and 4 (0 when there is one file)
    val_seconds: float = 20.0  # the part of each held-out file validated
    examples: int = 3  # held-out files whose decoded audio is written at each validation
    workers: int = 0  # processes for the codec round trips; 0: one per CPU core
    seed: int = 0
    amp: bool = True  # mixed precision on CUDA (bfloat16 where supported, else float16)

    @property
    def rate_range(self) -> tuple[str, tuple[float, float]]:
        """("bitrate", (lo, hi) kbps) when a bitrate range is set, else ("quality", (lo, hi))."""
        return ("bitrate", self.bitrate) if self.bitrate else ("quality", self.quality)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Recipe":
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for key in ("quality", "betas", "bitrate"):
            if values.get(key) is not None:
                values[key] = tuple(values[key])
        return cls(**values)


def save_recipe(run_dir: Path, recipe: Recipe) -> None:
    from .state import write_atomic

    write_atomic(run_dir / "recipe.json", (json.dumps(recipe.to_json(), indent=2) + "\n").encode())


def load_recipe(run_dir: Path) -> Recipe | None:
    path = run_dir / "recipe.json"
    return Recipe.from_json(json.loads(path.read_text())) if path.is_file() else None
