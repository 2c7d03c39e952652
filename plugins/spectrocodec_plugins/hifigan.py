"""The ``hifigan`` vocoder: SpeechT5's HiFi-GAN (transformers' ``SpeechT5HifiGan``, weights
``microsoft/speecht5_hifigan``) turns speecht5 log-mel features back into 16 kHz speech.

Weights are looked for, in this order: the ``weights`` parameter (``--vocoder-weights PATH_OR_ID``),
the ``SPECTROCODEC_HIFIGAN`` environment variable (a folder or a hub id), the local Hugging Face
cache (``microsoft/speecht5_hifigan``, ``local_files_only=True``), then the hub
(``SpeechT5HifiGan.from_pretrained("microsoft/speecht5_hifigan")``). Offline (``HF_HUB_OFFLINE=1``)
or with the hub unreachable, a one-line PluginError says so and how to provide them; nothing waits
on network retries. ``unavailable()`` tells, without importing torch or downloading, whether weights
are at hand (explicit ``weights`` always count as such), so that ``--vocoder auto`` falls back to
griffinlim when they are not.

The network is run by our own forward pass over the checkpoint's weights (``Generator``), not by
``SpeechT5HifiGan.forward``: the same operations (the checkpoint's mean/scale normalisation when
``config.normalize_before``, conv_pre, 4 × (leaky ReLU, transposed conv, 3 averaged residual
blocks), leaky ReLU, conv_post, tanh), but every 1-D convolution runs as a 2-D one of height 1 in
channels-last layout, which oneDNN computes faster on CPU (11-38 % less CPU time overall, up to 3×
on the 32- and 64-channel layers), and weight norm, if a checkpoint has it, is folded into plain
weights once. Long inputs are cut into windows of ``chunk_frames`` frames that overlap by the
network's receptive field, so memory is bounded and the output equals a single pass (to float
rounding). ``vocode_batch`` runs several spectrograms as one padded batch; the padding is masked to
zero before every convolution, so each output equals the one ``vocode`` gives. docs/hifigan.md has
the measurements.

torch and transformers are imported only when a model is loaded, so importing this module is cheap.
"""

from __future__ import annotations

import importlib.util
import math
import os
import socket
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Sequence
from urllib.parse import urlparse

import numpy as np

from spectrocodec import hookimpl
from spectrocodec.errors import PluginError
from spectrocodec.interfaces import Vocoder

HUB_ID = "microsoft/speecht5_hifigan"
ENV_VAR = "SPECTROCODEC_HIFIGAN"
HOP = 256  # output samples per frame: the product of the upsample rates (4 × 4 × 4 × 4)
N_MELS = 80
SAMPLE_RATE = 16000
CPU_CHUNK_FRAMES = 1024  # ~16 s per window on CPU: fastest measured with 2 threads, ~350 MB of activations
GPU_CHUNK_FRAMES = 8192  # frames per window on GPU, shared by a batch: ~2 GB of activations in float32
GPU_BATCH = 16  # items run together on GPU
DTYPES = ("float32", "float16", "bfloat16")
HUB_TIMEOUT_S = 3.0  # how long to wait for the hub's host to answer before saying it is unreachable
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
HOW_TO = (f"pass --vocoder-weights PATH_OR_HUB_ID (weights=...), set {ENV_VAR}, or download "
          f"{HUB_ID} once while online; or use --vocoder griffinlim")


# -- finding the weights ------------------------------------------------------------------------
def _truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def hub_offline() -> bool:
    """True when the Hugging Face hub is switched off (HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE)."""
    if _truthy("HF_HUB_OFFLINE") or _truthy("TRANSFORMERS_OFFLINE"):
        return True
    try:
        from huggingface_hub import constants
    except ImportError:
        return False
    return bool(constants.HF_HUB_OFFLINE)


def hub_unreachable(timeout: float = HUB_TIMEOUT_S) -> str | None:
    """Why the hub cannot be reached (no DNS, no route, time-out after ``timeout`` s), or None.
    A proxy in the environment is trusted to do its job: the download itself is then tried."""
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return None
    endpoint = os.environ.get("HF_ENDPOINT") or "https://huggingface.co"
    url = urlparse(endpoint)
    host, port = url.hostname or "huggingface.co", url.port or (80 if url.scheme == "http" else 443)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        return f"{host} cannot be reached ({exc.strerror or exc})"
    return None


