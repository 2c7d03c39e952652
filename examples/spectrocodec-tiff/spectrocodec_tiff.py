"""spectrocodec-tiff: a lossless TIFF image codec for spectrocodec, as a separate distribution.

This is the worked example of docs/writing-a-plugin.md. The whole plugin is this module and one
entry point in pyproject.toml::

    [project.entry-points.spectrocodec]
    tiff = "spectrocodec_tiff"

What it does:

- 8-bit pictures are 8-bit gray TIFFs; 9-16-bit pictures are 16-bit gray TIFFs, each value shifted
  up to the 16-bit range (10-bit v → v << 6) so that any viewer shows the right brightness.
  Deflate compression with the horizontal predictor; lossless only.
- The spectrocodec metadata payload (opaque bytes) goes in a private TIFF tag, 65000, of type
  UNDEFINED; the number of significant bits goes in a second private tag, 65001 (SHORT), so the
  decoder can shift the 16-bit values back. Private tags are ignored by every other reader.
- The decoder refuses a picture bigger than ``max_pixels`` from the header, before reading pixels,
  and turns any Pillow error into spectrocodec's one-line ``FormatError``.

It uses Pillow only (a spectrocodec dependency already), and is imported only when spectrocodec
loads its plugins, so keep the top of the module cheap.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, TiffImagePlugin, TiffTags

from spectrocodec import FormatError, PluginError, hookimpl
from spectrocodec.interfaces import DecodedImage, ImageCodec

__version__ = "0.1.0"

PAYLOAD_TAG = 65000  # private tag (65000-65535 is the "reusable" private range): the payload
BITS_TAG = 65001  # private tag: significant bits per sample (8-16)
MAGICS = (b"II*\x00", b"MM\x00*")  # little- and big-endian classic TIFF


class TiffCodec(ImageCodec):
    """Lossless TIFF through Pillow: uint8/uint16 (height, width) ↔ .tiff bytes."""

    # what `spectrocodec plugins` shows and the registry uses
    name = "tiff"
    backend = "pillow"
    preference = 10
    extension = ".tiff"
    mime = "image/tiff"
    bit_depths = tuple(range(8, 17))
    lossy = False  # lossless only: the base class forces lossless=True
    lossless = True
    quality_range = (0, 100)  # accepted for uniformity; a lossless codec ignores it
    defaults = {"quality": 100, "lossless": True}

    def encode(self, image: np.ndarray, bits: int, metadata: bytes) -> bytes:
        self.check_bits(bits)  # refuses a depth not in bit_depths with a clear message
        image = np.ascontiguousarray(image, dtype=np.uint8 if bits == 8 else np.uint16)
        if image.ndim != 2:
            raise PluginError(f"codec 'tiff' encodes a (height, width) image, not shape {image.shape}")
        height, width = image.shape
        if bits == 8:
            picture = Image.frombytes("L", (width, height), image.tobytes())
        else:
            if bits < 16:  # to the 16-bit range; the decoder shifts back
                image = image << np.uint16(16 - bits)
            picture = Image.frombytes("I;16", (width, height), image.astype("<u2").tobytes())
        tags = TiffImagePlugin.ImageFileDirectory_v2()
        tags[PAYLOAD_TAG] = bytes(metadata)
        tags.tagtype[PAYLOAD_TAG] = TiffTags.UNDEFINED
        tags[BITS_TAG] = bits
        tags.tagtype[BITS_TAG] = TiffTags.SHORT
        tags[317] = 2  # Predictor: horizontal differencing, ~10 % smaller with deflate
        out = io.BytesIO()
        picture.save(out, format="TIFF", compression="tiff_adobe_deflate", tiffinfo=tags)
        return out.getvalue()

    def decode(self, data: bytes) -> DecodedImage:
        if not self.sniff(bytes(data[:64])):
            raise FormatError("not a TIFF file (no II*/MM* header)")
        try:
            with warnings.catch_warnings():  # Pillow only warns about a truncated IFD: make it an error
                warnings.simplefilter("error")
                picture = Image.open(io.BytesIO(data), formats=["TIFF"])  # reads the header only
        except Exception:
            raise FormatError("cannot read the TIFF header; the file is damaged or truncated") from None
        width, height = picture.size
        if width * height > self.max_pixels:  # a decompression bomb: refuse before load()
            raise FormatError(f"the TIFF image claims {width} x {height} pixels, more than spectrocodec decodes; refusing it")
        metadata = picture.tag_v2.get(PAYLOAD_TAG)
        bits = picture.tag_v2.get(BITS_TAG, 0)  # absent in a TIFF spectrocodec did not write
        if not isinstance(bits, int):  # a damaged tag comes back as a str or a tuple
            raise FormatError("the TIFF's bit-depth tag is damaged; the file is damaged")
        if metadata is not None and not isinstance(metadata, (bytes, bytearray)):
            raise FormatError("the TIFF's spectrocodec tag is damaged; the file is damaged")
        try:
            picture.load()
            if picture.mode not in ("L", "I;16", "I;16B", "I;16L"):
                picture = picture.convert("L")
            pixels = np.asarray(picture)
        except Exception as exc:
            raise FormatError(f"cannot decode the TIFF image ({' '.join(str(exc).split())}); the file is damaged") from None
        if pixels.dtype == np.uint8:
            bits = 8
        else:
            pixels = pixels.astype(np.uint16)
            bits = bits if 8 < bits <= 16 else 16
            if bits < 16:
                pixels = pixels >> np.uint16(16 - bits)
        return DecodedImage(np.ascontiguousarray(pixels), bits, bytes(metadata) if metadata is not None else None)

    @classmethod
    def sniff(cls, data: bytes) -> bool:
        return data[:4] in MAGICS


@hookimpl
def spectrocodec_image_codecs():
    """The hook spectrocodec calls: the ImageCodec classes this plugin provides."""
    return [TiffCodec]
