"""A second ``avif`` backend through Pillow's own AVIF plugin (Pillow ≥ 11.2, libavif): 8-bit only.

``backend = "pillow"``, ``preference = 5``: the imagecodecs backend (preference 10, 8/10/12 bits) is
used unless this one is asked for (``--backend pillow`` on the command line, ``backend="pillow"``
in the API). Its files are ordinary AVIF files; either backend decodes the other's 8-bit files.

Grayscale: Pillow saves a mode ``L`` image with ``subsampling="4:0:0"`` by default (its encoder
switches to 4:0:0 for grayscale modes), i.e. a monochrome AV1 picture with no chroma planes: the
same thing the imagecodecs backend gets with its 3-channel + YUV400 workaround, with no trap to
avoid. Pillow's ``quality`` (0-100) is libavif's quality, as for the imagecodecs backend, and
quality 100 is lossless for a 4:0:0 full-range picture (verified bit-exact), so ``lossless=True``
is quality 100. Pillow decodes AVIF to 8 bits only, so 10/12-bit AVIF files are refused by this
backend with a pointer to the imagecodecs one.

Container and metadata carrier: the same as the imagecodecs backend (spectrocodec.kit.avifbox):
the smallest standard file by default, the AVIF 1.2 ``mini`` form with ``container="compact"``.
"""

from __future__ import annotations

import io

import numpy as np

from spectrocodec import hookimpl
from spectrocodec.errors import FormatError
from spectrocodec.kit import avifbox

from .avif import AvifCodec, av1_bit_depth, refuse_sequence


class PillowAvifCodec(AvifCodec):
    """AVIF through Pillow: uint8 (height, width) ↔ .avif bytes (the same containers as AvifCodec)."""

    backend = "pillow"
    preference = 5
    bit_depths = (8,)

    @classmethod
    def unavailable(cls, params: dict | None = None) -> str | None:
        try:
            from PIL import features

            if features.check("avif"):
                return None
        except Exception:
            pass
        return "this Pillow has no AVIF support (Pillow >= 11.2 built with libavif is needed)"

    def _encode(self, image, bits, speed):
        """uint8 (height, width) → libavif's file of it (AvifCodec.write makes the container, and
        the grid of bands for a large picture)."""
        from PIL import Image

        quality = 100 if self.params["lossless"] else int(round(float(self.params["quality"])))
        out = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(image), "L").save(
            out, format="AVIF", quality=quality, subsampling="4:0:0", range="full",
            speed=speed, max_threads=int(self.params["threads"]),
        )
        return out.getvalue()

    def read(self, data):
        from PIL import Image

        data, metadata = avifbox.unwrap(data, "AVIF", self.max_pixels)
        refuse_sequence(data)
        depth = av1_bit_depth(data)
        if depth is not None and depth > 8:
            raise FormatError(f"this AVIF image is {depth}-bit and Pillow decodes AVIF to 8 bits; decode it with the imagecodecs backend")
        with Image.open(io.BytesIO(data), formats=["AVIF"]) as picture:
            picture.load()
            if picture.mode not in ("L", "RGB", "RGBA", "LA"):
                picture = picture.convert("RGB")
            return np.asarray(picture), 8, metadata


@hookimpl
def spectrocodec_image_codecs():
    return [PillowAvifCodec]
