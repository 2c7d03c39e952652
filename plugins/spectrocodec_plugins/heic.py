"""The ``heic`` image codec through pillow-heif (libheif + x265): 8, 10 and 12 bits, lossy and lossless.

pillow-heif is an optional dependency (``pip install spectrocodec[heic]``): it is imported when a
file is encoded or decoded; without it ``spectrocodec plugins`` lists the codec as unavailable,
with the reason.

- 8-bit pictures are given as Pillow mode ``L``: libheif stores a monochrome (4:0:0) HEVC image,
  no chroma planes. 10- and 12-bit pictures are given as mode ``I;16`` with the values shifted to
  the top of the 16 bits (pillow-heif expects 16-bit range and shifts down), and
  ``options.SAVE_HDR_TO_12_BIT`` picks 12 or 10 bits (set for the call, then restored). Decoding
  asks pillow-heif for the native depth and shifts back, so lossless files are bit-exact.
- Quality 0-100 is pillow-heif's quality (libheif's, which sets x265's CRF: 0 worst .. 100
  best); quality 100 or ``lossless=True`` is x265 lossless (pillow-heif's ``quality=-1``),
  verified bit-exact at 8, 10 and 12 bits with this libheif (1.23) and x265 (4.3).
- Metadata carrier: a top-level ISOBMFF box ``scdc`` appended after the image data, as for AVIF
  (libheif and other readers skip unknown top-level boxes; no ``iloc`` offset moves).

Decoding refuses a picture whose ``ispe`` property claims more than ``max_pixels`` before libheif
allocates it. HEVC codes whole 8x8 blocks: a 1047-pixel-wide spectrogram is stored 1048 wide and
cropped back by the reader (the ``clap`` box), invisible to the caller.
"""

from __future__ import annotations

import io
import threading

import numpy as np

from spectrocodec import hookimpl
from spectrocodec.errors import FormatError
from spectrocodec.interfaces import DecodedImage
from spectrocodec.kit import isobmff
from spectrocodec.kit.codec import Codec

BOX = isobmff.BOX
HEIC_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs")
_OPTIONS_LOCK = threading.Lock()  # pillow-heif's SAVE_HDR_TO_12_BIT is a global option


def sniff_heic(data: bytes) -> bool:
    """``ftyp`` box with an HEVC brand: the major brand, or ``mif1``/``msf1`` with one compatible."""
    if len(data) < 16 or data[4:8] != b"ftyp":
        return False
    major = data[8:12]
    if major in HEIC_BRANDS:
        return True
    if major in (b"mif1", b"msf1"):
        size = min(int.from_bytes(data[:4], "big"), len(data))
        compatible = {data[i : i + 4] for i in range(16, size - 3, 4)}
        return bool(compatible & set(HEIC_BRANDS)) and b"avif" not in compatible
    return False


class HeicCodec(Codec):
    """HEIC through pillow-heif: uint8/uint16 (height, width) ↔ .heic bytes (+ a top-level scdc box)."""

    name, extension, mime, fmt = "heic", ".heic", "image/heic", "HEIC"
    backend = "pillow-heif"
    library, install = "pillow_heif", "pip install spectrocodec[heic]"
    bit_depths = (8, 10, 12)
    full_range = True  # pillow-heif takes and gives 10/12-bit values in the 16-bit range
    defaults = {"quality": 45, "lossless": False}
    parts = staticmethod(isobmff.boxes)

    sniff = staticmethod(sniff_heic)

    def write(self, image, bits, metadata):
        import pillow_heif

        height, width = image.shape
        level = -1 if self.lossless_mode else int(round(float(self.params["quality"])))
        out = io.BytesIO()
        if bits == 8:
            heif = pillow_heif.from_bytes("L", (width, height), image.tobytes())
            heif.save(out, format="HEIF", quality=level)
        else:
            heif = pillow_heif.from_bytes("I;16", (width, height), image.astype("<u2").tobytes())
            with _OPTIONS_LOCK:
                saved = pillow_heif.options.SAVE_HDR_TO_12_BIT
                pillow_heif.options.SAVE_HDR_TO_12_BIT = bits == 12
                try:
                    heif.save(out, format="HEIF", quality=level)
                finally:
                    pillow_heif.options.SAVE_HDR_TO_12_BIT = saved
        return isobmff.append_box(out.getvalue(), BOX, metadata)

    def opened(self, data: bytes):
        """(the lazily opened HEIF, its bit depth, the metadata), the size checked first; no pixel decoded."""
        import pillow_heif

        metadata = isobmff.checked_payload(data, "HEIC", self.max_pixels)
        heif = pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=False)
        return heif, int(heif.info.get("bit_depth") or 8), metadata

    def probe(self, data):
        try:
            heif, bits, metadata = self.opened(bytes(data))
            width, height = heif.size
        except FormatError:
            raise
        except Exception:  # let decode report the library's error
            return None
        return DecodedImage.header_only(width, height, bits, metadata)

    def read(self, data):
        heif, bits, metadata = self.opened(data)
        decoded = np.asarray(heif[0])
        return decoded, bits if decoded.dtype == np.uint16 else None, metadata


@hookimpl
def spectrocodec_image_codecs():
    return [HeicCodec]
