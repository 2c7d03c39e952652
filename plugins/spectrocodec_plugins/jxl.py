"""The ``jxl`` image codec (JPEG XL) through imagecodecs (libjxl): 8 to 16 bits, lossy and lossless.

Traps in imagecodecs' ``jpegxl_encode``: its default is *lossless* (no level, no distance), and
``level`` is libjxl's quality but ``level=100`` is not lossless (it is distance 0.1). This module
always passes ``lossless`` and ``distance`` explicitly. 2-D arrays are fine (a grayscale image)
and ``bitspersample`` stores 9-16-bit values in uint16 as they are (no scaling).

Quality 0-100 → butteraugli distance with libjxl's own ``JxlEncoderDistanceFromQuality`` (what
``cjxl -q`` does): q ≥ 30: d = 0.1 + (100 - q) * 0.09 (q 90 → d 1.0, q 60 → d 3.7); q < 30:
d = 53/3000 q² - 23/20 q + 25 (q 0 → d 25). Quality 100 (or ``lossless=True``) is lossless
(modular mode), as in cjxl. ``effort`` (1-9, default 7) is libjxl's encoder effort.

Metadata carrier: a JPEG XL *container* (ISO/IEC 18181-2), i.e. ISOBMFF boxes. libjxl writes a bare
codestream (``FF 0A``) for most images; it is wrapped as ``JXL `` signature box + ``ftyp`` (brand
``jxl ``) + ``jxlc`` (the codestream), then a top-level ``scdc`` box with the payload. When libjxl
writes a container itself (16-bit images get a ``jxll`` level box) the ``scdc`` box is appended.
Decoders skip boxes they do not know (libjxl, djxl 0.7, browsers with JPEG XL).

Decoding reads the image size and bit depth from the codestream header (SizeHeader and
ImageMetadata of ISO/IEC 18181-1) before decoding, and refuses more than ``max_pixels``.
"""

from __future__ import annotations

import struct

from spectrocodec import hookimpl
from spectrocodec.errors import FormatError
from spectrocodec.kit import isobmff
from spectrocodec.kit.codec import Codec
from spectrocodec.interfaces import DecodedImage
from spectrocodec.kit.image import check_size

BOX = isobmff.BOX
SIGNATURE_BOX = b"\x00\x00\x00\x0cJXL \r\n\x87\n"
CODESTREAM = b"\xff\x0a"


def distance_from_quality(quality: float) -> float:
    """libjxl's JxlEncoderDistanceFromQuality: quality 0-100 → butteraugli distance (0 = lossless)."""
    if quality >= 100:
        return 0.0
    if quality >= 30:
        return 0.1 + (100 - quality) * 0.09
    return 53.0 / 3000.0 * quality * quality - 23.0 / 20.0 * quality + 25.0


def container(codestream_or_container: bytes, kind: bytes, body: bytes) -> bytes:
    """A bare codestream or a container → a container with a top-level box ``kind`` appended."""
    data = bytes(codestream_or_container)
    if data[:2] == CODESTREAM:
        ftyp = struct.pack(">I4s4sI4s", 20, b"ftyp", b"jxl ", 0, b"jxl ")
        data = SIGNATURE_BOX + ftyp + struct.pack(">I4s", 8 + len(data), b"jxlc") + data
    else:
        data = _close_last_box(data)
    return isobmff.append_box(data, kind, body)


def _close_last_box(data: bytes) -> bytes:
    """Give a last box of size 0 ("to the end of the file") its explicit size, so that a box can
    follow it."""
    last = None
    pos = 0
    while pos + 8 <= len(data):
        size = struct.unpack_from(">I", data, pos)[0]
        if size == 0:
            last = pos
            break
        if size == 1:
            size = struct.unpack_from(">Q", data, pos + 8)[0]
        if size < 8:
            raise FormatError("libjxl wrote a malformed container")
        pos += size
    if last is None:
        return data
    size = len(data) - last
    if size >= 1 << 32:
        return data[:last] + struct.pack(">I4sQ", 1, data[last + 4 : last + 8], size + 8) + data[last + 8 :]
    return data[:last] + struct.pack(">I", size) + data[last + 4 :]


def codestream_head(data: bytes, limit: int = 256) -> bytes:
    """The first ``limit`` bytes of the codestream of a bare codestream or a container."""
    if data[:2] == CODESTREAM:
        return data[:limit]
    head = bytearray()
    for kind, start, stop in isobmff.boxes(data):
        if kind == b"jxlc":
            return data[start : min(stop, start + limit)]
        if kind == b"jxlp":  # partial codestream boxes: a 4-byte index, then the bytes
            head += data[start + 4 : stop]
            if len(head) >= limit:
                break
    if not head:
        raise FormatError("the JPEG XL container holds no codestream (jxlc/jxlp box)")
    return bytes(head[:limit])