def _looks_like_path(name: str) -> bool:
    """A hub id is "owner/name" (or "name"); anything else with a separator is meant as a path."""
    return (name.startswith(("/", ".", "~")) or "\\" in name or name.count("/") > 1
            or (len(name) > 1 and name[1] == ":"))


def in_cache(repo_id: str) -> bool:
    """True when ``repo_id``'s config and weights are in the local Hugging Face cache (no network)."""
    try:
        from huggingface_hub import try_to_load_from_cache

        if not isinstance(try_to_load_from_cache(repo_id, "config.json"), str):
            return False
        return any(isinstance(try_to_load_from_cache(repo_id, f), str) for f in WEIGHT_FILES)
    except Exception:  # not installed, an invalid id, an unreadable cache: not there
        return False


def weights_unavailable() -> str | None:
    """Why no weights can be had without a download (the env var, then the cache), or None."""
    name = os.environ.get(ENV_VAR, "").strip()
    if name:
        path = Path(name).expanduser()
        if path.exists():
            return None if (path / "config.json").is_file() else f"{ENV_VAR}={name} has no config.json"
        if _looks_like_path(name):
            return f"{ENV_VAR}={name} does not exist"
    else:
        name = HUB_ID
    if in_cache(name):
        return None
    return f"no weights without a download ('{name}' is not in the local Hugging Face cache); {HOW_TO}"


def load_model(weights: str | None = None):
    """The ``SpeechT5HifiGan`` to run, from the first source that has it: ``weights`` (a folder
    or hub id), $SPECTROCODEC_HIFIGAN, the local cache, the hub. Raises PluginError, one line."""
    try:
        from transformers import SpeechT5HifiGan
    except ImportError as exc:
        raise PluginError(f"vocoder 'hifigan' needs torch and transformers ({exc}); "
                          f"pip install 'spectrocodec[hifigan]' or use --vocoder griffinlim") from None
    if weights:
        origin, name = "--vocoder-weights", str(weights)
    elif os.environ.get(ENV_VAR, "").strip():
        origin, name = ENV_VAR, os.environ[ENV_VAR].strip()
    else:
        origin, name = "", HUB_ID
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise PluginError(f"{origin} {name} is not a HiFi-GAN model folder (no config.json); "
                              f"give a folder written by SpeechT5HifiGan.save_pretrained or a hub id")
        with _no_progress_bar():
            model = _from_pretrained(SpeechT5HifiGan, str(path), f"from {path}")
    elif _looks_like_path(name):
        raise PluginError(f"{origin} {name} does not exist; {HOW_TO}")
    else:
        try:  # the local cache first: no network at all
            with _no_progress_bar():
                model = SpeechT5HifiGan.from_pretrained(name, local_files_only=True)
        except OSError:
            where = f"'{name}'" + (f" (from {origin})" if origin else "")
            if hub_offline():
                raise PluginError(f"HiFi-GAN weights {where} are not in the local Hugging Face cache "
                                  f"and the hub is off (HF_HUB_OFFLINE); {HOW_TO}") from None
            reason = hub_unreachable()
            if reason:
                raise PluginError(f"HiFi-GAN weights {where} are not in the local Hugging Face cache "
                                  f"and the hub is offline: {reason}; {HOW_TO}") from None
            model = _from_pretrained(SpeechT5HifiGan, name, f"'{name}' from the hub")
        except Exception as exc:
            raise PluginError(f"cannot load HiFi-GAN weights '{name}' from the cache: {_one_line(exc)}") from None
    config = getattr(model, "config", None)
    if getattr(config, "model_in_dim", None) != N_MELS or getattr(config, "upsample_rates", None) is None \
            or math.prod(config.upsample_rates) != HOP:
        raise PluginError(f"the weights from {name} are not a SpeechT5 HiFi-GAN for {N_MELS} mel bins "
                          f"and hop {HOP}")
    return model.eval()


@contextmanager
def _no_progress_bar():
    """transformers' "Loading weights" bar off while a local model loads (a download keeps its bar)."""
    from transformers.utils import logging

    enabled = logging.is_progress_bar_enabled()
    if enabled:
        logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            logging.enable_progress_bar()


