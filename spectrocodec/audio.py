"""Audio in and out: reading any file soundfile reads, checking samples, mono, resampling, WAV out.

Samples are float32 in [-1, 1], shape (samples, channels) unless stated otherwise.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .errors import InputError
from .files import atomic_output


def read_audio(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """path → (float32 (samples, channels), sample rate in Hz). InputError if it is not audio."""
    import soundfile as sf

    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path} is a folder; give an audio file")
    if not path.exists():
        raise InputError(f"{path} does not exist")
    try:
        audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile/libsndfile raise several types
        detail = " ".join(str(exc).split())
        raise InputError(f"cannot read {path} as audio ({detail}); give a WAV, FLAC, OGG or MP3 file") from None
    return check_audio(audio, rate, str(path)), int(rate)


def check_audio(audio: np.ndarray, sample_rate: int, what: str = "the audio") -> np.ndarray:
    """Validate samples → float32 (samples, channels). Refuses empty, NaN/inf and bad rates."""
    try:
        audio = np.asarray(audio, dtype=np.float32)
    except (TypeError, ValueError):
        raise InputError(f"{what} is not an array of numbers") from None
    if audio.ndim == 1:
        audio = audio[:, None]
    if audio.ndim != 2:
        raise InputError(f"{what} has shape {audio.shape}; give (samples,) or (samples, channels)")
    if not isinstance(sample_rate, (int, np.integer)) or not 1 <= sample_rate <= 1_000_000:
        raise InputError(f"{what}: sample rate {sample_rate!r} is not a positive whole number of Hz up to 1 MHz")
    if audio.shape[0] == 0 or audio.shape[1] == 0:
        raise InputError(f"{what} holds no samples")
    if not np.isfinite(audio).all():
        raise InputError(f"{what} contains NaN or infinite samples; clean it first")
    return audio


def to_mono(audio: np.ndarray) -> np.ndarray:
    """(samples, channels) or (samples,) → float32 (samples,), the mean of the channels."""
    audio = np.asarray(audio, dtype=np.float32)
    return audio if audio.ndim == 1 else audio.mean(axis=1, dtype=np.float32)


def resample(audio: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """float32 (samples,) at rate_in → float32 at rate_out (soxr, high quality)."""
    if rate_in == rate_out:
        return np.asarray(audio, dtype=np.float32)
    import soxr

    return soxr.resample(np.asarray(audio, dtype=np.float32), rate_in, rate_out, quality="HQ").astype(np.float32)


def write_wav(path: str | os.PathLike, waveform: np.ndarray, sample_rate: int, force: bool = False) -> None:
    """float32 (samples,) → 16-bit PCM WAV, written atomically (temporary file, then rename)."""
    import soundfile as sf

    with atomic_output(path, force=force) as tmp:
        sf.write(tmp, np.clip(waveform, -1.0, 1.0), sample_rate, subtype="PCM_16", format="WAV")
