"""The ``avif`` image codec through imagecodecs (libavif + libaom): 8, 10 and 12 bits, lossy and lossless.

Quality 0-100 is libavif's own quality (100 = lossless), which sets the AV1 quantiser.
Grayscale: imagecodecs encodes a 2-D array losslessly whatever the quality, so a lossy picture is
given as three identical channels with ``pixelformat=YUV400``: libavif converts it to a single
luma plane (R = G = B gives Y = R exactly in full range) and stores a monochrome AV1 image, no chroma.
The lossless mode keeps the 2-D path, which is smaller than lossless RGB. docs/codecs.md gives
the measured cost. The container (spectrocodec.kit.avifbox) is libavif's file rewritten to the
smallest standard form with the metadata payload after the AV1 data in ``idat`` (the default,
``container="standard"``), or to the AVIF 1.2 ``mini`` form (``container="compact"``).

A picture above ``tile_pixels`` (default 2^22) is cut into bands of whole time strips, each encoded
alone (libaom's memory grows with the picture, and it failed on one picture from ~13.6 h of audio),
and written as an AVIF grid (docs/codecs.md "AVIF grids" has the measurements behind the default).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from spectrocodec import hookimpl
from spectrocodec.errors import FormatError, InputError, PluginError
from spectrocodec.interfaces import DecodedImage
from spectrocodec.kit import avifbox, isobmff
from spectrocodec.kit.codec import Codec

BOX = isobmff.BOX
AVIF_BRANDS = (b"avif", b"avis", b"mif1", b"miaf")
YUV400 = 4
TILE_PIXELS = 1 << 22  # pictures above this many pixels are written as a grid of bands of whole strips (docs/codecs.md)


def sniff_avif(data: bytes) -> bool:
    """ISOBMFF ``ftyp`` box whose major brand is an AVIF brand, or the mini form's mif3 + avif."""
    return len(data) >= 12 and data[4:8] == b"ftyp" and data[8:12] in (b"avif", b"avis") or avifbox.is_compact(data)


def av1_bit_depth(data: bytes) -> int | None:
    """Bit depth from the ``av1C`` property (high_bitdepth / twelve_bit flags), None if absent."""
    av1c = isobmff.find_property(data, b"av1C")
    if av1c is None or len(av1c) < 3:
        return None
    flags = av1c[2]
    return 12 if flags & 0x20 else 10 if flags & 0x40 else 8


def refuse_sequence(data: bytes) -> None:
    """FormatError for an animated AVIF (an image sequence: a ``moov`` box): its pixel count is
    frames x size, which the ispe check cannot bound, and imagecodecs crashes (SIGSEGV) when asked
    for one frame of it; spectrocodec writes and reads still images only."""
    if any(kind == b"moov" for kind, _, _ in isobmff.boxes(data)):
        raise FormatError("this AVIF is an animation (an image sequence); spectrocodec reads still AVIF images only")


class AvifCodec(Codec):
    """AVIF through imagecodecs: uint8/uint16 (height, width) ↔ .avif bytes."""

    name, extension, mime, fmt = "avif", ".avif", "image/avif", "AVIF"
    bit_depths = (8, 10, 12)
    defaults = {"quality": 60, "lossless": False, "speed": "auto", "threads": 2, "container": "standard",
                "tile_pixels": TILE_PIXELS}
    # speed "auto": the slowest (best per bit) speed whose encode stays short, by image size in
    # pixels (docs/quality.md): up to 160k pixels (~32 s of speech) speed 2, up to 320k speed 3,
    # up to 1M (~3.3 min) speed 4, above that speed 6 (330 s encode faster than opusenc).
    AUTO_SPEEDS = ((160_000, 2), (320_000, 3), (1_000_000, 4))
    # real / draft (speed 10) file size by speed: typical of speech at quality 30-50 (docs/quality.md)
    DRAFT_RATIO = {0: 0.88, 1: 0.88, 2: 0.895, 3: 0.895, 4: 0.91, 5: 0.915, 6: 0.92, 7: 0.94, 8: 0.96, 9: 0.98, 10: 1.0}
    limits = {"threads": (1, 64), "tile_pixels": (1 << 12, 1 << 28)}  # libgomp crashes on threads=100000 (speed: checked by speed())
    # no max_encode_pixels any more: libaom failed on one image from ~13.6 h of audio, but pictures
    # above tile_pixels are written as grids of bands it encodes one at a time (docs/codecs.md),
    # so AVIF holds what every codec holds: max_pixels (14.85 h of mono speecht5 frames)

    sniff = staticmethod(sniff_avif)

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        avifbox.check_container(self.params["container"])
        self.speed(0)  # refuse a bad speed now, not at the first encode

    def write(self, image, bits, metadata):
        speed = self.speed(image.size)  # by the whole picture's size: tiling does not change the encode time much
        rows = avifbox.band_rows(image.shape, self.strip_height, int(self.params["tile_pixels"]))
        if rows >= image.shape[0]:  # one image, as always
            return avifbox.wrap(self._encode(image, bits, speed), metadata, self.params["container"])
        if self.params["container"] == "compact":
            raise InputError(f"a {image.shape[1]} x {image.shape[0]} picture is stored as an AVIF grid, which the compact "
                             f"container cannot hold; use --container standard or shorter audio")
        tiles = []
        for top in range(0, image.shape[0], rows):  # libaom holds one band at a time
            band = image[top : top + rows]
            if len(band) < rows:  # the last band padded by repeating its last row (the grid crops it)
                band = np.concatenate([band, np.repeat(band[-1:], rows - len(band), axis=0)])
            tiles.append(avifbox.parse(self._encode(band, bits, speed)))
        return avifbox.standard_grid(tiles, image.shape[1], image.shape[0], metadata)

    def _encode(self, image, bits, speed):
        """uint8/uint16 (height, width) → libavif's file of it."""
        import imagecodecs

        kwargs = dict(bitspersample=bits, speed=speed, numthreads=int(self.params["threads"]))
        if self.lossless_mode:
            return imagecodecs.avif_encode(np.ascontiguousarray(image), level=100, **kwargs)
        rgb = np.repeat(image[:, :, None], 3, axis=2)
        return imagecodecs.avif_encode(rgb, level=int(round(self.params["quality"])), pixelformat=YUV400, **kwargs)

    def probe(self, data):
        """Size (ispe), bits (av1C) and metadata without decoding; None without an av1C."""
        data, metadata = avifbox.unwrap(bytes(data), "AVIF", self.max_pixels)  # any layout → standard, size checked
        refuse_sequence(data)
        bits, size = av1_bit_depth(data), isobmff.image_size(data)
        if bits is None or size is None:
            return None
        return DecodedImage.header_only(size[0], size[1], bits, metadata)

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

    def read(self, data):
        import imagecodecs

        data, metadata = avifbox.unwrap(data, "AVIF", self.max_pixels)
        refuse_sequence(data)
        decoded = imagecodecs.avif_decode(data, numthreads=int(self.params["threads"]))
        return decoded[:, :, 0] if decoded.ndim == 3 else decoded, av1_bit_depth(data), metadata

    @classmethod
    def split_container(cls, data: bytes) -> tuple[int, int, int] | None:
        return avifbox.split(data)

    @classmethod
    def container_of(cls, data: bytes) -> str:
        return avifbox.layout(data)


@hookimpl
def spectrocodec_image_codecs():
    return [AvifCodec]
