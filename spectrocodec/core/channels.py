"""How the channels of a multichannel file are stored in its one picture (docs/channels.md).

Each channel has its own features, float32 (frames, bins). A *layout* turns the channels' features
into *planes* (same shape, same value range [lo, hi]) that are mapped to pixels and stacked top to
bottom, one strip of ``bins`` rows per plane, channel 1 on top (mapping.fold then cuts long
pictures into time strips of ``planes * bins`` rows each). The layouts:

- ``mono``: one plane, the channels averaged (the downmix spectrocodec always made; the header's
  ``channels`` then records how many the input had).
- ``planar``: one plane per channel, as is (dual mono, for unrelated channels; 1-8 channels).
- ``midside``: stereo only. Plane 1 is the mid ``(L + R) / 2``, plane 2 the side
  ``(L - R) / 2 + (lo + hi) / 2`` of the log-mel features (a level difference per band and frame,
  centred in the range: L, R in [lo, hi] put the side in [lo, hi] too, so the file keeps one range).
  Identical channels give a flat grey side plane, which costs almost nothing; a hard pan keeps the
  silent side at the feature floor exactly (L = mid + side', R = mid - side', clipped to [lo, hi]).
- ``copies``: every channel the same (to within half a pixel step): one plane, decoded into every
  channel (a mono recording saved as stereo costs what the mono file costs, plus nothing).

``choose`` picks the layout for a file (docs/channels.md gives the measurements behind it):
copies when the channels are identical; for stereo, midside when the side plane is much smoother
than the mid (it then compresses to little), else planar (hard pans and unrelated channels, where
mid/side spends more bytes for the same distortion); planar for 3-8 channels.
"""

from __future__ import annotations

import numpy as np

from .errors import FormatError, InputError

LAYOUTS = ("mono", "planar", "midside", "copies")  # index = code in the file (fileformat flags bits 1-3)
CHOICES = ("keep", "mono") + LAYOUTS[1:]  # what encode's ``channels`` takes: keep = choose()
MIDSIDE_SMOOTHNESS = 0.6  # midside when the side varies less than this fraction of the mid (measured)
MAX_CHANNELS = 8  # inputs with more are refused (or downmixed with channels="mono")


def check_choice(channels: str) -> None:
    """InputError unless ``channels`` is one of CHOICES (what encode's ``channels`` takes)."""
    if channels not in CHOICES:
        raise InputError(f"unknown --channels '{channels}'; use {', '.join(CHOICES)}")


def plane_count(layout: str, channels: int) -> int:
    """Planes (strips of ``bins`` rows) a picture of this layout holds."""
    return 1 if layout in ("mono", "copies") else channels


def check_layout(layout: str, channels: int) -> None:
    """InputError if ``layout`` cannot store ``channels`` channels."""
    if layout not in LAYOUTS:
        raise InputError(f"unknown channel layout '{layout}'; use {', '.join(CHOICES)}")
    if layout != "mono" and not 1 <= channels <= MAX_CHANNELS:
        raise InputError(f"the audio has {channels} channels; spectrocodec keeps 1 to {MAX_CHANNELS} "
                         f"(use --channels mono to downmix, or split the channels into several files)")
    if layout == "midside" and channels != 2:
        raise InputError(f"layout midside stores 2 channels, not {channels}; use planar")


def choose(features: np.ndarray, lo: float, hi: float, bits: int) -> str:
    """The layout for channel features float32 (channels, frames, bins) mapped to ``bits``-bit
    pixels over [lo, hi]: ``mono`` for one channel, ``copies`` when all channels are within half a
    pixel step of the first, ``midside`` for stereo whose side is smooth, else ``planar``.
    Judged CHOOSE_BLOCK frames at a time (no copy of a long file's features)."""
    channels, frames = features.shape[:2]
    if channels == 1:
        return "mono"
    half_step = (hi - lo) / ((1 << bits) - 1) / 2
    blocks = [(a, min(frames, a + CHOOSE_BLOCK)) for a in range(0, frames, CHOOSE_BLOCK)]
    if all(np.abs(features[c, a:b] - features[0, a:b]).max(initial=0.0) <= half_step for c in range(1, channels) for a, b in blocks):
        return "copies"
    if channels != 2:
        return "planar"
    mid, side = _variation(features, lo, hi, blocks)
    return "midside" if side < MIDSIDE_SMOOTHNESS * mid else "planar"


CHOOSE_BLOCK = 1 << 14  # frames of stereo features judged at once by choose (~10 MB of temporaries)


def _variation(features: np.ndarray, lo: float, hi: float, blocks: list[tuple[int, int]]) -> tuple[float, float]:
    """(mid, side) of stereo features: each plane's mean absolute difference between neighbouring
    values along time plus that along frequency, summed block by block."""
    frames, bins = features.shape[1:]
    if frames < 2 or bins < 2:
        return 0.0, 0.0
    sums = np.zeros((2, 2))  # plane, axis
    for a, b in blocks:
        planes = to_planes(features[:, max(0, a - 1) : b], "midside", lo, hi)  # one frame back: the time step across blocks
        for p in range(2):
            sums[p, 0] += np.abs(np.diff(planes[p], axis=0)).sum(dtype=np.float64)
            sums[p, 1] += np.abs(np.diff(planes[p][a - max(0, a - 1) :], axis=1)).sum(dtype=np.float64)
    means = sums / [(frames - 1) * bins, frames * (bins - 1)]
    return float(means[0].sum()), float(means[1].sum())


def to_planes(features: np.ndarray, layout: str, lo: float, hi: float) -> np.ndarray:
    """Channel features float32 (channels, frames, bins) → planes float32 (planes, frames, bins)."""
    features = np.asarray(features, np.float32)
    if layout in ("mono", "copies"):
        return features.mean(axis=0, dtype=np.float32)[None]
    if layout == "midside":
        left, right = features
        centre = np.float32((lo + hi) / 2)
        return np.stack([(left + right) * np.float32(0.5), (left - right) * np.float32(0.5) + centre])
    return features


def from_planes(planes: np.ndarray, layout: str, lo: float, hi: float, in_place: bool = False) -> np.ndarray:
    """Inverse of to_planes: planes float32 (planes, frames, bins) → channel features
    (channels, frames, bins); ``mono`` and ``copies`` give their one plane (the caller repeats it).
    ``in_place``: midside is undone in ``planes`` itself, CHOOSE_BLOCK frames at a time (no copy)."""
    if layout == "midside":
        if len(planes) != 2:
            raise FormatError(f"a midside picture holds 2 planes, not {len(planes)}; the file is damaged")
        out = planes if in_place else np.empty_like(planes, dtype=np.float32)
        for a in range(0, planes.shape[1], CHOOSE_BLOCK):
            mid, side = planes[:, a : a + CHOOSE_BLOCK]
            side = side - np.float32((lo + hi) / 2)
            block = np.stack([mid + side, mid - side])
            out[:, a : a + CHOOSE_BLOCK] = np.clip(block, np.float32(lo), np.float32(hi), out=block)
        return out
    return planes
