"""The plugin kit: what plugin authors use to write a codec in a few lines.

- :class:`Codec` (codec.py): the base class of image codec plugins;
- image.py: pixel helpers (``pixels``, ``check_size``, ``gray``, ``scale_up``/``scale_down``, ``library_error``);
- isobmff.py: ISOBMFF boxes (AVIF, HEIC, JPEG XL and JPEG 2000 containers); pngchunks.py: PNG chunks.

The kit is core-side: it imports spectrocodec.core only, never an application or a plugin.
"""

from .codec import Codec
from .image import check_size, gray, library_error, pixels, scale_down, scale_up

__all__ = ["Codec", "check_size", "gray", "library_error", "pixels", "scale_down", "scale_up"]
