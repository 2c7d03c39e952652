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
- The decoder refuses a picture bigger than ``max_pixels`` from the header, before reading pixels.

The base class :class:`spectrocodec.kit.codec.Codec` does the rest: checking the bit depth and the
pixels, the 16-bit shift (``full_range``), sniffing by ``magic``, turning any Pillow error into
spectrocodec's one-line ``FormatError``, the gray/bit-depth checks of what was decoded. It uses
Pillow only (a spectrocodec dependency already), imported inside the methods, so that listing the
plugins or sniffing a file does not load it. Its tests run ``spectrocodec.testing.check_codec``.
"""

from __future__ import annotations

import io
import warnings

import numpy as np

from spectrocodec import FormatError, hookimpl
from spectrocodec.kit import Codec, check_size

PAYLOAD_TAG = 65000  # private tag (65000-65535 is the "reusable" private range): the payload
BITS_TAG = 65001  # private tag: significant bits per sample (8-16)


class TiffCodec(Codec):
    """Lossless TIFF through Pillow: uint8/uint16 (height, width) ↔ .tiff bytes."""

    name, extension, mime, fmt = "tiff", ".tiff", "image/tiff", "TIFF"
    backend = "pillow"
    magic = (b"II*\x00", b"MM\x00*")  # little- and big-endian classic TIFF
    bit_depths = tuple(range(8, 17))
    lossy = False  # lossless only: lossless=True, quality accepted and ignored
    full_range = True  # 9-15-bit values shifted to the 16-bit range, so viewers show them right
    defaults = {"quality": 100, "lossless": True}

    def write(self, image, bits, metadata):
        from PIL import Image, TiffImagePlugin, TiffTags

        mode, raw = ("L", image.tobytes()) if bits == 8 else ("I;16", image.astype("<u2").tobytes())
        tags = TiffImagePlugin.ImageFileDirectory_v2()
        tags[PAYLOAD_TAG], tags.tagtype[PAYLOAD_TAG] = metadata, TiffTags.UNDEFINED
        tags[BITS_TAG], tags.tagtype[BITS_TAG] = bits, TiffTags.SHORT
        tags[317] = 2  # Predictor: horizontal differencing, ~10 % smaller with deflate
        out = io.BytesIO()
        Image.frombytes(mode, image.shape[::-1], raw).save(out, format="TIFF", compression="tiff_adobe_deflate", tiffinfo=tags)
        return out.getvalue()

    def read(self, data):
        from PIL import Image

        with warnings.catch_warnings():  # Pillow only warns about a truncated IFD: make it an error
            warnings.simplefilter("error")
            picture = Image.open(io.BytesIO(data), formats=["TIFF"])  # reads the header only
        check_size("TIFF", *picture.size, self.max_pixels)  # a decompression bomb: refuse before load()
        metadata, bits = picture.tag_v2.get(PAYLOAD_TAG), picture.tag_v2.get(BITS_TAG, 0)
        if not isinstance(bits, int) or not isinstance(metadata, (bytes, type(None))):  # a damaged tag
            raise FormatError("a spectrocodec tag of the TIFF file is damaged; the file is damaged")
        pixels = np.asarray(picture if picture.mode in ("L", "I;16", "I;16B", "I;16L") else picture.convert("L"))
        return pixels, bits if 8 < bits <= 16 else None, metadata


@hookimpl
def spectrocodec_image_codecs():
    """The hook spectrocodec calls: the ImageCodec classes this plugin provides."""
    return [TiffCodec]
