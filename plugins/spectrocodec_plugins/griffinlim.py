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
of at most one chunk are a single pass; chunks run on ``workers`` threads at once.

The loop is written once against :class:`Arrays`, the dozen array operations it needs: on the CPU
numpy with scipy.fft (float32, no torch import: the base install decodes, and a process starts
~1 s sooner), on CUDA :class:`TorchArrays`. torch is imported only for CUDA, so that loading
this plugin (``spectrocodec --help``) stays instant.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import cached_property, lru_cache
from typing import Any, Iterator

import numpy as np

from spectrocodec import hookimpl
from spectrocodec.errors import PluginError
from spectrocodec.interfaces import Vocoder

from .speecht5 import HOP, N_FFT, N_MELS, SAMPLE_RATE, hann_window, mel_filters

INIT_STEPS = 3  # multiplicative updates of the starting magnitude before Griffin-Lim
CONTEXT = 64  # frames of context on each side of a chunk; edge effects fade within ~16 frames
CROSSFADE = 32  # frames crossfaded at each join between chunks, centred on it
MIN_CHUNK = 4 * CONTEXT
EPS = 1e-12  # keeps the mel ratio finite where a band is empty
QUARTERS = N_FFT // HOP  # hop = n_fft / 4: each frame spans 4 hops
GPU_NODES = ("/dev/nvidiactl", "/dev/nvidia0", "/dev/kfd")  # NVIDIA's and ROCm's device files on Linux


@lru_cache(maxsize=None)
def tables() -> dict[str, np.ndarray]:
    """The fixed matrices, float32, laid out for spectrograms of shape (frames, 513):

    - ``to_mel``   (513, 80): mel_filters(), magnitude → mel values (``magnitude @ to_mel``);
    - ``spread``   (80, 513): each bin's mel weights normalised to sum 1 over the bands (columns
      of zeros outside 80–7600 Hz), mel-band ratios → per-bin gains;
    - ``pinv``     (80, 513): the minimum-norm inverse of ``to_mel``;
    - ``window``   (1024,): the periodic Hann window.
    """
    filters = mel_filters()  # float64 (513, 80)
    weights = filters.sum(axis=1, keepdims=True)
    spread = np.divide(filters, weights, out=np.zeros_like(filters), where=weights > 0)
    as_float32 = lambda a: np.ascontiguousarray(a, dtype=np.float32)  # noqa: E731
    return {"to_mel": as_float32(filters), "spread": as_float32(spread.T), "pinv": as_float32(np.linalg.pinv(filters)),
            "window": as_float32(hann_window())}


class Arrays:
    """The array operations the loop needs, on the CPU: numpy float32 / complex64, scipy.fft.

    ``threads`` is the BLAS and FFT threads one chunk uses; :meth:`session` holds BLAS to it
    (threadpoolctl) while chunks run, so that two chunks on two threads do not each start a
    BLAS thread per core and wait on one another.
    """

    device = "cpu"

    def __init__(self, threads: int = 1) -> None:
        self.threads = threads
        self.tables = tables()

    @contextmanager
    def session(self):
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=self.threads, user_api="blas"):
            yield

    def asarray(self, array: np.ndarray):
        return np.ascontiguousarray(array, dtype=np.float32)

    def numpy(self, array) -> np.ndarray:
        return array

    def zeros(self, shape: tuple[int, ...]):
        return np.zeros(shape, dtype=np.float32)

    def zeros_like(self, array):
        return np.zeros_like(array)

    def complex(self, real):
        return real.astype(np.complex64)

    def clamp_min(self, array, low: float):
        return np.maximum(array, low, out=array)

    def subtract(self, a, b, out):
        return np.subtract(a, b, out=out)

    def abs(self, spectrum):
        return np.abs(spectrum)

    def frames(self, signal, count: int):
        """signal float32 (samples,) → the windowed, centred frames (count, 1024) the features use
        (reflect padding; zeros when the signal is too short to reflect)."""
        pad = N_FFT // 2
        padded = np.pad(signal, pad, mode="reflect" if signal.shape[0] > pad else "constant")
        view = np.lib.stride_tricks.as_strided(padded, (count, N_FFT), (HOP * padded.itemsize, padded.itemsize), writeable=False)
        return view * self.tables["window"]

    def rfft(self, frames):
        import scipy.fft

        return scipy.fft.rfft(frames, axis=1, overwrite_x=True, workers=self.threads)

    def irfft(self, spectrum):
        import scipy.fft

        return scipy.fft.irfft(spectrum, n=N_FFT, axis=1, workers=self.threads)


