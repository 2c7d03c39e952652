"""The ``jpeg2000`` image codec through imagecodecs (OpenJPEG): 8 to 16 bits, lossy and lossless.

Files are JP2 (the ISO/IEC 15444-1 box format: ``jP  `` signature, ``ftyp``, ``jp2h`` with the
``ihdr`` header, ``jp2c`` codestream), one grayscale component of the picture's own bit depth.

Quality: imagecodecs' ``level`` for JPEG 2000 is OpenJPEG's target PSNR in dB of the single quality
layer (``tcp_distoratio``; ``level`` 0 or None is lossless). The PSNR is relative to the bit depth's
peak, so a given PSNR gives about the same feature error at any bit depth. Mapping:
``PSNR = 20 + 0.4 * quality`` dB for quality 0-99 (q 0 → 20 dB, q 50 → 40 dB, q 75 → 50 dB,
q 99 → 59.6 dB); quality 100 or ``lossless=True`` is the reversible 5/3 wavelet, bit-exact.
A rate-based mapping (bits per pixel) was not used: a PSNR target adapts to the content.

Metadata carrier: a top-level ``uuid`` box (the JP2 format's own vendor-extension box, 16-byte
UUID + body) appended after the codestream; JP2 readers skip ``uuid`` boxes whose UUID they do not
know. Decoding reads the size and bit depth from the codestream's SIZ marker (and refuses more
than ``max_pixels``) before OpenJPEG allocates anything; ``probe`` (``spectrocodec info``) reads
them and the metadata from the headers alone, decoding no pixel. Bare J2K codestreams (``FF 4F FF 51``)
decode too, without metadata.
"""

from __future__ import annotations

import struct
import uuid

from spectrocodec import hookimpl
from spectrocodec.errors import FormatError
from spectrocodec.interfaces import DecodedImage
from spectrocodec.kit import isobmff
from spectrocodec.kit.codec import Codec
from spectrocodec.kit.image import check_size

UUID = uuid.UUID("5b0c2f3e-7a1d-5c8e-9f3b-73636463706c").bytes  # fixed, spectrocodec's own
JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  \r\n\x87\n"
J2K_SIGNATURE = b"\xff\x4f\xff\x51"


def psnr_from_quality(quality: float) -> float:
    """quality 0-99 → OpenJPEG's target PSNR in dB (see the module docstring)."""
    return 20.0 + 0.4 * float(quality)


def codestream(data: bytes) -> bytes:
    """The J2K codestream of a JP2 file (the ``jp2c`` box) or of a bare codestream."""
    if data[:4] == J2K_SIGNATURE:
        return data
    for kind, start, stop in isobmff.boxes(data):
        if kind == b"jp2c":
            return data[start:stop]
    raise FormatError("the JPEG 2000 file has no codestream (jp2c box); it is damaged or truncated")


def siz_info(stream: bytes) -> tuple[int, int, int, int]:
    """(width, height, bits, components) from the SIZ marker segment right after SOC."""
    if len(stream) < 42 or stream[:4] != J2K_SIGNATURE:
        raise FormatError("the JPEG 2000 codestream has no SIZ header; the file is damaged or truncated")
    xsiz, ysiz, x0, y0 = struct.unpack_from(">IIII", stream, 8)
    components = struct.unpack_from(">H", stream, 40)[0]
    if components < 1 or len(stream) < 42 + 3 * components:
        raise FormatError("the JPEG 2000 codestream has a damaged SIZ header")
    ssiz = stream[42]
    if ssiz & 0x80:
        raise FormatError("the JPEG 2000 image has signed samples; spectrocodec reads unsigned images")
    return xsiz - x0, ysiz - y0, (ssiz & 0x7F) + 1, components


def find_uuid_box(data: bytes, key: bytes) -> bytes | None:
    for kind, start, stop in isobmff.boxes(data):
        if kind == b"uuid" and data[start : start + 16] == key:
            return data[start + 16 : stop]
    return None


class Jpeg2000Codec(Codec):
    """JPEG 2000 through imagecodecs: uint8/uint16 (height, width) ↔ .jp2 bytes (+ a uuid box)."""

    name, extension, mime, fmt = "jpeg2000", ".jp2", "image/jp2", "JPEG 2000"
    magic = (JP2_SIGNATURE, J2K_SIGNATURE)
    bit_depths = tuple(range(8, 17))
    defaults = {"quality": 45, "lossless": False, "threads": 2}
    limits = {"threads": (1, 64)}
    parts = staticmethod(isobmff.boxes)

    def write(self, image, bits, metadata):
        import imagecodecs

        lossless = self.lossless_mode
        # OpenJPEG wants 2**(resolutions - 1) <= the smaller side; a 1-frame spectrogram is 1 wide
        resolutions = max(1, min(6, min(image.shape).bit_length()))
        data = imagecodecs.jpeg2k_encode(
            image, level=None if lossless else psnr_from_quality(float(self.params["quality"])), reversible=lossless,
            bitspersample=bits, codecformat=imagecodecs.JPEG2K.CODEC.JP2, resolutions=resolutions,
            numthreads=int(self.params["threads"]),
        )
        if data[:12] != JP2_SIGNATURE:
            raise FormatError("OpenJPEG did not write a JP2 file")
        return isobmff.append_box(data, b"uuid", UUID + metadata)

    def header(self, data: bytes) -> tuple[int, int, int, bytes | None]:
        """(width, height, bits, metadata or None) from the SIZ marker and the uuid box, without
        decoding; FormatError for a size over ``max_pixels`` or a depth outside 8-16 bits."""
        width, height, bits, _ = siz_info(codestream(data))
        check_size("JPEG 2000", width, height, self.max_pixels)
        if not 8 <= bits <= 16:
            raise FormatError(f"the JPEG 2000 image has {bits}-bit samples; spectrocodec reads 8-16-bit images")
        return width, height, bits, find_uuid_box(data, UUID) if data[:12] == JP2_SIGNATURE else None

    def probe(self, data):  # size, bits and metadata from the headers: no pixel decoded (info)
        data = bytes(data)
        if not self.sniff(data[:64]):
            return None
        width, height, bits, metadata = self.header(data)
        return DecodedImage.header_only(width, height, bits, metadata)

    def read(self, data):
        import imagecodecs

        _, _, bits, metadata = self.header(data)
        return imagecodecs.jpeg2k_decode(data, numthreads=int(self.params["threads"])), bits, metadata


@hookimpl
def spectrocodec_image_codecs():
    return [Jpeg2000Codec]
