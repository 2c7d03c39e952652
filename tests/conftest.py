"""Shared fixtures: paths to the shipped sample and to ../shared/corpus (skipped when absent)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "spectrocodec" / "samples" / "speech.flac"
CORPUS = ROOT.parent / "shared" / "corpus"
SPEECH = sorted((CORPUS / "speech").glob("*.ogg")) if CORPUS.exists() else []


@pytest.fixture
def speech_files() -> list[Path]:
    if not SPEECH:
        pytest.skip(f"corpus not found at {CORPUS} (it sits beside the repo as ../shared/corpus)")
    return SPEECH


@pytest.fixture
def sample() -> Path:
    return SAMPLE


def run_cli(*args: str, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
    """Run ``python -m spectrocodec ARGS`` and capture text output."""
    return subprocess.run([sys.executable, "-m", "spectrocodec", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, **kwargs)


def tone(seconds: float = 1.0, rate: int = 16000, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * freq * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)
