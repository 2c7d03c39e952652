"""Features ↔ pixels: the linear map from float features to an integer image and back.

Time is the image width, feature bins its height, low bins at the bottom (row 0 is the highest
bin). A spectrogram wider than the codec's ``max_width`` is folded: cut into strips of
``max_width`` frames stacked top to bottom (the first strip on top), the last strip padded by
repeating its last frame; the decoder knows the frame count from the metadata and unfolds it. A feature value v maps to round((v - lo) / (hi - lo) * (2**bits - 1)), clipped. The range is
either fixed (the extractor's ``fixed_range``, [-11, 4] for speecht5, as audio-avif did) or adaptive
(the file's own min/max, the default), stored as float32 in the file's metadata.

Two perceptual steps (docs/quality.md has the measurements behind them):

- a floor (``apply_floor``): values more than ``floor_db`` below the file's peak are raised to
  that level before the range is taken; nothing to undo at decode time (the floor becomes ``lo``);
- a companding curve: with u = (v - lo) / (hi - lo) in [0, 1], the pixel is round(u**curve * top);
  curve > 1 spends the pixel levels (and the codec's bits) on the loud parts, where the vocoder
  needs the detail, and few on the quiet ones. curve = 1 is the linear map above, bit for bit;
  the file records the curve (fileformat.Header.curve) and the decoder inverts it.
"""

from __future__ import annotations

import numpy as np

from .errors import InputError

RANGE_MODES = ("adaptive", "fixed")
BIT_DEPTHS = (8, 10, 12, 16)


def feature_range(features: np.ndarray, mode: str, fixed: tuple[float, float]) -> tuple[float, float]:
    """(lo, hi) as float32-representable floats: the file's min/max, or ``fixed``.

    features: float32 (frames, bins). A constant input (silence) gets a range one unit wide, so
    that nothing divides by zero.
    """
    if mode == "fixed":
        lo, hi = fixed
    elif mode == "adaptive":
        if features.size == 0:
            lo, hi = fixed
        else:
            lo, hi = float(np.min(features)), float(np.max(features))
    else:
        raise InputError(f"unknown range mode '{mode}'; use adaptive or fixed")
    lo32, hi32 = float(np.float32(lo)), float(np.float32(hi))
    if not hi32 > lo32:
        hi32 = float(np.float32(lo32 + 1.0))
    return lo32, hi32


def apply_floor(features: np.ndarray, floor_db: float | None, db_per_unit: float = 20.0,
                in_place: bool = False) -> np.ndarray:
    """features float32 (frames, bins) with every value below ``peak - floor_db`` raised to it
    (a new array, or ``features`` itself changed with ``in_place``).

    db_per_unit: decibels per feature unit (20 for log10 magnitudes such as speecht5's).
    None or inf: unchanged. An empty input is returned as is.
    """
    if floor_db is None or not np.isfinite(floor_db) or features.size == 0:
        return features
    return np.maximum(features, np.float32(np.max(features) - floor_db / db_per_unit), out=features if in_place else None)


def to_image(features: np.ndarray, lo: float, hi: float, bits: int, curve: float = 1.0) -> np.ndarray:
    """features float32 (frames, bins) → image (bins, frames), uint8 if bits == 8 else uint16.
    curve: the companding exponent (1 = linear)."""
    top = (1 << bits) - 1
    if curve == 1.0:
        scaled = (np.asarray(features, np.float32).T[::-1] - np.float32(lo)) * np.float32(top / (hi - lo))
    else:
        unit = np.clip((np.asarray(features, np.float32).T[::-1] - np.float32(lo)) * np.float32(1.0 / (hi - lo)), 0, 1)
        scaled = np.power(unit, np.float32(curve)) * np.float32(top)
    np.clip(np.rint(scaled, out=scaled), 0, top, out=scaled)
    return scaled.astype(np.uint8 if bits == 8 else np.uint16)


def from_image(image: np.ndarray, lo: float, hi: float, bits: int, curve: float = 1.0) -> np.ndarray:
    """image (bins, frames) uint → features float32 (frames, bins); inverts ``to_image``'s curve."""
    top = (1 << bits) - 1
    pixels = np.asarray(image)[::-1].T.astype(np.float32)
    np.minimum(pixels, np.float32(top), out=pixels)  # in float: no overflow whatever the dtype
    if curve == 1.0:
        return np.ascontiguousarray(pixels * np.float32((hi - lo) / top) + np.float32(lo))
    unit = np.power(pixels * np.float32(1.0 / top), np.float32(1.0 / curve))
    return np.ascontiguousarray(unit * np.float32(hi - lo) + np.float32(lo))


def fold(image: np.ndarray, width: int) -> np.ndarray:
    """image (bins, frames) → (strips * bins, width), strips = ceil(frames / width); the last
    strip is padded by repeating its last column (cheap to compress). Unchanged if it fits."""
    bins, frames = image.shape
    if frames <= width:
        return image
    strips = -(-frames // width)
    padded = np.pad(image, ((0, 0), (0, strips * width - frames)), mode="edge")
    return np.ascontiguousarray(padded.reshape(bins, strips, width).transpose(1, 0, 2).reshape(strips * bins, width))


def folded_image(block, frames: int, planes: int, bins: int, lo: float, hi: float, bits: int, curve: float,
                 width: int) -> np.ndarray:
    """The picture ``fold(concatenate([to_image(plane) for plane in planes]), width)`` would give,
    made one time strip at a time, without a float copy of the whole features: ``block(start, stop)``
    gives the planes of frames [start, stop) as float32 (planes, stop - start, bins)."""
    strip = min(frames, width)
    strips = -(-frames // strip) if frames else 1
    image = np.empty((strips * planes * bins, strip), np.uint8 if bits == 8 else np.uint16)
    for s in range(strips):
        start = s * strip
        stop = min(frames, start + strip)
        part = block(start, stop)
        for p in range(planes):
            pixels = to_image(part[p], lo, hi, bits, curve)
            rows = image[(s * planes + p) * bins : (s * planes + p + 1) * bins]
            rows[:, : stop - start] = pixels
            rows[:, stop - start :] = pixels[:, -1:]  # the last strip padded with its last frame
    return image


def image_features(image: np.ndarray, bins: int, planes: int, frames: int, lo: float, hi: float, bits: int,
                   curve: float = 1.0) -> np.ndarray:
    """A folded picture (strips * planes * bins, width) → features float32 (planes, frames, bins):
    ``from_image`` of each plane of ``unfold(image, planes * bins, frames)``, made one strip at a
    time (no unfolded copy). A one-strip picture gives ``width`` frames whatever ``frames`` says."""
    height, width = image.shape
    strips = height // (planes * bins)
    frames = width if strips == 1 else frames
    out = np.empty((planes, frames, bins), np.float32)
    for s in range(strips):
        start, stop = s * width, min(frames, (s + 1) * width)
        for p in range(planes if start < stop else 0):
            top = (s * planes + p) * bins
            out[p, start:stop] = from_image(image[top : top + bins, : stop - start], lo, hi, bits, curve)
    return out


def unfold(image: np.ndarray, bins: int, frames: int) -> np.ndarray:
    """Inverse of fold: (strips * bins, width) → (bins, frames)."""
    height, width = image.shape
    strips = height // bins
    flat = image.reshape(strips, bins, width).transpose(1, 0, 2).reshape(bins, strips * width)
    return np.ascontiguousarray(flat[:, :frames])
