"""The ``griffinlim`` vocoder: SpeechT5 log-mel features → 16 kHz waveform, no weights, CPU or CUDA.

The features (spectrocodec_plugins.speecht5) are ``log10(max(1e-10, |STFT| @ mel_filters()))``:
80 Slaney mel bands (80–7600 Hz) of the STFT *magnitude* (n_fft 1024, periodic Hann, hop 256,
centred frames). Sound needs two guesses: the 513-bin magnitude (80 numbers per frame say
little about 513) and the phase. Both are made in one loop, on spectrograms of shape (frames, 513):

1. Start: the mel values ``mel = 10 ** features`` (frames, 80); a magnitude ``S >= 0`` with
   ``S @ mel_filters() ≈ mel``: the minimum-norm solution, clipped at 0, then a few
   multiplicative updates (``mel_gain``) that keep ``S >= 0`` and lower the I-divergence (KL)
   between ``mel`` and the mel of ``S``. Phase: zero.
2. Fast Griffin-Lim (Perraudin, Balazs & Søndergaard, 2013): make the spectrogram consistent
   (``stft(istft(X))``), extrapolate with momentum, then impose a magnitude, keeping the phase.
   The magnitude imposed is not fixed: it is the current (consistent, extrapolated) magnitude
   after one more multiplicative update towards the mel. It so keeps the fine structure, such as
   harmonics, that consistency builds within each band, and the band energies the features
   dictate. Bins outside 80–7600 Hz, which no band sees, are set to 0.

docs/griffinlim.md gives the measurements behind each choice. Everything is deterministic (no
random phase). Long inputs are cut into chunks of ``chunk_frames`` frames, each processed with
``CONTEXT`` frames of context on both sides and joined by a short raised-cosine crossfade:
memory stays bounded and the output differs from a single pass by ~1e-5 of full scale. Inputs
of at most one chunk are a single pass.

torch is imported lazily, so that loading this plugin (``spectrocodec --help``) stays instant.
"""

from __future__ import annotations

import importlib.util
import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import numpy as np

from spectrocodec import hookimpl
from spectrocodec.errors import PluginError
from spectrocodec.interfaces import Vocoder

from .speecht5 import HOP, N_FFT, N_MELS, SAMPLE_RATE, mel_filters

INIT_STEPS = 3  # multiplicative updates of the starting magnitude before Griffin-Lim
CONTEXT = 64  # frames of context on each side of a chunk; edge effects fade within ~16 frames
CROSSFADE = 32  # frames crossfaded at each join between chunks, centred on it
MIN_CHUNK = 4 * CONTEXT
EPS = 1e-12  # keeps the mel ratio finite where a band is empty


def _torch():
    import torch

    return torch


@contextmanager
def torch_threads(count: int):
    """Run torch CPU ops on ``count`` threads inside the block, restoring the setting after."""
    torch = _torch()
    saved = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


def resolve_device(device: str) -> str:
    """"auto" → "cuda" when CUDA is present, else "cpu"; "cpu"/"cuda"/"cuda:N" checked. PluginError if not usable."""
    torch = _torch()
    device = str(device)
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        return device
    if device == "cuda" or device.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise PluginError(f"vocoder 'griffinlim' cannot use device '{device}': torch sees no CUDA GPU here; use --device cpu or auto")
        return device
    raise PluginError(f"vocoder 'griffinlim' has no device '{device}'; use auto, cpu or cuda")


@lru_cache(maxsize=None)
def _operators(device: str) -> dict[str, Any]:
    """The fixed matrices on ``device``, float32, laid out for spectrograms of shape (frames, 513):

    - ``to_mel``   (513, 80): mel_filters(), magnitude → mel values (``magnitude @ to_mel``);
    - ``spread``   (80, 513): each bin's mel weights normalised to sum 1 over the bands (columns
      of zeros outside 80–7600 Hz), mel-band ratios → per-bin gains;
    - ``pinv``     (80, 513): the minimum-norm inverse of ``to_mel``;
    - ``window``   (1024,): the periodic Hann window.
    """
    torch = _torch()
    filters = mel_filters()  # float64 (513, 80)
    weights = filters.sum(axis=1, keepdims=True)
    spread = np.divide(filters, weights, out=np.zeros_like(filters), where=weights > 0)
    as_tensor = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).to(device)  # noqa: E731
    return {
        "to_mel": as_tensor(filters),
        "spread": as_tensor(spread.T),
        "pinv": as_tensor(np.linalg.pinv(filters)),
        "window": torch.hann_window(N_FFT, periodic=True, dtype=torch.float32, device=device),
    }


def mel_gain(magnitude, mel, ops):
    """Per-bin gains (frames, 513) that move magnitude (frames, 513) ≥ 0 towards ``magnitude @ to_mel = mel``.

    ``magnitude * gain`` is one multiplicative update of the I-divergence between ``mel`` (frames,
    80) and the mel of the magnitude: each bin is scaled by the weighted mean, over the bands it
    feeds, of target / current mel value. It stays non-negative, keeps the fine structure within a
    band, and zeroes the bins no band sees.
    """
    return (mel / (magnitude @ ops["to_mel"] + EPS)) @ ops["spread"]


