"""The ``speecht5`` feature extractor: exactly the log-mel features SpeechT5's HiFi-GAN was trained on.

16 kHz mono; STFT with n_fft 1024, a periodic Hann window of 1024, hop 256, centred frames with
reflect padding; magnitude (not power); 80 mel bands, Slaney mel scale with Slaney area
normalisation, 80–7600 Hz; log10 with a floor of 1e-10. Matches transformers'
``SpeechT5FeatureExtractor(audio_target=...)`` (tests/test_speecht5.py). Other rates are resampled
with soxr; several channels are averaged to mono.

Long audio is analysed in blocks of frames, so memory stays bounded and the result is identical to
a single pass (each block sees the samples its frames need).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from spectrocodec import hookimpl
from spectrocodec.core.audio import resample, to_mono
from spectrocodec.interfaces import FeatureExtractor

SAMPLE_RATE = 16000
N_FFT = 1024
HOP = 256
N_MELS = 80
FMIN, FMAX = 80.0, 7600.0
MEL_FLOOR = 1e-10
BLOCK_FRAMES = 4096  # frames analysed at once (~65 s of audio, ~17 MB of spectrum)


def _hz_to_mel(freq: np.ndarray) -> np.ndarray:
    """Slaney mel scale: linear below 1 kHz, logarithmic above."""
    freq = np.asarray(freq, dtype=np.float64)
    mels = 3.0 * freq / 200.0
    log_region = freq >= 1000.0
    return np.where(log_region, 15.0 + np.log(np.maximum(freq, 1e-10) / 1000.0) * (27.0 / np.log(6.4)), mels)


def _mel_to_hz(mels: np.ndarray) -> np.ndarray:
    mels = np.asarray(mels, dtype=np.float64)
    freq = 200.0 * mels / 3.0
    return np.where(mels >= 15.0, 1000.0 * np.exp(np.log(6.4) / 27.0 * (mels - 15.0)), freq)


@lru_cache(maxsize=None)
def mel_filters() -> np.ndarray:
    """Slaney-normalised triangular filters, float64 (n_fft // 2 + 1, 80) = (513, 80)."""
    fft_freqs = np.linspace(0, SAMPLE_RATE // 2, N_FFT // 2 + 1)
    mel_points = np.linspace(_hz_to_mel(FMIN), _hz_to_mel(FMAX), N_MELS + 2)
    filter_freqs = _mel_to_hz(mel_points)
    diffs = np.diff(filter_freqs)
    slopes = filter_freqs[None, :] - fft_freqs[:, None]
    down = -slopes[:, :-2] / diffs[:-1]
    up = slopes[:, 2:] / diffs[1:]
    filters = np.maximum(0.0, np.minimum(down, up))
    enorm = 2.0 / (filter_freqs[2 : N_MELS + 2] - filter_freqs[:N_MELS])
    return filters * enorm[None, :]


@lru_cache(maxsize=None)
def hann_window() -> np.ndarray:
    """The periodic Hann window of N_FFT samples, float64 (1024,), as the features use it."""
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float64)


def log_mel(samples: np.ndarray) -> np.ndarray:
    """16 kHz mono float32 (samples,) → log10 mel float32 (1 + samples // 256, 80)."""
    samples = np.asarray(samples)
    if samples.dtype not in (np.float32, np.float64):
        samples = samples.astype(np.float64)
    pad = N_FFT // 2
    n_frames = 1 + len(samples) // HOP
    padded = None  # short signals are padded whole; long ones block by block (no float64 copy of it all)
    if len(samples) == 0:  # nothing to reflect: one frame of silence
        padded = np.zeros(N_FFT)
    elif len(samples) <= pad or n_frames <= BLOCK_FRAMES:  # numpy reflects repeatedly when len <= pad
        padded = np.pad(samples.astype(np.float64), pad, mode="reflect")  # centred frames, as transformers does
    out = np.empty((n_frames, N_MELS), dtype=np.float32)
    for start in range(0, n_frames, BLOCK_FRAMES):
        stop = min(n_frames, start + BLOCK_FRAMES)
        first, last = start * HOP, (stop - 1) * HOP + N_FFT  # in padded coordinates
        out[start:stop] = frames_of(padded[first:last] if padded is not None else _reflected(samples, first - pad, last - pad))
    return out


def frames_of(segment: np.ndarray) -> np.ndarray:
    """A stretch of the padded signal, (N_FFT + (n - 1) * HOP,) → log10 mel float32 (n, 80) of its
    n frames (computed in float64)."""
    segment = np.asarray(segment, dtype=np.float64)
    frames = np.lib.stride_tricks.sliding_window_view(segment, N_FFT)[::HOP]
    spectrum = np.abs(np.fft.rfft(frames * hann_window(), n=N_FFT, axis=1))
    return np.log10(np.maximum(MEL_FLOOR, spectrum @ mel_filters())).astype(np.float32)


def _reflected(samples: np.ndarray, first: int, stop: int) -> np.ndarray:
    """samples[first:stop] as float64, indices outside [0, len) reflected as np.pad's "reflect"
    does (x[-k] = x[k], x[n - 1 + k] = x[n - 1 - k]); needs len(samples) > N_FFT // 2."""
    n = len(samples)
    if first >= 0 and stop <= n:
        return samples[first:stop].astype(np.float64)
    index = np.abs(np.arange(first, stop))
    index = np.where(index >= n, 2 * (n - 1) - index, index)
    return samples[index].astype(np.float64)


class SpeechT5Features(FeatureExtractor):
    """log10 mel, float32, shape (frames, 80), frames = 1 + samples_at_16kHz // 256."""

    name = "speecht5"
    sample_rate = SAMPLE_RATE
    hop_length = HOP
    n_bins = N_MELS
    fixed_range = (-11.0, 4.0)
    floor = float(np.log10(MEL_FLOOR))  # -10: the value of silence
    frame_length = N_FFT  # frame-local: centred frames of 1024 samples, reflect-padded at the ends

    def extract_frames(self, padded: np.ndarray) -> np.ndarray:
        return frames_of(padded)

    def extract(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        mono = resample(to_mono(audio), int(sample_rate), SAMPLE_RATE)
        return log_mel(mono)

    def bin_frequencies(self) -> np.ndarray:
        mel_points = np.linspace(_hz_to_mel(FMIN), _hz_to_mel(FMAX), N_MELS + 2)
        return _mel_to_hz(mel_points[1:-1])


@hookimpl
def spectrocodec_feature_extractors():
    return [SpeechT5Features]
