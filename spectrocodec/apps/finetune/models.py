"""The networks: SpeechT5's HiFi-GAN generator and HiFi-GAN's two discriminators.

- Generator: transformers' ``SpeechT5HifiGan`` (so that the export is what ``--vocoder hifigan``
  loads), trained with weight normalisation on every convolution, which the export folds away.
  Input: log10-mel features (batch, frames, 80); output: waveform (batch, frames * 256) in [-1, 1].
- ``MultiPeriodDiscriminator``: 5 sub-discriminators looking at the waveform folded by periods
  2, 3, 5, 7, 11 (2-D convolutions over (samples / period, period)).
- ``MultiScaleDiscriminator``: 3 sub-discriminators on the waveform at 1, 1/2 and 1/4 rate
  (grouped 1-D convolutions; spectral normalisation on the first, weight normalisation on the rest).
Both return, per sub-discriminator, its score map and its intermediate activations (for feature
matching). ``disc_scale`` < 1 narrows them (for tests on a CPU); 1 is HiFi-GAN V1's size.
"""

from __future__ import annotations

import copy
import os
import shutil
import tempfile
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.parametrizations import spectral_norm, weight_norm

from ...core.errors import InputError
from .recipe import HUB_ID

SLOPE = 0.1  # leaky ReLU slope of the discriminators


def make_generator(init: str | None, overrides: dict, say=print):
    """(SpeechT5HifiGan in training mode with weight norm, a line saying where it started).

    ``init``: None (``HUB_ID`` from the local Hugging Face cache when there, else random weights),
    "random", or a folder / hub id as ``--vocoder-weights`` takes (an export of this command
    included). ``overrides`` change the configuration of random weights only.
    """
    from transformers import SpeechT5HifiGan, SpeechT5HifiGanConfig

    from spectrocodec_plugins.hifigan import in_cache, load_model

    from ...core.errors import SpectrocodecError

    if overrides and init not in (None, "random"):
        raise InputError("--generator changes random weights only; it cannot go with --init DIR or a hub id")
    if init is None:
        if in_cache(HUB_ID):
            init = HUB_ID
        else:
            say(f"spectrocodec: note: {HUB_ID} is not in the local Hugging Face cache: starting from "
                f"RANDOM weights (give --init DIR or a hub id to start from trained ones)")
            init = "random"
    if init == "random":
        try:
            config = SpeechT5HifiGanConfig(**overrides)
        except TypeError as exc:
            raise InputError(f"--generator: {exc}") from None
        model, origin = SpeechT5HifiGan(config), "random weights"
    else:
        try:
            model, origin = load_model(init), f"weights from {init}"
        except SpectrocodecError as exc:
            raise InputError(f"--init {init}: {exc}") from None
    model.train()
    for module in model.modules():
        if isinstance(module, (nn.Conv1d, nn.ConvTranspose1d)):
            weight_norm(module)
    return model, origin


def check_init(init: str | None) -> None:
    """InputError, before any work, for an ``--init`` folder that is missing or not a model."""
    from spectrocodec_plugins.hifigan import _looks_like_path

    if init in (None, "random"):
        return
    path = Path(init).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise InputError(f"--init {init} has no config.json; give an exported RUN_DIR/vocoder, a "
                             f"SpeechT5 HiFi-GAN folder, a hub id or random")
    elif _looks_like_path(str(init)):
        raise InputError(f"--init {init} does not exist; give an exported RUN_DIR/vocoder, a SpeechT5 "
                         f"HiFi-GAN folder, a hub id or random")


def generator_from_config(config: dict):
    """A generator of this configuration with weight norm (its weights come from a checkpoint)."""
    from transformers import SpeechT5HifiGan, SpeechT5HifiGanConfig

    model = SpeechT5HifiGan(SpeechT5HifiGanConfig(**config))
    for module in model.modules():
        if isinstance(module, (nn.Conv1d, nn.ConvTranspose1d)):
            weight_norm(module)
    return model.train()


