"""The ``webp`` image codec through imagecodecs (libwebp): 8-bit, lossy (default) and lossless.

Traps in imagecodecs' ``webp_encode``, and what this module does about them:

- it refuses a 2-D array ("invalid data shape"): the gray picture is given as three identical
  channels. Lossy WebP is always YUV 4:2:0, and R = G = B makes the chroma planes flat (U = V = 128),
  which costs a few bytes; lossless WebP (VP8L) removes the copies with its subtract-green
  transform. Decoding takes the rounded mean of R, G and B (lossy decoding can leave them ±1 apart);
- its default is *lossless* (``lossless=None`` means lossless): this codec passes
  ``lossless=False`` explicitly, so lossy is the default and ``lossless=True`` (or quality 100)
  gives VP8L;
- lossy WebP is limited-range YUV (luma 16-235), so even quality 99 is not exact (~0.9 gray
  levels RMS): use ``lossless=True`` for bit-exact pixels.

Quality: 0-100 is libwebp's own quality factor (``-q`` of cwebp), 0-99 lossy; 100 means lossless
(as for every spectrocodec codec that has a lossless mode). ``method`` (0-6, default 6) is
libwebp's effort: slower, smaller files (lossy m6 is ~8 % smaller than m4); lossless uses
libwebp's effort 75 (``-z``-like; effort 100 with method 6 is ~30 times slower for < 0.1 %).

WebP pictures are at most 16383 x 16383 pixels, but imagecodecs' ``webp_encode`` refuses a side of
exactly 16383 ("invalid data shape", found by ``spectrocodec.testing.check_codec``): ``max_width``
is 16382 (longer spectrograms are folded into strips by the pipeline).

Metadata carrier: the file is written as an *extended* WebP (RIFF ``WEBP`` with a ``VP8X`` header
chunk, no feature flags set, canvas = the picture size) followed by the image chunk (``VP8 `` or
``VP8L``) and a private ``SCDC`` chunk holding the payload, padded to an even size; the RIFF size
field covers everything. The WebP container spec tells readers to ignore unknown chunks in an
extended file (libwebp, Chromium and Pillow do), which they do not promise for the simple format.
"""

from __future__ import annotations

import struct

import numpy as np

from spectrocodec import hookimpl
from spectrocodec.interfaces import DecodedImage
from spectrocodec.errors import FormatError, PluginError
from spectrocodec.kit.codec import Codec
from spectrocodec.kit.image import check_size

CHUNK = b"SCDC"
MAX_SIDE = 16383  # WebP's limit on either dimension (14-bit sizes)


def sniff_webp(data: bytes) -> bool:
    return len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP"


def chunks(data: bytes) -> list[tuple[bytes, int, int]]:
    """[(fourcc, body_start, body_end)] of a WebP file's RIFF chunks; FormatError if malformed."""
    if not sniff_webp(data):
        raise FormatError("not a WebP file (no RIFF/WEBP header)")
    riff_size = struct.unpack_from("<I", data, 4)[0]
    end = 8 + riff_size
    if end > len(data):
        raise FormatError(f"the WebP file is truncated ({len(data)} bytes, its header says {end})")
    out, pos = [], 12
    while pos + 8 <= end:
        fourcc, size = struct.unpack_from("<4sI", data, pos)
        body = pos + 8
        if body + size > end:
            raise FormatError(f"the WebP file is truncated or damaged (chunk {fourcc!r} runs past the end)")
        out.append((fourcc, body, body + size))
        pos = body + size + (size & 1)
    return out


def image_size(data: bytes, found: list[tuple[bytes, int, int]]) -> tuple[int, int]:
    """(width, height) from the VP8X canvas or the VP8/VP8L frame header, without decoding."""
    for fourcc, start, stop in found:
        body = data[start:stop]
        if fourcc == b"VP8X" and len(body) >= 10:
            width = 1 + int.from_bytes(body[4:7], "little")
            height = 1 + int.from_bytes(body[7:10], "little")
            return width, height
        if fourcc == b"VP8 " and len(body) >= 10 and body[3:6] == b"\x9d\x01\x2a":
            width, height = struct.unpack_from("<HH", body, 6)
            return width & 0x3FFF, height & 0x3FFF
        if fourcc == b"VP8L" and len(body) >= 5 and body[0] == 0x2F:
            bits = int.from_bytes(body[1:5], "little")
            return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    raise FormatError("the WebP file has no image chunk (VP8/VP8L); it is damaged or truncated")


def with_chunk(data: bytes, width: int, height: int, fourcc: bytes, body: bytes) -> bytes:
    """A simple-format WebP (or an extended one) → extended WebP with ``fourcc`` appended."""
    found = chunks(data)
    parts = [bytes(data[start - 8 : stop + ((stop - start) & 1)]) for _, start, stop in found]
    if not found or found[0][0] != b"VP8X":
        vp8x = struct.pack("<4sI", b"VP8X", 10) + bytes(4) + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
        parts.insert(0, vp8x)
    parts.append(struct.pack("<4sI", fourcc, len(body)) + bytes(body) + b"\0" * (len(body) & 1))
    payload = b"WEBP" + b"".join(parts)
    return b"RIFF" + struct.pack("<I", len(payload)) + payload


class WebpCodec(Codec):
    """WebP through imagecodecs: uint8 (height, width) ↔ .webp bytes (extended format + SCDC chunk)."""

    name, extension, mime, fmt = "webp", ".webp", "image/webp", "WebP"
    bit_depths = (8,)
    max_width = MAX_SIDE - 1  # imagecodecs' webp_encode refuses 16383
    defaults = {"quality": 80, "lossless": False, "method": 6}
    ranges = {"method": (0, 6)}
    parts = staticmethod(chunks)

    sniff = staticmethod(sniff_webp)

    def write(self, image, bits, metadata):
        import imagecodecs

        height, width = image.shape
        if width > MAX_SIDE - 1 or height > MAX_SIDE - 1:
            raise PluginError(f"WebP pictures are at most {MAX_SIDE - 1} x {MAX_SIDE - 1} pixels here, not {width} x {height}; use avif, jxl or png")
        rgb = np.repeat(image[:, :, None], 3, axis=2)
        method = int(self.params["method"])
        if self.lossless_mode:
            # lossless "quality" is libwebp's effort; 100 with method 6 is ~30x slower for <0.1 %
            data = imagecodecs.webp_encode(rgb, level=75, lossless=True, method=method)
        else:
            data = imagecodecs.webp_encode(rgb, level=float(self.params["quality"]), lossless=False, method=method)
        return with_chunk(data, width, height, CHUNK, metadata)

    def probe(self, data):
        """Size (VP8X/VP8/VP8L header) and metadata without decoding: WebP is always 8-bit."""
        data = bytes(data)
        found = chunks(data)
        width, height = image_size(data, found)
        check_size("WebP", width, height, self.max_pixels)
        metadata = next((data[start:stop] for fourcc, start, stop in found if fourcc == CHUNK), None)
        return DecodedImage.header_only(width, height, 8, metadata)

    def read(self, data):
        import imagecodecs

        found = chunks(data)
        check_size("WebP", *image_size(data, found), self.max_pixels)
        metadata = next((data[start:stop] for fourcc, start, stop in found if fourcc == CHUNK), None)
        return imagecodecs.webp_decode(data), 8, metadata


@hookimpl
def spectrocodec_image_codecs():
    return [WebpCodec]
