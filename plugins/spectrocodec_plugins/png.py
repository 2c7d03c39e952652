"""The ``png`` image codec through imagecodecs (libpng): the lossless reference, 8 to 16 bits.

PNG stores 8- or 16-bit gray samples. A 9-15-bit picture is stored as 16-bit PNG scaled up to the
16-bit range by a left shift (10-bit v → v << 6), so viewers show the right brightness, with an
``sBIT`` chunk saying how many bits are significant; the decoder reads ``sBIT`` and shifts back
(v = p >> (16 - bits)), exact. The PNG specification (12.4) recommends left bit replication
(v << 6 | v >> 4) but permits the plain shift, which compresses better: on a 17 s spectrogram
94 KB instead of 123 KB at 10 bits (unscaled values: 97 KB, but viewers would show them black).

PNG is lossless only: ``lossless`` is always True, and ``quality`` is accepted for uniformity but
changes nothing. ``level`` (zlib 0-9, default 9) trades encoding time for size.

Metadata carrier: a private ancillary chunk ``scDc`` (lowercase first letter: ancillary, viewers skip
it; lowercase second: private; uppercase third: reserved bit; lowercase fourth: safe to copy) with a
correct CRC-32, placed after ``IHDR``/``sBIT`` and before the image data. Decoding checks the IHDR
size against ``max_pixels`` and the payload's CRC before decoding.
"""

from __future__ import annotations

from spectrocodec import hookimpl
from spectrocodec.kit import pngchunks
from spectrocodec.kit.codec import Codec
from spectrocodec.kit.image import check_size

CHUNK = b"scDc"


class PngCodec(Codec):
    """PNG through imagecodecs: uint8/uint16 (height, width) ↔ .png bytes (+ sBIT, scDc chunks)."""

    name, extension, mime, fmt = "png", ".png", "image/png", "PNG"
    magic = (pngchunks.SIGNATURE,)
    bit_depths = tuple(range(8, 17))
    lossy = False  # lossless only: lossless=True, quality changes nothing
    full_range = True
    defaults = {"quality": 100, "lossless": True, "level": 9}
    ranges = {"level": (0, 9)}

    def write(self, image, bits, metadata):
        import imagecodecs

        sbit = pngchunks.chunk(b"sBIT", bytes([bits])) if 8 < bits < 16 else b""
        data = bytes(imagecodecs.png_encode(image, level=int(self.params["level"])))
        return pngchunks.insert_after_header(data, sbit + pngchunks.chunk(CHUNK, metadata))

    def probe(self, data):  # size, bits and metadata from the chunks: no pixel decoded
        return pngchunks.probe(bytes(data), CHUNK, self.max_pixels)

    def read(self, data):
        import imagecodecs

        found = pngchunks.chunks(data)
        check_size("PNG", *pngchunks.header(data, found), self.max_pixels)
        metadata = pngchunks.body(data, found, CHUNK)
        significant = (pngchunks.body(data, found, b"sBIT", check=False) or b"\0")[0]
        decoded = imagecodecs.png_decode(data)
        return decoded, significant if decoded.dtype.itemsize == 2 and 8 < significant < 16 else None, metadata


@hookimpl
def spectrocodec_image_codecs():
    return [PngCodec]