def _from_pretrained(cls: Any, name: str, where: str):
    try:
        return cls.from_pretrained(name)
    except Exception as exc:
        raise PluginError(f"cannot load HiFi-GAN weights {where}: {_one_line(exc)}; {HOW_TO}") from None


def _one_line(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:300]


# -- the network ------------------------------------------------------------------------------
def receptive_field(config: Any) -> int:
    """How many input frames on each side can change one output frame (rounded up, +1 spare).

    Frame rate r = 1 (conv_pre), then ×upsample rate at each stage: a transposed conv of kernel k,
    stride s reaches k // s + 1 of its input samples; a residual block of kernel k reaches
    Σ_dilations (k - 1) / 2 · (d + 1) samples; conv_post 3 samples at the output rate."""
    reach, rate = 3.0, 1  # conv_pre: kernel 7
    for s, k in zip(config.upsample_rates, config.upsample_kernel_sizes):
        reach += (k // s + 1) / rate
        rate *= s
        reach += max((ks - 1) / 2 * sum(d + 1 for d in dil) for ks, dil in
                     zip(config.resblock_kernel_sizes, config.resblock_dilation_sizes)) / rate
    reach += 3 / rate  # conv_post: kernel 7
    return math.ceil(reach) + 1


class Generator:
    """A SpeechT5HifiGan's weights laid out for speed, and its forward pass.

    Every convolution weight becomes a 4-D channels-last tensor (out, in, 1, kernel) in ``dtype``
    on ``device`` (a weight-normed layer's ``.weight`` is its folded weight). ``forward`` maps
    normalised log-mel (batch, frames, 80) to waveforms (batch, frames * 256)."""

    def __init__(self, model: Any, device: str, dtype: Any) -> None:
        import torch

        def conv(layer):  # → (weight, bias, padding, dilation, stride)
            weight = layer.weight.detach().to(device, dtype).unsqueeze(2)
            return (weight.contiguous(memory_format=torch.channels_last), layer.bias.detach().to(device, dtype),
                    layer.padding[0], layer.dilation[0], layer.stride[0])

        config = model.config
        self.slope = config.leaky_relu_slope
        self.kernels = len(config.resblock_kernel_sizes)
        self.pre, self.post = conv(model.conv_pre), conv(model.conv_post)
        self.ups = [conv(up) for up in model.upsampler]
        self.blocks = [[(conv(c1), conv(c2)) for c1, c2 in zip(b.convs1, b.convs2)] for b in model.resblocks]
        self.rates = list(config.upsample_rates)
        self.normalize = bool(config.normalize_before)
        self.mean = model.mean.detach().float().to(device)
        self.scale = model.scale.detach().float().to(device)
        self.device, self.dtype = device, dtype

    def forward(self, spec: Any, lengths: Sequence[int] | None = None) -> Any:
        """spec: normalised log-mel, tensor (batch, frames, 80) in ``dtype`` on ``device``;
        lengths: each item's valid frames (the rest is padding, zeroed before every convolution so
        that it acts as the end of the signal), None when all are whole → (batch, frames * 256)."""
        import torch
        import torch.nn.functional as F

        def conv(x, layer, mask):
            weight, bias, padding, dilation, _ = layer
            return F.conv2d(x if mask is None else x * mask, weight, bias, padding=(0, padding), dilation=(1, dilation))

        def masks(width):  # (batch, 1, 1, width) of 0/1, or None
            if lengths is None:
                return None
            valid = torch.tensor(lengths, device=self.device).view(-1, 1, 1, 1) * (width // spec.shape[1])
            return (torch.arange(width, device=self.device) < valid).to(self.dtype)

        batch = spec.shape[0]
        x = spec.transpose(1, 2).unsqueeze(2).contiguous(memory_format=torch.channels_last)  # (B, 80, 1, F)
        h = conv(x, self.pre, masks(x.shape[-1]))
        for i, rate in enumerate(self.rates):
            weight, bias, padding, _, stride = self.ups[i]
            h = F.leaky_relu(h, self.slope)
            mask = masks(h.shape[-1])
            h = F.conv_transpose2d(h if mask is None else h * mask, weight, bias, stride=(1, stride), padding=(0, padding))
            mask = masks(h.shape[-1])
            total = None
            for block in self.blocks[i * self.kernels:(i + 1) * self.kernels]:
                r = h
                for c1, c2 in block:
                    t = conv(F.leaky_relu(r, self.slope), c1, mask)
                    r = conv(F.leaky_relu_(t, self.slope), c2, mask).add_(r)
                total = r if total is None else total.add_(r)
            h = total.div_(self.kernels)
        h = F.leaky_relu_(h)  # default slope 0.01, as in SpeechT5HifiGan
        return torch.tanh(conv(h, self.post, masks(h.shape[-1]))).reshape(batch, -1)

    def normalise(self, features: np.ndarray) -> Any:
        """log-mel float32 (frames, 80) → normalised float32 tensor on ``device`` (mean/scale of the checkpoint)."""
        import torch

        x = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32)).to(self.device)
        return (x - self.mean) / self.scale if self.normalize else x


