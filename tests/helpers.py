"""What the tests share: paths, running the CLI, test signals, and the one stub vocoder.

Import from here (``from helpers import run_cli, tone``); conftest.py only declares fixtures.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from spectrocodec.interfaces import Vocoder

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
SAMPLE = ROOT / "spectrocodec" / "samples" / "speech.flac"
CORPUS = ROOT.parent / "shared" / "corpus"  # beside the repository; tests that need it skip without it
SPEECH = sorted((CORPUS / "speech").glob("*.ogg")) if CORPUS.exists() else []


def run_cli(*args: str, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
    """Run ``python -m spectrocodec ARGS`` and capture text output."""
    return subprocess.run([sys.executable, "-m", "spectrocodec", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, **kwargs)


def tone(seconds: float = 1.0, rate: int = 16000, freq: float = 440.0) -> np.ndarray:
    """A 440 Hz tone with a 3 Hz tremolo, float32 (samples,), peak 0.45."""
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * freq * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)


class StubVocoder(Vocoder):
    """A vocoder without weights or torch, for tests of everything around the vocoder: each frame
    becomes 256 samples of ±level (level = 10**max of the frame's features, at most 1), so that the
    output has the right length, is finite and follows the loudness. Lowest priority: ``auto``
    never picks it."""

    name = "stub"
    accepts = ("speecht5",)
    priority = -1000
    defaults = {"device": "auto"}

    def vocode(self, features):
        level = np.minimum(1.0, 10.0 ** features.max(axis=1)).astype(np.float32)
        return np.repeat(level, 256) * np.resize(np.float32([1, -1]), len(level) * 256)


# ``python -c STUB_MAIN ARGS``: the spectrocodec command with StubVocoder registered as "stub"
STUB_MAIN = f'''
import sys
sys.path.insert(0, {str(TESTS)!r})
from helpers import StubVocoder
from spectrocodec.core.registry import Registry
Registry.default().add("vocoder", StubVocoder, "test-stub")
from spectrocodec.apps.cli import main
sys.exit(main(sys.argv[1:]))
'''
