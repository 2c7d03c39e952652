"""HiFi-GAN's losses (Kong et al. 2020): least-squares GAN, feature matching, mel L1.

Scores and activations come from ``models``' discriminators as lists over sub-discriminators.
``MelLoss`` compares natural-log mel spectrograms (speecht5's STFT and 80 Slaney bands, floor
1e-5) of the generated and the original waveform, both (batch, samples): mean absolute difference.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


def discriminator_loss(real_scores, fake_scores):
    """Σ mean((1 − D(real))²) + mean(D(fake)²) over sub-discriminators."""
    return sum(torch.mean((1 - r.float()) ** 2) + torch.mean(g.float() ** 2) for r, g in zip(real_scores, fake_scores))


def adversarial_loss(fake_scores):
    """Σ mean((1 − D(fake))²): the generator's least-squares GAN loss."""
    return sum(torch.mean((1 - g.float()) ** 2) for g in fake_scores)


def feature_loss(real_features, fake_features):
    """Σ over sub-discriminators and layers of mean |activation(real) − activation(fake)|."""
    return sum(torch.mean(torch.abs(r.float().detach() - g.float()))
               for reals, fakes in zip(real_features, fake_features) for r, g in zip(reals, fakes))


class MelLoss(torch.nn.Module):
    """L1 distance of log-mel spectrograms (in natural-log units) of two waveforms (batch, samples)."""

    def __init__(self) -> None:
        super().__init__()
        from spectrocodec_plugins.speecht5 import HOP, N_FFT, mel_filters

        self.n_fft, self.hop = N_FFT, HOP
        self.register_buffer("filters", torch.from_numpy(mel_filters()).float(), persistent=False)
        self.register_buffer("window", torch.hann_window(N_FFT, periodic=True), persistent=False)

    def log_mel(self, wave):
        """wave (batch, samples) → float32 (batch, frames, 80)."""
        spec = torch.stft(wave.float(), self.n_fft, self.hop, window=self.window, center=True,
                          pad_mode="reflect", return_complex=True).abs()
        return torch.log(torch.clamp_min(spec.transpose(1, 2) @ self.filters, 1e-5))

    def forward(self, generated, target):
        with torch.autocast(device_type=generated.device.type, enabled=False):
            return F.l1_loss(self.log_mel(generated), self.log_mel(target))