class TorchArrays(Arrays):
    """The same operations on a torch device (CUDA; the CPU too, for tests): float32 / complex64."""

    def __init__(self, device: str, threads: int = 1) -> None:
        import torch

        self.torch, self.device, self.threads = torch, device, threads
        self.tables = {name: torch.from_numpy(array).to(device) for name, array in tables().items()}

    @contextmanager
    def session(self):
        saved = self.torch.get_num_threads()
        self.torch.set_num_threads(self.threads)
        try:
            with self.torch.inference_mode():
                yield
        finally:
            self.torch.set_num_threads(saved)

    def asarray(self, array: np.ndarray):
        return self.torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)).to(self.device)

    def numpy(self, array) -> np.ndarray:
        return array.cpu().numpy()

    def zeros(self, shape: tuple[int, ...]):
        return self.torch.zeros(shape, dtype=self.torch.float32, device=self.device)

    def zeros_like(self, array):
        return self.torch.zeros_like(array)

    def complex(self, real):
        return real.to(self.torch.complex64)

    def clamp_min(self, array, low: float):
        return array.clamp_min_(low)

    def subtract(self, a, b, out):
        return self.torch.sub(a, b, out=out)

    def abs(self, spectrum):
        parts = self.torch.view_as_real(spectrum)  # hypot on the real view: 2-3× faster than complex abs on CPU
        return self.torch.hypot(parts[..., 0], parts[..., 1])

    def frames(self, signal, count: int):
        pad = N_FFT // 2
        mode = "reflect" if signal.shape[0] > pad else "constant"
        padded = self.torch.nn.functional.pad(signal[None, None], (pad, pad), mode=mode)[0, 0]
        return padded.unfold(0, N_FFT, HOP)[:count] * self.tables["window"]

    def rfft(self, frames):
        return self.torch.fft.rfft(frames, dim=1)

    def irfft(self, spectrum):
        return self.torch.fft.irfft(spectrum, n=N_FFT, dim=1)


def mel_gain(magnitude, mel, ops: Arrays):
    """Per-bin gains (frames, 513) that move magnitude (frames, 513) ≥ 0 towards ``magnitude @ to_mel = mel``.

    ``magnitude * gain`` is one multiplicative update of the I-divergence between ``mel`` (frames,
    80) and the mel of the magnitude: each bin is scaled by the weighted mean, over the bands it
    feeds, of target / current mel value. It stays non-negative, keeps the fine structure within a
    band, and zeroes the bins no band sees.
    """
    return (mel / (magnitude @ ops.tables["to_mel"] + EPS)) @ ops.tables["spread"]


def stft(signal, frames: int, ops: Arrays):
    """Centred STFT like the features': signal float32 (frames * 256,) → complex64 (frames, 513)."""
    return ops.rfft(ops.frames(signal, frames))


def istft(spectrum, envelope, ops: Arrays):
    """Inverse of ``stft`` (least-squares overlap-add): complex64 (frames, 513) → float32 (frames * 256,).

    ``envelope`` (frames * 256,) is ``overlap_envelope(frames, ops)``: the summed squared windows.
    """
    frames = spectrum.shape[0]
    pieces = ops.irfft(spectrum)
    pieces *= ops.tables["window"]
    return overlap_add(pieces.reshape(frames, QUARTERS, HOP), frames, ops) / envelope


def overlap_envelope(frames: int, ops: Arrays):
    """Sum of the squared, hop-shifted windows over the output samples: float32 (frames * 256,), > 0."""
    return overlap_add((ops.tables["window"] ** 2).reshape(1, QUARTERS, HOP), frames, ops)


