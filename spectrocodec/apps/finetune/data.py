"""Training data: audio files → (codec-degraded features, original audio), cached; random segments.

Each file is read as 16 kHz mono, then put through ``variants`` real codec round trips
(``api.encode`` → ``api.read_features``) at qualities drawn from the recipe's range. That is the
costly part, so it runs in worker processes, once: the results are cached as .npy files
(audio float32 (frames * 256,), features float16 (variants, frames, 80)) named by a hash of the
file (path, size, mtime) and the codec settings, and memory-mapped when training, so that hours of
data need not fit in RAM. Training segments are then cheap slices drawn by ``Sampler`` from a
seeded numpy generator whose state is part of the checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...core.errors import InputError

RATE = 16000
HOP = 256
SILENCE = -10.0  # speecht5's log10 floor


def cpu_count() -> int:
    """CPU cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


@dataclass
class Item:
    """One prepared file: memory-mapped audio float32 (frames * 256,) and degraded features
    float16 (variants, frames, 80)."""

    name: str
    audio: np.ndarray
    features: np.ndarray
    qualities: list[float]

    @property
    def frames(self) -> int:
        return int(self.features.shape[1])


def find_files(inputs: list[str]) -> list[Path]:
    """Audio files given or found (recursively) in folders; InputError if there are none."""
    from ..batch import find_audio

    files = [path for path, _ in find_audio(inputs)]
    if not files:
        raise InputError(f"no audio files in {' '.join(inputs)}; give audio files or folders of them")
    return files


def split(files: list[Path], count: int, seed: int) -> tuple[list[Path], list[Path]]:
    """(training files, held-out files): ``count`` files held out (-1: 1 in 20, 1 to 4; none when
    there is a single file), chosen by a seeded shuffle."""
    if count < 0:
        count = 0 if len(files) < 2 else min(4, max(1, len(files) // 20))
    if count >= len(files):
        raise InputError(f"--val-files {count} leaves no file to train on ({len(files)} found)")
    order = np.random.default_rng(seed).permutation(len(files))
    held = sorted(order[:count].tolist())
    return [f for i, f in enumerate(files) if i not in held], [files[i] for i in held]


def qualities_for(path: Path, low: float, high: float, variants: int, seed: int) -> list[float]:
    """``variants`` qualities drawn uniformly from [low, high], the same for a file in every run."""
    digest = int(hashlib.sha256(f"{seed}:{path.name}".encode()).hexdigest()[:8], 16)
    values = np.random.default_rng(digest).uniform(low, high, variants) if high > low else np.full(variants, low)
    return [round(float(q), 1) for q in values]


def cache_key(path: Path, codec: str, qualities: list[float], bits: int, kind: str = "quality") -> str:
    stat = path.stat()
    settings = [codec, qualities, bits] + ([] if kind == "quality" else [kind])  # quality keys as before
    text = json.dumps([str(path.resolve()), stat.st_size, stat.st_mtime_ns, *settings])
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def prepare_one(path: str, cache: str, codec: str, qualities: list[float], bits: int,
                kind: str = "quality") -> tuple[str, str]:
    """Worker: one file → cached .npy pair (returns their paths). Skips work already cached.
    ``qualities`` are codec qualities, or target bitrates in kbps when ``kind`` is "bitrate"."""
    from ...core import api
    from ...core.audio import read_mono

    key = cache_key(Path(path), codec, qualities, bits, kind)
    audio_path, feats_path = Path(cache) / f"{key}.audio.npy", Path(cache) / f"{key}.feats.npy"
    if audio_path.is_file() and feats_path.is_file():
        return str(audio_path), str(feats_path)
    audio = read_mono(path, RATE)[0]
    variants = []
    for quality in qualities:
        data = api.encode(audio, sample_rate=RATE, codec=codec, bits=bits, **{kind: quality})
        variants.append(api.read_features(data).features)
    frames = min(len(v) for v in variants)
    feats = np.stack([v[:frames] for v in variants]).astype(np.float16)
    padded = np.zeros(frames * HOP, np.float32)  # the frames' samples, zero-padded at the end
    padded[: min(len(audio), len(padded))] = audio[: len(padded)]
    _save_npy(audio_path, padded)
    _save_npy(feats_path, feats)
    return str(audio_path), str(feats_path)


def _save_npy(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        np.save(handle, array)
    os.replace(tmp, path)


def prepare(files: list[Path], cache: Path, codec: str, quality: tuple[float, float], bits: int,
            variants: int, seed: int, workers: int, on_done=None, kind: str = "quality") -> list[Item]:
    """Round trips of every file (in ``workers`` processes, cached under ``cache``) → Items.
    ``quality`` is a (lo, hi) range of codec qualities, or of kbps when ``kind`` is "bitrate"."""
    cache.mkdir(parents=True, exist_ok=True)
    jobs = [(str(f), str(cache), codec, qualities_for(f, *quality, variants, seed), bits, kind) for f in files]
    workers = workers or cpu_count()
    results: list[Any] = []
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            results.append(prepare_one(*job))
            if on_done:
                on_done()
    else:
        with ProcessPoolExecutor(max_workers=min(workers, len(jobs))) as pool:
            for result in pool.map(prepare_one, *zip(*jobs)):
                results.append(result)
                if on_done:
                    on_done()
    return [Item(Path(job[0]).name, np.load(a, mmap_mode="r"), np.load(f, mmap_mode="r"), job[3])
            for job, (a, f) in zip(jobs, results)]


class Sampler:
    """Random training batches: a file (chance in proportion to its length), a codec variant and
    a start frame per item. Deterministic given the seed; ``state`` / ``restore`` for checkpoints."""

    def __init__(self, items: list[Item], segment_frames: int, seed: int) -> None:
        self.items = items
        self.segment = segment_frames
        lengths = np.array([max(1, it.frames) for it in items], np.float64)
        self.weights = lengths / lengths.sum()
        self.rng = np.random.default_rng(seed)

    def batch(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        """(features float32 (size, segment, 80), audio float32 (size, segment * 256))."""
        feats = np.zeros((size, self.segment, self.items[0].features.shape[2]), np.float32)
        audio = np.zeros((size, self.segment * HOP), np.float32)
        for row in range(size):
            item = self.items[int(self.rng.choice(len(self.items), p=self.weights))]
            variant = int(self.rng.integers(item.features.shape[0]))
            start = int(self.rng.integers(max(1, item.frames - self.segment + 1)))
            piece = item.features[variant, start : start + self.segment]
            feats[row, : len(piece)] = piece
            if len(piece) < self.segment:  # a file shorter than a segment: pad with silence
                feats[row, len(piece):] = SILENCE
            wave = item.audio[start * HOP : (start + self.segment) * HOP]
            audio[row, : len(wave)] = wave
        return feats, audio

    def state(self) -> dict:
        return self.rng.bit_generator.state

    def restore(self, state: dict) -> None:
        self.rng.bit_generator.state = state