class _Bits:
    """LSB-first bit reader of the JPEG XL codestream."""

    def __init__(self, data: bytes) -> None:
        self.value = int.from_bytes(data, "little")
        self.size = len(data) * 8
        self.pos = 0

    def bits(self, n: int) -> int:
        if self.pos + n > self.size:
            raise FormatError("the JPEG XL header is truncated")
        out = (self.value >> self.pos) & ((1 << n) - 1)
        self.pos += n
        return out

    def flag(self) -> bool:
        return bool(self.bits(1))

    def u32(self, *dists: tuple[int, int]) -> int:
        """U32 field: a 2-bit selector picks (nbits, offset); Val(c) is (0, c)."""
        nbits, offset = dists[self.bits(2)]
        return offset + (self.bits(nbits) if nbits else 0)


_SIZE = ((9, 1), (13, 1), (18, 1), (30, 1))
_PREVIEW = ((6, 1), (8, 65), (10, 321), (12, 1345))
_RATIOS = {1: (1, 1), 2: (12, 10), 3: (4, 3), 4: (3, 2), 5: (16, 9), 6: (5, 4), 7: (2, 1)}


def _size(r: _Bits, dists=_SIZE, div8_dists=None) -> tuple[int, int]:
    div8 = r.flag()
    if div8:
        ysize = 8 * (r.u32(*div8_dists) if div8_dists else r.bits(5) + 1)
    else:
        ysize = r.u32(*dists)
    ratio = r.bits(3)
    if ratio:
        num, den = _RATIOS[ratio]
        return ysize * num // den, ysize
    xsize = 8 * (r.u32(*div8_dists) if div8_dists else r.bits(5) + 1) if div8 else r.u32(*dists)
    return xsize, ysize


def header_info(data: bytes) -> tuple[int, int, int, bool]:
    """(width, height, bits per sample, float) from a codestream's SizeHeader and ImageMetadata."""
    head = codestream_head(data)
    if head[:2] != CODESTREAM:
        raise FormatError("the JPEG XL codestream does not start with FF 0A; the file is damaged")
    r = _Bits(head[2:])
    width, height = _size(r)
    if r.flag():  # all_default: 8-bit integer samples
        return width, height, 8, False
    if r.flag():  # extra_fields
        r.bits(3)  # orientation
        if r.flag():  # intrinsic size
            _size(r)
        if r.flag():  # preview
            _size(r, _PREVIEW, ((0, 16), (0, 32), (5, 1), (9, 33)))
        if r.flag():  # animation
            r.u32((0, 100), (0, 1000), (10, 1), (30, 1))
            r.u32((0, 1), (0, 1001), (8, 1), (10, 1))
            r.u32((0, 0), (3, 0), (16, 0), (32, 0))
            r.flag()
    if r.flag():  # float samples
        return width, height, r.u32((0, 32), (0, 16), (0, 24), (6, 1)), True
    return width, height, r.u32((0, 8), (0, 10), (0, 12), (6, 1)), False


class JxlCodec(Codec):
    """JPEG XL through imagecodecs: uint8/uint16 (height, width) ↔ .jxl bytes (container + scdc box)."""

    name, extension, mime, fmt = "jxl", ".jxl", "image/jxl", "JPEG XL"
    magic = (CODESTREAM, SIGNATURE_BOX)
    bit_depths = tuple(range(8, 17))
    defaults = {"quality": 80, "lossless": False, "effort": 7, "threads": 2}
    limits = {"threads": (1, 64)}
    ranges = {"effort": (1, 9)}
    parts = staticmethod(isobmff.boxes)

    def write(self, image, bits, metadata):
        import imagecodecs

        distance = 0.0 if self.lossless_mode else distance_from_quality(float(self.params["quality"]))
        data = imagecodecs.jpegxl_encode(image, lossless=self.lossless_mode, distance=distance, bitspersample=bits,
                                         effort=int(self.params["effort"]), numthreads=int(self.params["threads"]))
        return container(data, BOX, metadata)

    def checked_header(self, data: bytes) -> DecodedImage:
        """Size and bits from the codestream header (refused over max_pixels or not 8-16-bit
        integers) and the metadata box, without decoding a pixel."""
        width, height, bits, is_float = header_info(data)
        check_size("JPEG XL", width, height, self.max_pixels)
        if is_float or not 8 <= bits <= 16:
            raise FormatError(f"the JPEG XL image has {bits}-bit {'float' if is_float else 'integer'} samples; spectrocodec reads 8-16-bit integer images")
        metadata = isobmff.find_box(data, BOX) if data[:2] != CODESTREAM else None
        return DecodedImage.header_only(width, height, bits, metadata)

    def probe(self, data):
        return self.checked_header(bytes(data))

    def read(self, data):
        import imagecodecs

        head = self.checked_header(data)
        return imagecodecs.jpegxl_decode(data, numthreads=int(self.params["threads"])), head.bits, head.metadata


@hookimpl
def spectrocodec_image_codecs():
    return [JxlCodec]