def overlap_add(pieces, frames: int, ops: Arrays):
    """Frames cut in quarters, float32 (frames, 4, 256) (or (1, 4, 256): the same frame everywhere),
    added at their hop-shifted places → the centred output samples, float32 (frames * 256,)."""
    out = ops.zeros((frames + QUARTERS - 1, HOP))
    for quarter in range(QUARTERS):
        out[quarter : quarter + frames] += pieces[:, quarter]
    return out.reshape(-1)[N_FFT // 2 : N_FFT // 2 + frames * HOP]


def griffin_lim(features: np.ndarray, iterations: int, momentum: float, ops: Arrays) -> np.ndarray:
    """One pass over all frames: features float32 (frames, 80) → waveform float32 (frames * 256,).

    Memory is a few (frames, 513) complex64 arrays (4 kB per frame each): ``GriffinLimVocoder.vocode``
    cuts long inputs into chunks. Run inside ``ops.session()``.
    """
    frames = features.shape[0]
    envelope = overlap_envelope(frames, ops)
    mel = 10.0 ** ops.asarray(features)  # float32 (frames, 80)
    magnitude = ops.clamp_min(mel @ ops.tables["pinv"], 0.0)  # (frames, 513)
    for _ in range(INIT_STEPS):
        magnitude = magnitude * mel_gain(magnitude, mel, ops)
    spectrum = ops.complex(magnitude)  # zero phase
    previous = ops.zeros_like(spectrum)
    for _ in range(iterations):
        consistent = stft(istft(spectrum, envelope, ops), frames, ops)
        # the fast Griffin-Lim extrapolation consistent + momentum * (consistent - previous), in place
        ops.subtract(consistent, previous, out=spectrum)
        spectrum *= momentum
        spectrum += consistent
        previous = consistent
        # impose the mel-fitted magnitude |spectrum| * gain, keeping the phase
        spectrum *= mel_gain(ops.abs(spectrum), mel, ops)
    return ops.numpy(istft(spectrum, envelope, ops))


def cuda_possible() -> bool:
    """Whether CUDA may be usable here, answered without importing torch where it cannot be: torch is
    installed, and either already imported or a GPU device file exists (Linux); elsewhere, True."""
    if importlib.util.find_spec("torch") is None:
        return False
    if "torch" in sys.modules or not sys.platform.startswith("linux"):
        return True
    return any(os.path.exists(node) for node in GPU_NODES)


def resolve_device(device: str) -> str:
    """"auto" → "cuda" when CUDA is present, else "cpu"; "cpu"/"cuda"/"cuda:N" checked. PluginError if not usable."""
    device = str(device)
    if device == "auto":
        if not cuda_possible():
            return "cpu"
        try:
            import torch
        except Exception:  # a broken torch install: the CPU path does not need it
            return "cpu"
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        return device
    if device == "cuda" or device.startswith("cuda:"):
        if importlib.util.find_spec("torch") is None:
            raise PluginError(f"vocoder 'griffinlim' needs torch for device '{device}': pip install 'spectrocodec[torch]' (a CUDA build), or use --device cpu")
        import torch

        if not torch.cuda.is_available():
            raise PluginError(f"vocoder 'griffinlim' cannot use device '{device}': torch sees no CUDA GPU here; use --device cpu or auto")
        return device
    raise PluginError(f"vocoder 'griffinlim' has no device '{device}'; use auto, cpu or cuda")


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
    use); ``threads``: BLAS/FFT threads per chunk (torch threads on CUDA).
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
        missing = [m for m in ("scipy", "threadpoolctl") if importlib.util.find_spec(m) is None]
        return f"needs {' and '.join(missing)}: pip install {' '.join(missing)}" if missing else None

    @cached_property
    def arrays(self) -> Arrays:
        """The array operations on this vocoder's device (numpy on the CPU, torch on CUDA)."""
        threads = int(self.params["threads"])
        return Arrays(threads) if self.device_name == "cpu" else TorchArrays(self.device_name, threads)

    def vocode(self, features: np.ndarray) -> np.ndarray:
        features = self._checked(features)
        out = np.empty(features.shape[0] * HOP, dtype=np.float32)
        done = 0
        for piece in self.vocode_pieces(features):
            out[done : done + len(piece)] = piece
            done += len(piece)
        return out

    def vocode_pieces(self, features: np.ndarray) -> Iterator[np.ndarray]:
        """The waveform in consecutive pieces, each final as soon as its chunk and the crossfade
        into the next are done (one piece for an input of one chunk)."""
        features = self._checked(features)
        frames = features.shape[0]
        iterations, momentum = int(self.params["iterations"]), float(self.params["momentum"])
        if frames == 0:
            yield np.zeros(0, dtype=np.float32)
            return
        with self.arrays.session():
            done, tail = 0, np.zeros(0, np.float32)  # tail: samples from ``done`` on, not final yet
            for first, piece in self._chunks(features, iterations, momentum):
                final = first - done  # pieces overlap only the previous one, by the crossfade
                if final > 0:
                    yield tail[:final]
                overlap = tail[final:]
                piece[: len(overlap)] += overlap
                done, tail = first, piece
            yield tail

    def _checked(self, features: np.ndarray) -> np.ndarray:
        features = np.asarray(features, dtype=np.float32)
        if features.ndim != 2 or features.shape[1] != N_MELS:
            raise PluginError(f"vocoder 'griffinlim' takes features of shape (frames, {N_MELS}), not {features.shape}")
        return features

    def _chunks(self, features: np.ndarray, iterations: int, momentum: float) -> Iterator[tuple[int, np.ndarray]]:
        """(first sample, samples) of each chunk in order, faded in and out over CROSSFADE frames at
        the inner joins (so that overlapping pieces add up to the crossfade); one piece for one chunk."""
        frames = features.shape[0]
        workers = self.worker_count()
        chunks = chunk_bounds(frames, int(self.params["chunk_frames"]), workers)
        if len(chunks) == 1:
            yield 0, griffin_lim(features, iterations, momentum, self.arrays)
            return
        fade_in, fade_out = _fades(CROSSFADE * HOP)
        spans = [(max(0, start - CONTEXT), min(frames, stop + CONTEXT)) for start, stop in chunks]  # frames processed
        run = lambda span: griffin_lim(features[span[0] : span[1]], iterations, momentum, self.arrays)  # noqa: E731
        half = CROSSFADE // 2
        with ThreadPoolExecutor(max_workers=workers) as pool:  # numpy, scipy.fft and BLAS release the GIL: chunks run in parallel
            waves = pool.map(run, spans) if workers > 1 else map(run, spans)
            for (start, stop), (first, _), wave in zip(chunks, spans, waves):
                lo = start - half if start > 0 else 0  # frames this chunk gives, crossfade included
                hi = stop + half if stop < frames else frames
                piece = wave[(lo - first) * HOP : (hi - first) * HOP]
                if start > 0:
                    piece[: len(fade_in)] *= fade_in
                if stop < frames:
                    piece[-len(fade_out) :] *= fade_out
                yield lo * HOP, piece

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