def export(generator, folder: Path) -> None:
    """Write ``folder``/config.json + model.safetensors (weight norm folded), replacing the old
    export only once the new one is complete."""
    from torch.nn.utils import parametrize
    from transformers import SpeechT5HifiGan
    from transformers.utils import logging

    state = {k: v for k, v in generator.state_dict().items() if ".parametrizations." not in k}
    with torch.no_grad():
        for name, module in generator.named_modules():
            if parametrize.is_parametrized(module, "weight"):
                state[f"{name}.weight"] = module.weight.detach()
    plain = SpeechT5HifiGan(copy.deepcopy(generator.config))
    plain.load_state_dict({k: v.float().cpu() for k, v in state.items()})
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    bar = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()
    try:
        plain.eval().save_pretrained(str(tmp), safe_serialization=True)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o777 & ~mask)  # mkdtemp's folder is private; the export is an ordinary one
        for item in tmp.iterdir():
            os.chmod(item, 0o666 & ~mask)
        old = folder.with_name(f".{folder.name}-old-{os.getpid()}")
        if folder.exists():
            os.replace(folder, old)
        os.replace(tmp, folder)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if bar:
            logging.enable_progress_bar()


def _width(channels: int, scale: float) -> int:
    """``channels`` × ``scale``, a multiple of 16 (the grouped convolutions' groups), at least 16."""
    return channels if scale == 1 else max(16, int(round(channels * scale / 16)) * 16)


def _stack(convs, post, x):
    """Leaky-ReLU'd convolutions then the score convolution: (scores (batch, n), [every activation])."""
    features = []
    for conv in convs:
        x = F.leaky_relu(conv(x), SLOPE)
        features.append(x)
    x = post(x)
    features.append(x)
    return x.flatten(1), features


class PeriodDiscriminator(nn.Module):
    def __init__(self, period: int, scale: float = 1.0) -> None:
        super().__init__()
        self.period = period
        widths = [1] + [_width(c, scale) for c in (32, 128, 512, 1024, 1024)]
        self.convs = nn.ModuleList(
            weight_norm(nn.Conv2d(widths[i], widths[i + 1], (5, 1), (3 if i < 4 else 1, 1), padding=(2, 0)))
            for i in range(5))
        self.post = weight_norm(nn.Conv2d(widths[-1], 1, (3, 1), 1, padding=(1, 0)))

    def forward(self, x):
        """x (batch, 1, samples) → (scores (batch, n), [activations])."""
        batch, channels, length = x.shape
        if length % self.period:
            x = F.pad(x, (0, self.period - length % self.period), "reflect")
        return _stack(self.convs, self.post, x.view(batch, channels, -1, self.period))


class ScaleDiscriminator(nn.Module):
    def __init__(self, spectral: bool = False, scale: float = 1.0) -> None:
        super().__init__()
        norm = spectral_norm if spectral else weight_norm
        w = [_width(c, scale) for c in (128, 128, 256, 512, 1024, 1024, 1024)]
        layers = [nn.Conv1d(1, w[0], 15, 1, padding=7),
                  nn.Conv1d(w[0], w[1], 41, 2, groups=4, padding=20),
                  nn.Conv1d(w[1], w[2], 41, 2, groups=16, padding=20),
                  nn.Conv1d(w[2], w[3], 41, 4, groups=16, padding=20),
                  nn.Conv1d(w[3], w[4], 41, 4, groups=16, padding=20),
                  nn.Conv1d(w[4], w[5], 41, 1, groups=16, padding=20),
                  nn.Conv1d(w[5], w[6], 5, 1, padding=2)]
        self.convs = nn.ModuleList(norm(layer) for layer in layers)
        self.post = norm(nn.Conv1d(w[6], 1, 3, 1, padding=1))

    def forward(self, x):
        """x (batch, 1, samples) → (scores (batch, n), [activations])."""
        return _stack(self.convs, self.post, x)


class MultiPeriodDiscriminator(nn.Module):
    def __init__(self, scale: float = 1.0, periods=(2, 3, 5, 7, 11)) -> None:
        super().__init__()
        self.discriminators = nn.ModuleList(PeriodDiscriminator(p, scale) for p in periods)

    def forward(self, wave):
        """wave (batch, samples) → ([scores per sub-discriminator], [[activations] per sub])."""
        x = wave.unsqueeze(1)
        outs = [d(x) for d in self.discriminators]
        return [o[0] for o in outs], [o[1] for o in outs]


class MultiScaleDiscriminator(nn.Module):
    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        self.discriminators = nn.ModuleList([ScaleDiscriminator(True, scale), ScaleDiscriminator(False, scale),
                                             ScaleDiscriminator(False, scale)])
        self.pool = nn.AvgPool1d(4, 2, padding=2)

    def forward(self, wave):
        x = wave.unsqueeze(1)
        scores, features = [], []
        for i, d in enumerate(self.discriminators):
            if i:
                x = self.pool(x)
            score, feats = d(x)
            scores.append(score)
            features.append(feats)
        return scores, features


def parameter_count(module) -> int:
    return sum(p.numel() for p in module.parameters())
