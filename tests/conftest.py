"""Fixtures: the shipped sample and the speech files of ../shared/corpus (skipped when absent).
Shared helpers live in helpers.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import CORPUS, SAMPLE, SPEECH


@pytest.fixture
def speech_files() -> list[Path]:
    if not SPEECH:
        pytest.skip(f"corpus not found at {CORPUS} (it sits beside the repo as ../shared/corpus)")
    return SPEECH


@pytest.fixture
def sample() -> Path:
    return SAMPLE
