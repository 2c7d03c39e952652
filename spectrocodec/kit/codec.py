"""``Codec``: a base class for image codec plugins, so that a plugin states only what differs.

A codec plugin declares its name, extension, MIME type, format name, magic bytes, bit depths and
modes, and writes two methods, ``write`` (pixels → file bytes with the metadata inside) and
``read`` (file bytes → pixels, bit depth, metadata)::

    class PngCodec(Codec):
        name, extension, mime, fmt = "png", ".png", "image/png", "PNG"
        magic = (b"\\x89PNG\\r\\n\\x1a\\n",)
        bit_depths = tuple(range(8, 17))
        lossy = False                      # lossless only: lossless=True, quality ignored
        full_range = True                  # 9-15-bit pictures stored as v << (16 - bits)
        defaults = {"quality": 100, "lossless": True, "level": 9}
        ranges = {"level": (0, 9)}         # integer parameters, checked at construction

        def write(self, image, bits, metadata): ...   # → bytes
        def read(self, data): ...                     # → (pixels, bits or None, metadata or None)

What the base class does around them:

- ``encode``: refuses a bit depth not in ``bit_depths``; checks the image ((height, width), values
  < 2**bits) and makes it C-contiguous uint8 (8 bits) or uint16; with ``full_range`` shifts 9-15-bit
  values to the 16-bit range; then calls ``write(image, bits, metadata)``.
- ``decode``: refuses bytes ``sniff`` does not recognise; calls ``read(data)``, turning any
  library exception into a one-line FormatError (raise FormatError yourself for what you detect);
  reduces a colour result to gray (``gray``); checks the samples are uint8/uint16 and agree with
  the bit depth ``read`` found (None: 8 for uint8, 16 for uint16); with ``full_range`` shifts back.
  ``read`` must refuse an image larger than ``max_pixels`` from its header *before* decoding it
  (``check_size``).
- ``sniff``: True when the file starts with one of ``magic``.
- ``lossless_mode``: True when ``lossless`` is set or quality is 100 (every codec's rule);
  a codec with ``lossy = False`` always has ``lossless=True`` and ignores ``quality``.
- ``unavailable``: the reason when ``library`` (a module name) is not installed, without importing it.
- ``split_container``: payload/metadata/container byte counts from ``parts`` (a function listing
  the file's boxes or chunks as (type, body_start, body_end)), for ``spectrocodec bench``.

Import the codec library inside ``write`` and ``read`` (``import imagecodecs``), not at the top of
the module: listing plugins and sniffing a file then load no codec library.
"""

from __future__ import annotations

import importlib.util
from abc import abstractmethod
from typing import Any, Callable, ClassVar, Iterable

import numpy as np

from ..core.errors import FormatError, PluginError
from ..core.interfaces import DecodedImage, ImageCodec
from .image import gray, library_error, pixels, scale_down, scale_up

# the codec bitstream, and where the plugins put the spectrocodec payload (box or chunk types)
PAYLOAD_PARTS = frozenset({b"mdat", b"jxlc", b"jxlp", b"jp2c", b"VP8 ", b"VP8L", b"ALPH"})
METADATA_PARTS = frozenset({b"scdc", b"SCDC", b"uuid"})


class Codec(ImageCodec):
    """An ImageCodec whose plugin writes only ``write`` and ``read`` (see the module docstring)."""

    backend = "imagecodecs"
    preference = 10
    fmt: ClassVar[str] = ""  # the format's name in messages, e.g. "PNG"
    magic: ClassVar[tuple[bytes, ...]] = ()  # file prefixes that ``sniff`` recognises
    full_range: ClassVar[bool] = False  # store 9-15-bit pictures shifted to the 16-bit range
    ranges: ClassVar[dict[str, tuple[int, int]]] = {}  # integer parameter → (fastest, smallest)
    library: ClassVar[str] = ""  # the module the codec needs (checked by ``unavailable``)
    install: ClassVar[str] = ""  # how to install it, for the message
    # the file's boxes or chunks as (type, body_start, body_end), e.g. staticmethod(isobmff.boxes)
    parts: ClassVar[Callable[[bytes], Iterable[tuple[bytes, int, int]]] | None] = None

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        for key, (lo, hi) in self.ranges.items():
            value = self.params[key]
            if not (isinstance(value, int) and lo <= value <= hi):
                raise PluginError(f"codec '{self.name}' takes {key} from {lo} (fast) to {hi} (small), not {value!r}")

    @property
    def lossless_mode(self) -> bool:
        """True when this instance encodes losslessly: ``lossless=True`` or quality 100."""
        return bool(self.params.get("lossless")) or float(self.params.get("quality") or 0) >= 100

    @classmethod
    def unavailable(cls, params: dict[str, Any] | None = None) -> str | None:
        if cls.library and importlib.util.find_spec(cls.library) is None:
            return f"the {cls.library} module is not installed ({cls.install or 'pip install ' + cls.library})"
        return None

    @classmethod
    def sniff(cls, data: bytes) -> bool:
        return any(data[: len(m)] == m for m in cls.magic)

    def encode(self, image: np.ndarray, bits: int, metadata: bytes) -> bytes:
        self.check_bits(bits)
        image = pixels(image, bits, self.name)
        return self.write(scale_up(image, bits) if self.full_range else image, bits, bytes(metadata))

    def decode(self, data: bytes) -> DecodedImage:
        data = bytes(data)
        if not self.sniff(data[:64]):
            raise FormatError(f"not a {self.fmt} file (unknown header); it is damaged or not a {self.fmt} file")
        try:
            decoded, bits, metadata = self.read(data)
        except FormatError:
            raise
        except Exception as exc:  # the library's own error, on a damaged file
            raise library_error(self.fmt, exc) from None
        decoded = gray(decoded)
        if decoded.dtype.byteorder == ">":  # e.g. Pillow's I;16B: to native order
            decoded = decoded.astype(decoded.dtype.newbyteorder("="))
        if decoded.dtype not in (np.uint8, np.uint16):
            raise FormatError(f"the {self.fmt} image decodes to {decoded.dtype} samples; spectrocodec reads 8-16-bit integer images")
        bits = bits or (8 if decoded.dtype == np.uint8 else 16)
        if (bits > 8) != (decoded.dtype == np.uint16):  # the header and the decoded samples disagree
            raise FormatError(f"the {self.fmt} header says {bits}-bit but the image decodes to {decoded.dtype} samples; the file is damaged")
        if self.full_range:
            decoded = scale_down(decoded, bits)
        return DecodedImage(np.ascontiguousarray(decoded), bits, None if metadata is None else bytes(metadata))

    @abstractmethod
    def write(self, image: np.ndarray, bits: int, metadata: bytes) -> bytes:
        """C-contiguous uint8/uint16 (height, width) (scaled up if ``full_range``) → file bytes
        carrying ``metadata``."""

    @abstractmethod
    def read(self, data: bytes) -> tuple[np.ndarray, int | None, bytes | None]:
        """File bytes → (decoded array (H, W) or (H, W, C), bit depth or None, metadata or None).
        Check the size in the header against ``max_pixels`` before decoding."""

    @classmethod
    def split_container(cls, data: bytes) -> tuple[int, int, int] | None:
        if cls.parts is None:
            return None
        found = list(cls.parts(data))
        payload = sum(stop - start for kind, start, stop in found if kind in PAYLOAD_PARTS)
        metadata = sum(stop - start + 8 for kind, start, stop in found if kind in METADATA_PARTS)  # + the header
        return payload, metadata, len(data) - payload - metadata
