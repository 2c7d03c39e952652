"""Quality measures shared by the benchmark and the listening report.

- feature level: log-mel distortion in dB between two feature arrays, the RMSE of 20·Δlog10 with
  both clamped to [-11, 4] (so silence below the floor does not dominate);
- end to end: PESQ wide-band (package ``pesq``) and STOI (package ``pystoi``) of a decoded waveform
  against the original, both 16 kHz mono, and the mel distortion of the output re-analysed.

PESQ and STOI are optional extras (``pip install spectrocodec[bench]``): without them the functions
return None rather than fail.
"""

from __future__ import annotations

import numpy as np

CLAMP = (-11.0, 4.0)
RATE = 16000  # Hz: PESQ-WB and STOI compare 16 kHz mono signals


def mel_distortion_db(reference: np.ndarray, test: np.ndarray) -> float:
    """RMSE in dB of 20·(log10 test − log10 reference); both float (frames, bins) log10 features,
    clamped to [-11, 4], compared over the frames they share. Multichannel features
    (channels, frames, bins): the mean of the channels' distortions."""
    if np.ndim(reference) == 3:
        return float(np.mean([mel_distortion_db(r, t) for r, t in zip(reference, test)]))
    frames = min(len(reference), len(test))
    if frames == 0:
        return float("nan")
    ref = np.clip(np.asarray(reference[:frames], np.float64), *CLAMP)
    out = np.clip(np.asarray(test[:frames], np.float64), *CLAMP)
    return float(np.sqrt(np.mean((20.0 * (out - ref)) ** 2)))


def pesq_wb(reference: np.ndarray, degraded: np.ndarray, rate: int = 16000) -> float | None:
    """PESQ wide-band (MOS-LQO, about 1.0-4.6) of float32 (samples,) signals at 16 kHz; None if the
    ``pesq`` package is missing or the signal is too short/silent for it."""
    try:
        from pesq import pesq
    except ImportError:
        return None
    ref, deg = _same_length(reference, degraded)
    try:
        return float(pesq(rate, ref, deg, "wb"))
    except Exception:  # pesq raises on silence and on clips shorter than ~0.25 s
        return None


def stoi(reference: np.ndarray, degraded: np.ndarray, rate: int = 16000) -> float | None:
    """Short-time objective intelligibility (0-1) of float32 (samples,) signals; None without pystoi."""
    try:
        from pystoi import stoi as _stoi
    except ImportError:
        return None
    import warnings

    ref, deg = _same_length(reference, degraded)
    try:
        with warnings.catch_warnings(record=True) as caught:  # too short to measure: None, not a warning on stderr
            warnings.simplefilter("always")
            value = float(_stoi(ref, deg, rate, extended=False))
    except Exception:
        return None
    if any("Not enough STFT frames" in str(w.message) for w in caught):
        return None
    return value if np.isfinite(value) else None


def _same_length(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = min(len(a), len(b))
    return np.asarray(a[:n], np.float64), np.asarray(b[:n], np.float64)
