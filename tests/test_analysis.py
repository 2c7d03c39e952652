"""Streaming analysis (issue 15): features computed block by block while a file is read equal the
whole-file features, and encode_file uses it for frame-local extractors only."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from spectrocodec.core import analysis, audio
from spectrocodec.core.pipeline import Pipeline
from spectrocodec.core.registry import Registry

from helpers import StubVocoder

EXTRACTOR = Registry.default().create("feature", "speecht5")


def _blocks(signal: np.ndarray, size: int):
    for start in range(0, max(len(signal), 1), size):
        yield signal[start : start + size]


@pytest.mark.parametrize("n", [0, 1, 300, 512, 513, 700, 1024, 1025, 5000, 44_321, 300_001])
@pytest.mark.parametrize("block", [1, 257, 4096, 65_536])
def test_block_features_equal_whole_file_features(n, block):
    if block == 1 and n > 5000:
        pytest.skip("one sample per block: only short signals (slow)")
    rng = np.random.default_rng(n)
    signal = (rng.standard_normal((n, 2)) * np.linspace(0.01, 0.5, max(n, 1))[:n, None]).astype(np.float32)
    streamed = analysis.stream_features(_blocks(signal, block), EXTRACTOR, 2, frames_hint=3)
    for c in range(2):
        whole = EXTRACTOR.extract(signal[:, c], 16000)
        assert streamed[c].shape == whole.shape
        np.testing.assert_allclose(streamed[c], whole, rtol=0, atol=2e-5)


def test_encode_file_streams_for_frame_local_extractors_and_matches_encode(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    stereo = (rng.standard_normal((44100 * 3 + 123, 2)) * 0.1).astype(np.float32)
    sf.write(tmp_path / "s.wav", stereo, 44100, subtype="FLOAT")
    monkeypatch.setattr(audio, "READ_BLOCK", 10_007)  # several blocks, not a multiple of anything
    calls = []
    real = analysis.stream_features
    monkeypatch.setattr(analysis, "stream_features", lambda *a, **k: calls.append(1) or real(*a, **k))
    pipe = Pipeline(codec="png", vocoder=StubVocoder())
    from_file = pipe.read(pipe.encode_file(tmp_path / "s.wav")).features
    assert calls
    from_array = pipe.read(pipe.encode(*audio.read_audio(tmp_path / "s.wav"))).features
    np.testing.assert_allclose(from_file, from_array, atol=1e-3)


def test_an_extractor_that_is_not_frame_local_keeps_the_whole_file_path(tmp_path, monkeypatch):
    sf.write(tmp_path / "m.wav", np.zeros(16000, np.float32), 16000)
    monkeypatch.setattr(type(EXTRACTOR), "frame_length", None)
    monkeypatch.setattr(analysis, "stream_features", lambda *a, **k: pytest.fail("streamed"))
    pipe = Pipeline(codec="png", vocoder=StubVocoder())
    assert pipe.read(pipe.encode_file(tmp_path / "m.wav")).features.shape == (63, 80)
