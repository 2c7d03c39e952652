"""The speecht5 extractor matches transformers' SpeechT5FeatureExtractor(audio_target=...)."""

import numpy as np
import pytest
import soundfile as sf

from spectrocodec_plugins.speecht5 import SpeechT5Features, log_mel, mel_filters


def _reference(samples: np.ndarray) -> np.ndarray:
    transformers = pytest.importorskip("transformers")
    extractor = transformers.SpeechT5FeatureExtractor()
    return extractor(audio_target=samples, sampling_rate=16000, return_tensors="np")["input_values"][0]


def test_parity_with_transformers_on_corpus_speech(speech_files):
    for path in speech_files:
        samples, rate = sf.read(path, dtype="float32")
        assert rate == 16000
        ours = SpeechT5Features().extract(samples, rate)
        ref = _reference(samples)
        assert ours.shape == ref.shape == (1 + len(samples) // 256, 80)
        assert ours.dtype == np.float32
        assert np.abs(ours - ref).max() <= 1e-4


@pytest.mark.parametrize("n", [1, 10, 100, 1000, 1024, 1025, 5000])
def test_parity_on_short_signals(n):
    samples = np.random.default_rng(n).normal(0, 0.1, n).astype(np.float32)
    assert np.abs(log_mel(samples) - _reference(samples)).max() <= 1e-4


def test_blocked_analysis_equals_one_pass(monkeypatch):
    import spectrocodec_plugins.speecht5 as module

    samples = np.random.default_rng(0).normal(0, 0.1, 16000 * 3).astype(np.float32)
    whole = log_mel(samples)
    monkeypatch.setattr(module, "BLOCK_FRAMES", 7)
    assert np.array_equal(log_mel(samples), whole)


def test_mel_filters_match_transformers_slaney_bank():
    audio_utils = pytest.importorskip("transformers.audio_utils")
    ref = audio_utils.mel_filter_bank(num_frequency_bins=513, num_mel_filters=80, min_frequency=80,
                                      max_frequency=7600, sampling_rate=16000, norm="slaney", mel_scale="slaney")
    assert mel_filters().shape == (513, 80)
    assert np.allclose(mel_filters(), ref, atol=1e-9)


def test_resampling_and_downmix():
    extractor = SpeechT5Features()
    t = np.arange(44100) / 44100
    stereo = np.stack([np.sin(2 * np.pi * 300 * t), np.sin(2 * np.pi * 300 * t)], axis=1).astype(np.float32)
    features = extractor.extract(stereo, 44100)
    assert features.shape == (1 + 16000 // 256, 80)
    assert extractor.bin_frequencies()[np.argmax(features[30])] == pytest.approx(300, abs=60)
