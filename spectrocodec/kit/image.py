"""Pixel helpers for image codec plugins (the Codec base class in codec.py uses them for you).

- :func:`pixels`: the encoder's input as a C-contiguous uint8/uint16 array, checked. The mapping
  hands codecs views with odd strides (a transposed, flipped array), and several encoders
  (imagecodecs' webp, png) refuse anything but C order with a terse "invalid data shape, strides".
- :func:`check_size`: refuse an image whose header claims more than ``max_pixels`` before any
  decoder allocates it (decompression bombs).
- :func:`library_error`: a library's exception as a one-line :class:`FormatError`.
- :func:`gray`: a decoded colour array (H, W, 3|4) as one grayscale plane.
- :func:`scale_up` / :func:`scale_down`: a 9-15-bit picture to the 16-bit range (v << (16 - bits),
  so that viewers show the right brightness) and back (exact).
"""

from __future__ import annotations

import numpy as np

from ..core.errors import FormatError, PluginError


def pixels(image: np.ndarray, bits: int, name: str) -> np.ndarray:
    """(height, width) image with values < 2**bits → C-contiguous uint8 (bits 8) or uint16."""
    image = np.asarray(image)
    if image.ndim != 2 or image.shape[0] == 0 or image.shape[1] == 0:
        raise PluginError(f"codec '{name}' encodes a (height, width) image, not shape {image.shape}")
    dtype = np.uint8 if bits <= 8 else np.uint16
    if image.dtype != dtype:
        if image.size and (int(image.min()) < 0 or int(image.max()) >= 1 << bits):
            raise PluginError(f"codec '{name}': pixel values must lie in 0..{(1 << bits) - 1} for {bits}-bit images")
        image = image.astype(dtype)
    elif bits not in (8, 16) and image.size and int(image.max()) >= 1 << bits:
        raise PluginError(f"codec '{name}': pixel values must lie in 0..{(1 << bits) - 1} for {bits}-bit images")
    return np.ascontiguousarray(image)


def check_size(fmt: str, width: int, height: int, max_pixels: int) -> None:
    """FormatError unless 0 < width, height and width * height <= max_pixels."""
    if width <= 0 or height <= 0:
        raise FormatError(f"the {fmt} file claims a {width} x {height} image; it is damaged")
    if width * height > max_pixels:
        raise FormatError(f"the {fmt} image claims {width} x {height} pixels, more than spectrocodec decodes ({max_pixels}); refusing it")


def library_error(fmt: str, exc: BaseException) -> FormatError:
    """A decoder library's exception → one-line FormatError (raise it ``from None``)."""
    detail = " ".join(str(exc).split()) or type(exc).__name__
    return FormatError(f"cannot decode the {fmt} image ({detail}); the file is damaged or truncated")


def gray(array: np.ndarray) -> np.ndarray:
    """A decoded image as one plane: 2-D unchanged; (H, W, 1..4) → the rounded mean of its colour
    channels (alpha dropped). For the R = G = B pictures spectrocodec writes this is the gray value;
    lossy codecs may leave the channels ±1 apart, and the mean is the closest to the luma."""
    array = np.asarray(array)
    if array.ndim == 2:
        return np.ascontiguousarray(array)
    if array.ndim != 3:
        raise FormatError(f"the decoded image has shape {array.shape}, not a picture")
    channels = array[:, :, : 3 if array.shape[2] >= 3 else 1]
    if channels.shape[2] == 1:
        return np.ascontiguousarray(channels[:, :, 0])
    mean = (channels.astype(np.uint32).sum(axis=2) + 1) // 3
    return mean.astype(array.dtype)


def scale_up(image: np.ndarray, bits: int) -> np.ndarray:
    """uint16 values < 2**bits → the 16-bit range (v << (16 - bits)) for 8 < bits < 16; else unchanged."""
    return image << np.uint16(16 - bits) if 8 < bits < 16 else image


def scale_down(image: np.ndarray, bits: int) -> np.ndarray:
    """The inverse of :func:`scale_up` (v >> (16 - bits)) for uint16 pictures, 8 < bits < 16."""
    return image >> np.uint16(16 - bits) if 8 < bits < 16 and image.dtype == np.uint16 else image
