"""The ``avif`` image codec through imagecodecs (libavif + libaom): 8, 10 and 12 bits, lossy and lossless.

Quality 0-100 is libavif's own quality (100 = lossless), which sets the AV1 quantiser.
Grayscale: imagecodecs encodes a 2-D array losslessly whatever the quality, so a lossy picture is
given as three identical channels with ``pixelformat=YUV400``: libavif converts it to a single
luma plane (R = G = B gives Y = R exactly in full range) and stores a monochrome AV1 image, no chroma.
The lossless mode keeps the 2-D path, which is smaller than lossless RGB. docs/codecs.md gives
the measured cost. The metadata payload is a top-level ``scdc`` box appended after the image data.
"""

from __future__ import annotations

import numpy as np
import imagecodecs

from spectrocodec import hookimpl
from spectrocodec.errors import FormatError, PluginError
from spectrocodec.interfaces import DecodedImage, ImageCodec

from spectrocodec.kit import isobmff

BOX = isobmff.BOX
AVIF_BRANDS = (b"avif", b"avis", b"mif1", b"miaf")
YUV400 = 4


def sniff_avif(data: bytes) -> bool:
    """ISOBMFF ``ftyp`` box whose major brand is an AVIF brand."""
    return len(data) >= 12 and data[4:8] == b"ftyp" and data[8:12] in (b"avif", b"avis")


def av1_bit_depth(data: bytes) -> int | None:
    """Bit depth from the ``av1C`` property (high_bitdepth / twelve_bit flags), None if absent."""
    av1c = isobmff.find_property(data, b"av1C")
    if av1c is None or len(av1c) < 3:
        return None
    flags = av1c[2]
    return 12 if flags & 0x20 else 10 if flags & 0x40 else 8


class AvifCodec(ImageCodec):
    """AVIF through imagecodecs: uint8/uint16 (height, width) ↔ .avif bytes."""

    name = "avif"
    backend = "imagecodecs"
    preference = 10
    extension = ".avif"
    mime = "image/avif"
    bit_depths = (8, 10, 12)
    lossy = True
    lossless = True
    quality_range = (0, 100)
    defaults = {"quality": 60, "lossless": False, "speed": "auto", "threads": 2}
    # speed "auto": the slowest (best per bit) speed whose encode stays short, by image size in
    # pixels (docs/quality.md): up to 160k pixels (~32 s of speech) speed 2, up to 320k speed 3,
    # up to 1M (~3.3 min) speed 4, above that speed 6 (330 s encode faster than opusenc).
    AUTO_SPEEDS = ((160_000, 2), (320_000, 3), (1_000_000, 4))
    # real / draft (speed 10) file size by speed: typical of speech at quality 30-50 (docs/quality.md)
    DRAFT_RATIO = {0: 0.88, 1: 0.88, 2: 0.895, 3: 0.895, 4: 0.91, 5: 0.915, 6: 0.92, 7: 0.94, 8: 0.96, 9: 0.98, 10: 1.0}

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self.speed(0)  # refuse a bad speed now, not at the first encode

    def encode(self, image: np.ndarray, bits: int, metadata: bytes) -> bytes:
        self.check_bits(bits)
        image = np.ascontiguousarray(image, dtype=np.uint8 if bits == 8 else np.uint16)
        kwargs = dict(bitspersample=bits, speed=self.speed(image.size), numthreads=int(self.params["threads"]))
        if self.params["lossless"] or self.params["quality"] >= 100:
            data = imagecodecs.avif_encode(image, level=100, **kwargs)
        else:
            rgb = np.repeat(image[:, :, None], 3, axis=2)
            data = imagecodecs.avif_encode(rgb, level=int(round(self.params["quality"])), pixelformat=YUV400, **kwargs)
        return isobmff.append_box(data, BOX, metadata)

    def speed(self, pixels: int) -> int:
        """The libaom speed (0 slowest .. 10 fastest) for an image of ``pixels`` pixels."""
        speed = self.params["speed"]
        if speed == "auto":
            return next((s for limit, s in self.AUTO_SPEEDS if pixels <= limit), 6)
        if isinstance(speed, bool) or not isinstance(speed, int) or not 0 <= speed <= 10:
            raise PluginError(f"codec 'avif' takes speed from 0 (slowest, smallest) to 10 (fastest) or auto, not {speed!r}")
        return speed

    def draft_settings(self, pixels: int) -> tuple[dict, float] | None:
        """Rate control's quick size estimate (core/ratecontrol.py): speed 10, and the expected ratio
        of this codec's file size to the draft's; None when real encodes are quick enough."""
        speed = self.speed(pixels)
        if speed >= 8 or speed >= 6 and pixels <= 1 << 20:
            return None
        return {"speed": 10}, self.DRAFT_RATIO[speed]

    def decode(self, data: bytes) -> DecodedImage:
        metadata = isobmff.checked_payload(data, "AVIF", self.max_pixels)
        try:
            pixels = imagecodecs.avif_decode(data, numthreads=int(self.params["threads"]))
        except Exception as exc:
            raise FormatError(f"cannot decode the AVIF image ({' '.join(str(exc).split())}); the file is damaged") from None
        if pixels.ndim == 3:
            pixels = pixels[:, :, 0]
        bits = av1_bit_depth(data) or (8 if pixels.dtype == np.uint8 else 16)
        if (bits > 8) != (pixels.dtype != np.uint8):  # av1C and the AV1 stream disagree
            raise FormatError(f"the AVIF's av1C property says {bits}-bit but its image decodes to {pixels.dtype} samples; the file is damaged")
        return DecodedImage(np.ascontiguousarray(pixels), bits, metadata)

    @classmethod
    def sniff(cls, data: bytes) -> bool:
        return sniff_avif(data)


@hookimpl
def spectrocodec_image_codecs():
    return [AvifCodec]