def windows(frames: int, chunk: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """Cut ``frames`` into near-equal windows of at most ``chunk`` output frames:
    (out_start, out_stop, in_start, in_stop), the input widened by ``overlap`` on each side."""
    if frames <= 0:
        return []
    count = math.ceil(frames / max(1, chunk))
    size = math.ceil(frames / count)
    out = []
    for start in range(0, frames, size):
        stop = min(frames, start + size)
        out.append((start, stop, max(0, start - overlap), min(frames, stop + overlap)))
    return out


# -- the plugin -------------------------------------------------------------------------------
class HifiganVocoder(Vocoder):
    """speecht5 log-mel float32 (frames, 80) → 16 kHz waveform float32 (frames * 256,).

    Parameters: ``weights`` (folder or hub id; None: $SPECTROCODEC_HIFIGAN, cache, hub),
    ``device`` ("auto": CUDA when present, "cpu", "cuda"), ``dtype`` ("float32"; "float16" or
    "bfloat16" on CUDA only), ``chunk_frames`` (output frames per window; None: 1024 on CPU,
    8192 / batch on CUDA), ``overlap_frames`` (None: the receptive field, 28 frames for the SpeechT5 config),
    ``threads`` (torch CPU threads while vocoding; None: torch's default, one per core),
    ``batch_size`` (items ``vocode_batch`` runs together; None: 1 on CPU, 16 on CUDA).
    The model loads on first use; ``load()`` does it now.
    """

    name = "hifigan"
    accepts = ("speecht5",)
    devices = ("cpu", "cuda")
    priority = 10
    defaults = {"weights": None, "device": "auto", "dtype": "float32", "chunk_frames": None,
                "overlap_frames": None, "threads": None, "batch_size": None}

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        p = self.params
        if p["dtype"] not in DTYPES:
            raise PluginError(f"vocoder 'hifigan' takes dtype {', '.join(DTYPES)}, not {p['dtype']!r}")
        if not (p["device"] in ("auto", "cpu") or str(p["device"]).startswith("cuda")):
            raise PluginError(f"vocoder 'hifigan' runs on device auto, cpu or cuda, not {p['device']!r}")
        if p["device"] == "cpu" and p["dtype"] != "float32":
            raise PluginError(f"dtype {p['dtype']} is for CUDA only; on CPU hifigan runs in float32")
        for key in ("chunk_frames", "overlap_frames", "threads", "batch_size"):
            value = p[key]
            if value is not None and not (isinstance(value, int) and not isinstance(value, bool)
                                          and value >= (0 if key == "overlap_frames" else 1)):
                raise PluginError(f"vocoder 'hifigan' parameter {key} takes a positive integer, not {value!r}")
        self._generator: Generator | None = None
        self._device: str | None = None

    @classmethod
    def unavailable(cls, params: dict[str, Any] | None = None) -> str | None:
        missing = [m for m in ("torch", "transformers") if importlib.util.find_spec(m) is None]
        if missing:
            return f"needs {' and '.join(missing)} (pip install 'spectrocodec[hifigan]')"
        if params and params.get("weights"):  # explicit weights: loading them says what is wrong
            return None
        return weights_unavailable()

    @property
    def device_name(self) -> str:
        """The device it runs on: "cpu" or "cuda" (resolves "auto"; imports torch)."""
        if self._device is None:
            self._device = self._resolve_device()
        return self._device

    def _resolve_device(self) -> str:
        import torch

        device, dtype = self.params["device"], self.params["dtype"]
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        elif device.startswith("cuda") and not torch.cuda.is_available():
            raise PluginError(f"--device {device} asked for, but torch {torch.__version__} sees no CUDA GPU here; "
                              f"use --device cpu or auto")
        if device == "cpu" and dtype != "float32":
            raise PluginError(f"dtype {dtype} is for CUDA only and no GPU is used; on CPU hifigan runs in float32")
        return device

    def load(self) -> Generator:
        """Load the weights (see module docstring) and lay them out on the device; once."""
        if self._generator is None:
            import torch

            device = self.device_name
            model = load_model(self.params["weights"])
            with torch.inference_mode():
                self._generator = Generator(model, device, getattr(torch, self.params["dtype"]))
            self.overlap = (self.params["overlap_frames"] if self.params["overlap_frames"] is not None
                            else receptive_field(model.config))
        return self._generator

    def vocode(self, features: np.ndarray) -> np.ndarray:
        return self.vocode_batch([features])[0]

    def vocode_batch(self, batch: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Several log-mel arrays float32 (frames_i, 80) → waveforms float32 (frames_i * 256,).

        Items of similar length are grouped ``batch_size`` at a time (default 1 on CPU, where
        batching gains nothing, 16 on CUDA), padded to the longest of their group and run together,
        window by window; each output equals what ``vocode`` gives for that item alone."""
        import torch

        batch = [_check_features(f) for f in batch]
        gen = self.load()
        cuda = gen.device.startswith("cuda")
        size = self.params["batch_size"] or (GPU_BATCH if cuda else 1)
        order = sorted(range(len(batch)), key=lambda i: len(batch[i]))
        outputs: list[np.ndarray] = [np.empty(0, np.float32)] * len(batch)
        with self._threads(), torch.inference_mode():
            for start in range(0, len(order), size):
                group = order[start:start + size]
                chunk = self.params["chunk_frames"] or (
                    max(512, GPU_CHUNK_FRAMES // len(group)) if cuda else CPU_CHUNK_FRAMES)
                for i, out in zip(group, self._vocode_group(gen, [batch[i] for i in group], chunk)):
                    outputs[i] = out
        return outputs

    def _vocode_group(self, gen: Generator, group: list[np.ndarray], chunk: int) -> list[np.ndarray]:
        """One padded batch, in windows of ``chunk`` output frames widened by ``self.overlap``."""
        import torch

        outputs = [np.zeros(len(f) * HOP, dtype=np.float32) for f in group]
        normalised = [gen.normalise(f) for f in group]
        for out_start, out_stop, in_start, in_stop in windows(max(len(f) for f in group), chunk, self.overlap):
            items = [i for i, f in enumerate(group) if len(f) > out_start]  # those not over yet
            width = in_stop - in_start
            lengths = [min(width, len(group[i]) - in_start) for i in items]
            x = torch.zeros(len(items), width, N_MELS, device=gen.device, dtype=gen.dtype)
            for row, (i, n) in enumerate(zip(items, lengths)):
                x[row, :n] = normalised[i][in_start:in_start + n]
            y = gen.forward(x, None if min(lengths) == width else lengths)
            y = y[:, (out_start - in_start) * HOP:(out_stop - in_start) * HOP].float().cpu().numpy()
            for row, i in enumerate(items):
                stop = min(out_stop, len(group[i]))
                outputs[i][out_start * HOP:stop * HOP] = y[row, :(stop - out_start) * HOP]
        return outputs

    @contextmanager
    def _threads(self):
        """torch's CPU thread count set to ``threads`` meanwhile, when given."""
        import torch

        threads, saved = self.params["threads"], torch.get_num_threads()
        if threads:
            torch.set_num_threads(threads)
        try:
            yield
        finally:
            if threads:
                torch.set_num_threads(saved)


def _check_features(features: np.ndarray) -> np.ndarray:
    features = np.asarray(features)
    if features.ndim != 2 or features.shape[1] != N_MELS:
        raise PluginError(f"vocoder 'hifigan' takes log-mel features of shape (frames, {N_MELS}), not {features.shape}")
    return features.astype(np.float32, copy=False)


@hookimpl
def spectrocodec_vocoders():
    return [HifiganVocoder]