def magnitude_of(spectrum):
    """|spectrum| float32 (frames, 513) of complex64 (frames, 513); hypot on the real view is 2-3×
    faster on CPU than torch's complex ``abs``."""
    torch = _torch()
    parts = torch.view_as_real(spectrum)
    return torch.hypot(parts[..., 0], parts[..., 1])


def stft(signal, frames: int, window):
    """Centred STFT like the features': signal (frames * 256,) → complex64 (frames, 513)."""
    torch = _torch()
    pad = N_FFT // 2
    mode = "reflect" if signal.shape[0] > pad else "constant"  # reflection needs more than n_fft / 2 samples
    padded = torch.nn.functional.pad(signal[None, None], (pad, pad), mode=mode)[0, 0]
    return torch.fft.rfft(padded.unfold(0, N_FFT, HOP)[:frames] * window, dim=1)


def istft(spectrum, window, envelope):
    """Inverse of ``stft`` (least-squares overlap-add): complex64 (frames, 513) → float32 (frames * 256,).

    ``envelope`` (frames * 256,) is ``overlap_envelope(frames)``: the summed squared windows.
    """
    torch = _torch()
    frames = spectrum.shape[0]
    pieces = (torch.fft.irfft(spectrum, n=N_FFT, dim=1) * window).view(frames, N_FFT // HOP, HOP)
    out = torch.zeros(frames + N_FFT // HOP - 1, HOP, dtype=pieces.dtype, device=pieces.device)
    for quarter in range(N_FFT // HOP):  # hop = n_fft / 4: each frame spans 4 hops
        out[quarter : quarter + frames] += pieces[:, quarter]
    return out.view(-1)[N_FFT // 2 : N_FFT // 2 + frames * HOP] / envelope


def overlap_envelope(frames: int, window):
    """Sum of the squared, hop-shifted windows over the output samples: float32 (frames * 256,), > 0."""
    torch = _torch()
    squared = (window**2).view(N_FFT // HOP, HOP)
    out = torch.zeros(frames + N_FFT // HOP - 1, HOP, dtype=window.dtype, device=window.device)
    for quarter in range(N_FFT // HOP):
        out[quarter : quarter + frames] += squared[quarter]
    return out.view(-1)[N_FFT // 2 : N_FFT // 2 + frames * HOP]


def griffin_lim(features: np.ndarray, iterations: int, momentum: float, device: str) -> np.ndarray:
    """One pass over all frames: features float32 (frames, 80) → waveform float32 (frames * 256,).

    Memory is a few (frames, 513) complex64 arrays (4 kB per frame each): ``GriffinLimVocoder.vocode``
    cuts long inputs into chunks.
    """
    torch = _torch()
    ops = _operators(device)
    frames = features.shape[0]
    window = ops["window"]
    envelope = overlap_envelope(frames, window)
    with torch.inference_mode():
        mel = torch.pow(10.0, torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32)).to(device))
        magnitude = (mel @ ops["pinv"]).clamp_min(0.0)  # (frames, 513)
        for _ in range(INIT_STEPS):
            magnitude = magnitude * mel_gain(magnitude, mel, ops)
        spectrum = magnitude.to(torch.complex64)  # zero phase
        previous = torch.zeros_like(spectrum)
        for _ in range(iterations):
            consistent = stft(istft(spectrum, window, envelope), frames, window)
            # the fast Griffin-Lim extrapolation consistent + momentum * (consistent - previous), in 2 passes
            spectrum = consistent.mul(1.0 + momentum).sub_(previous, alpha=momentum)
            previous = consistent
            # impose the mel-fitted magnitude |spectrum| * gain, keeping the phase
            spectrum.mul_(mel_gain(magnitude_of(spectrum), mel, ops))
        return istft(spectrum, window, envelope).cpu().numpy()


def chunk_bounds(frames: int, chunk_frames: int, multiple: int = 1) -> list[tuple[int, int]]:
    """Cut [0, frames) into ceil(frames / chunk_frames) nearly equal (start, stop) chunks of frames,
    that count rounded up to a multiple of ``multiple`` when it is more than 1 (so that ``multiple``
    workers get equal shares)."""
    count = max(1, -(-frames // chunk_frames))
    if count > 1:
        count = -(-count // multiple) * multiple
    edges = np.linspace(0, frames, count + 1).round().astype(int)
    return list(zip(edges[:-1].tolist(), edges[1:].tolist()))


def _fades(samples: int) -> tuple[np.ndarray, np.ndarray]:
    """Raised-cosine fade-in and fade-out of ``samples`` samples, summing to 1."""
    fade_in = np.sin(0.5 * np.pi * (np.arange(samples) + 0.5) / samples) ** 2
    return fade_in.astype(np.float32), (1.0 - fade_in).astype(np.float32)


class GriffinLimVocoder(Vocoder):
    """speecht5 features float32 (frames, 80) → waveform float32 (frames * 256,) at 16 kHz.

    Parameters: ``device`` ("auto", "cpu", "cuda"); ``iterations`` of fast Griffin-Lim (more is
    slower and slightly better, see docs/griffinlim.md); ``momentum`` (0 = plain Griffin-Lim);
    ``chunk_frames``: frames processed at once (2048 frames = 33 s; at least 256); ``workers``:
    chunks vocoded at the same time, each on its own thread (0: one per CPU core this process may
    use); ``threads``: torch threads per chunk.
    """

    name = "griffinlim"
    accepts = ("speecht5",)
    devices = ("cpu", "cuda")
    priority = 0
    sample_rate = SAMPLE_RATE
    hop_length = HOP
    defaults = {"device": "auto", "iterations": 64, "momentum": 0.9, "chunk_frames": 2048, "threads": 1, "workers": 0}
    limits = {"iterations": (0, 10000), "threads": (1, 64)}  # iterations=1e9 would run for days

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        iterations, momentum, chunk, threads, workers = (self.params[k] for k in ("iterations", "momentum", "chunk_frames", "threads", "workers"))
        if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 0:
            raise PluginError(f"vocoder 'griffinlim' takes iterations as a whole number >= 0, not {iterations!r}")
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or not 0 <= momentum <= 1:
            raise PluginError(f"vocoder 'griffinlim' takes momentum from 0 to 1, not {momentum!r}")
        if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < MIN_CHUNK:
            raise PluginError(f"vocoder 'griffinlim' takes chunk_frames as a whole number >= {MIN_CHUNK}, not {chunk!r}")
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise PluginError(f"vocoder 'griffinlim' takes threads as a whole number >= 1, not {threads!r}")
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
            raise PluginError(f"vocoder 'griffinlim' takes workers as a whole number >= 0 (0: one per CPU core), not {workers!r}")
        self.device_name = resolve_device(self.params["device"])

    @classmethod
    def unavailable(cls, params: dict[str, Any] | None = None) -> str | None:
        if importlib.util.find_spec("torch") is None:
            return "needs torch: pip install 'spectrocodec[torch]'"
        return None

    def vocode(self, features: np.ndarray) -> np.ndarray:
        features = np.asarray(features, dtype=np.float32)
        if features.ndim != 2 or features.shape[1] != N_MELS:
            raise PluginError(f"vocoder 'griffinlim' takes features of shape (frames, {N_MELS}), not {features.shape}")
        frames = features.shape[0]
        iterations, momentum = int(self.params["iterations"]), float(self.params["momentum"])
        if frames == 0:
            return np.zeros(0, dtype=np.float32)
        with torch_threads(int(self.params["threads"])):
            return self._vocode(features, iterations, momentum)

    def _vocode(self, features: np.ndarray, iterations: int, momentum: float) -> np.ndarray:
        frames = features.shape[0]
        workers = self.worker_count()
        chunks = chunk_bounds(frames, int(self.params["chunk_frames"]), workers)
        if len(chunks) == 1:
            return griffin_lim(features, iterations, momentum, self.device_name)
        out = np.zeros(frames * HOP, dtype=np.float32)
        fade_in, fade_out = _fades(CROSSFADE * HOP)
        spans = [(max(0, start - CONTEXT), min(frames, stop + CONTEXT)) for start, stop in chunks]  # frames processed
        run = lambda span: griffin_lim(features[span[0] : span[1]], iterations, momentum, self.device_name)  # noqa: E731
        with ThreadPoolExecutor(max_workers=workers) as pool:  # torch releases the GIL: chunks run in parallel
            waves = pool.map(run, spans) if workers > 1 else map(run, spans)
            for (start, stop), (first, _), wave in zip(chunks, spans, waves):
                self._join(out, wave, start, stop, first, frames, fade_in, fade_out)
        return out

    @staticmethod
    def _join(out, wave, start, stop, first, frames, fade_in, fade_out) -> None:
        """Add chunk [start, stop)'s samples (``wave`` covers frames from ``first``) into ``out``,
        crossfaded over CROSSFADE frames at each inner join."""
        half = CROSSFADE // 2
        lo = start - half if start > 0 else 0  # frames written, crossfade included
        hi = stop + half if stop < frames else frames
        piece = wave[(lo - first) * HOP : (hi - first) * HOP]
        if start > 0:
            piece[: len(fade_in)] *= fade_in
        if stop < frames:
            piece[-len(fade_out) :] *= fade_out
        out[lo * HOP : hi * HOP] += piece

    def worker_count(self) -> int:
        """Chunks vocoded at once: the ``workers`` parameter, 0 meaning one per usable CPU core; 1 on a GPU."""
        if self.device_name != "cpu":
            return 1
        workers = int(self.params["workers"])
        if workers == 0:
            workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        return max(1, workers)


@hookimpl
def spectrocodec_vocoders():
    return [GriffinLimVocoder]
