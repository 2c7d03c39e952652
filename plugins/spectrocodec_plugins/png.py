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

import struct
import zlib

import imagecodecs
import numpy as np

from spectrocodec import hookimpl
from spectrocodec.errors import FormatError, PluginError
from spectrocodec.interfaces import DecodedImage, ImageCodec

from spectrocodec.kit.image import check_size, gray, library_error, pixels

CHUNK = b"scDc"
SIGNATURE = b"\x89PNG\r\n\x1a\n"


def sniff_png(data: bytes) -> bool:
    return data[:8] == SIGNATURE


def chunk(kind: bytes, body: bytes) -> bytes:
    """A PNG chunk: length, type, body, CRC-32 of type + body."""
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def chunks(data: bytes) -> list[tuple[bytes, int, int, int]]:
    """[(type, body_start, body_end, crc)] up to and including IEND; FormatError if malformed."""
    if not sniff_png(data):
        raise FormatError("not a PNG file (no PNG signature)")
    out, pos = [], 8
    while True:
        if pos + 12 > len(data):
            raise FormatError("the PNG file is truncated (no IEND chunk)")
        length, kind = struct.unpack_from(">I4s", data, pos)
        start, stop = pos + 8, pos + 8 + length
        if length > 0x7FFFFFFF or stop + 4 > len(data):
            raise FormatError(f"the PNG file is truncated or damaged (chunk {kind!r} runs past the end)")
        out.append((kind, start, stop, struct.unpack_from(">I", data, stop)[0]))
        if kind == b"IEND":
            return out
        pos = stop + 4


def insert_after_header(data: bytes, extra: bytes) -> bytes:
    """``data`` with ``extra`` (whole chunks) inserted right after the IHDR chunk."""
    ihdr_end = 8 + 8 + 13 + 4
    if data[12:16] != b"IHDR":
        raise FormatError("libpng wrote a PNG without IHDR first")
    return data[:ihdr_end] + extra + data[ihdr_end:]


class PngCodec(ImageCodec):
    """PNG through imagecodecs: uint8/uint16 (height, width) ↔ .png bytes (+ sBIT, scDc chunks)."""

    name = "png"
    backend = "imagecodecs"
    preference = 10
    extension = ".png"
    mime = "image/png"
    bit_depths = tuple(range(8, 17))
    lossy = False
    lossless = True
    quality_range = (0, 100)
    defaults = {"quality": 100, "lossless": True, "level": 9}

    def __init__(self, **params) -> None:
        super().__init__(**params)
        level = self.params["level"]
        if not (isinstance(level, int) and 0 <= level <= 9):
            raise PluginError(f"codec 'png' takes level from 0 (fast) to 9 (small), not {level!r}")
        self.params["lossless"] = True

    def encode(self, image: np.ndarray, bits: int, metadata: bytes) -> bytes:
        self.check_bits(bits)
        image = pixels(image, bits, self.name)
        extra = b""
        if 8 < bits < 16:  # scale to the 16-bit range (zero-filled shift), and say so in sBIT
            image = image << np.uint16(16 - bits)
            extra = chunk(b"sBIT", bytes([bits]))
        data = imagecodecs.png_encode(image, level=int(self.params["level"]))
        return insert_after_header(bytes(data), extra + chunk(CHUNK, bytes(metadata)))

    def probe(self, data: bytes) -> DecodedImage:
        """Size, bits (IHDR depth, sBIT) and metadata without decoding the pixels."""
        data = bytes(data)
        found = chunks(data)
        kind, start, stop, _ = found[0]
        if kind != b"IHDR" or stop - start != 13:
            raise FormatError("the PNG file does not start with an IHDR chunk; it is damaged")
        width, height, depth, _ = struct.unpack_from(">IIBB", data, start)
        check_size("PNG", width, height, self.max_pixels)
        metadata, significant = None, None
        for kind, start, stop, crc in found:
            if kind == CHUNK:
                if zlib.crc32(data[start - 4 : stop]) != crc:
                    raise FormatError("the PNG's spectrocodec chunk fails its CRC check; the file is damaged")
                metadata = data[start:stop]
            elif kind == b"sBIT" and stop > start:
                significant = data[start]
        bits = 8 if depth <= 8 else significant if significant and 8 < significant < 16 else 16
        return DecodedImage.header_only(width, height, bits, metadata)

    def decode(self, data: bytes) -> DecodedImage:
        data = bytes(data)
        found = chunks(data)
        kind, start, stop, _ = found[0]
        if kind != b"IHDR" or stop - start != 13:
            raise FormatError("the PNG file does not start with an IHDR chunk; it is damaged")
        width, height, depth, color = struct.unpack_from(">IIBB", data, start)
        check_size("PNG", width, height, self.max_pixels)
        metadata, significant = None, None
        for kind, start, stop, crc in found:
            if kind == CHUNK:
                if zlib.crc32(data[start - 4 : stop]) != crc:
                    raise FormatError("the PNG's spectrocodec chunk fails its CRC check; the file is damaged")
                metadata = data[start:stop]
            elif kind == b"sBIT" and stop > start:
                significant = data[start]
        try:
            decoded = imagecodecs.png_decode(data)
        except Exception as exc:
            raise library_error("PNG", exc) from None
        decoded = gray(decoded)
        bits = 8
        if decoded.dtype == np.uint16:
            bits = significant if significant and 8 < significant < 16 else 16
            if bits < 16:
                decoded = decoded >> np.uint16(16 - bits)
        elif decoded.dtype != np.uint8:
            raise FormatError(f"the PNG image decodes to {decoded.dtype} samples")
        return DecodedImage(np.ascontiguousarray(decoded), bits, metadata)

    @classmethod
    def sniff(cls, data: bytes) -> bool:
        return sniff_png(data)


@hookimpl
def spectrocodec_image_codecs():
    return [PngCodec]
