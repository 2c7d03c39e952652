"""The three interfaces every plugin implements: FeatureExtractor, ImageCodec and Vocoder.

A component is a small object fully described by a JSON-able config, ``{"name": ..., **params}``
(as in numcodecs): ``get_config()`` gives it, ``from_config()`` rebuilds it. Each class lists its
parameters and their defaults in ``defaults``; unknown parameters are refused.

Data that flows between them (see docs/architecture.md):

- audio: float32 samples in [-1, 1], shape (samples,) or (samples, channels), any rate;
- features: float32, shape (frames, bins), e.g. log10 mel, (frames, 80);
- image: uint8 (8 bits) or uint16 (9-16 bits, values < 2**bits), shape (height=bins, width=frames),
  row 0 the highest bin, so that low frequencies are at the bottom of the picture;
- waveform: float32, shape (frames * hop,), at the feature extractor's sample rate.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Iterator, Sequence

import numpy as np

from .errors import PluginError


class Component(ABC):
    """Common base: a registry ``name``, ``defaults`` for its parameters, and a JSON-able config."""

    kind: ClassVar[str] = ""
    name: ClassVar[str] = ""
    defaults: ClassVar[dict[str, Any]] = {}
    limits: ClassVar[dict[str, tuple[float, float]]] = {}  # inclusive (lo, hi) of numeric parameters

    def __init__(self, **params: Any) -> None:
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            known = ", ".join(sorted(self.defaults)) or "none"
            raise PluginError(
                f"{self.kind} '{self.name}' has no parameter {', '.join(unknown)}; its parameters: {known}"
            )
        self.params: dict[str, Any] = {**self.defaults, **{k: v for k, v in params.items() if v is not None}}
        for key, value in params.items():
            if value is not None:
                self.check_param(key, value)

    def check_param(self, key: str, value: Any) -> None:
        """PluginError if ``value`` is not of the type of the parameter's default (a bool for a
        bool, a whole number for an int, a number for a float) or outside ``limits[key]``."""
        default = self.defaults.get(key)
        whole = isinstance(value, int) or isinstance(value, float) and value.is_integer()
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if isinstance(default, bool):
            ok, want = isinstance(value, bool), "true or false"
        elif isinstance(default, int) and key != "quality":
            ok, want = number and whole, "a whole number"
        elif isinstance(default, (int, float)):
            ok, want = number, "a number"
        else:
            ok, want = True, ""
        lo, hi = self.limits.get(key, (None, None))
        if ok and lo is not None and not lo <= value <= hi:
            ok, want = False, f"a value from {lo:g} to {hi:g}"
        if not ok:
            raise PluginError(f"{self.kind} '{self.name}' takes {key}={want}, not {value!r}")

    def get_config(self) -> dict[str, Any]:
        """``{"name": name, **params}``: everything needed to rebuild this component."""
        return {"name": self.name, **self.params}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Component":
        params = {k: v for k, v in config.items() if k != "name"}
        return cls(**params)

    @classmethod
    def unavailable(cls, params: dict[str, Any] | None = None) -> str | None:
        """Why this component cannot run here with ``params`` (None: its defaults), e.g. a missing
        library or no weights; None if it can. Must be cheap: no model loading, no network."""
        return None

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"


class FeatureExtractor(Component):
    """Audio → features: float32 (frames, bins), plus what a decoder must know to undo the framing.

    Subclasses set ``sample_rate`` (Hz, the rate features are computed at and vocoders produce),
    ``hop_length`` (samples at ``sample_rate`` per frame), ``n_bins`` and ``fixed_range`` (the
    (lo, hi) feature range used by the fixed mapping).
    """

    kind = "feature"
    sample_rate: ClassVar[int]
    hop_length: ClassVar[int]
    n_bins: ClassVar[int]
    fixed_range: ClassVar[tuple[float, float]]

    @abstractmethod
    def extract(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        """audio: float32 (samples,) or (samples, channels) at ``sample_rate`` Hz
        → features float32 (frames, n_bins)."""

    @abstractmethod
    def bin_frequencies(self) -> np.ndarray:
        """Centre frequency of each bin in Hz, float64 (n_bins,), ascending (for plots and reports)."""

    def num_frames(self, num_samples: int) -> int:
        """Frames produced for ``num_samples`` samples at ``sample_rate``."""
        return 1 + num_samples // self.hop_length

    # Optional, for extractors whose frames are local (speecht5's are): the frame length in samples
    # at ``sample_rate``. Setting it promises that, for mono input at ``sample_rate`` of n >
    # frame_length // 2 samples, ``extract`` gives ``num_frames(n)`` frames and frame i depends only
    # on the samples [i * hop - frame_length // 2, i * hop - frame_length // 2 + frame_length) of
    # the input reflect-padded by frame_length // 2 at both ends (numpy's "reflect": x[-k] = x[k]),
    # and that ``extract_frames`` computes frames from such a padded stretch. Pipeline.encode_file
    # then analyses long files block by block while reading them (core/analysis.py), holding only
    # the features whole. None (the default): encode_file reads each channel whole and calls extract.
    frame_length: ClassVar[int | None] = None

    def extract_frames(self, padded: np.ndarray) -> np.ndarray:
        """Frame-local extractors only: float32 (frame_length + (n - 1) * hop_length,), a stretch of
        the reflect-padded mono input at ``sample_rate`` → features float32 (n, n_bins) of the n
        frames it holds, exactly as ``extract`` computes them."""
        raise NotImplementedError(f"feature extractor '{self.name}' is not frame-local (frame_length is None)")


@dataclass
class DecodedImage:
    """What ImageCodec.decode returns: the pixels, their bit depth and the embedded metadata."""

    image: np.ndarray  # uint8 or uint16, (height, width)
    bits: int
    metadata: bytes | None  # the spectrocodec payload, None for an image without one

    @classmethod
    def header_only(cls, width: int, height: int, bits: int, metadata: bytes | None) -> "DecodedImage":
        """What ``ImageCodec.probe`` returns: the size as a zero-strided placeholder array (no
        memory whatever its size; never read its values), the bit depth and the metadata."""
        dtype = np.uint8 if bits <= 8 else np.uint16
        return cls(np.broadcast_to(np.zeros((), dtype), (int(height), int(width))), int(bits), metadata)


class ImageCodec(Component):
    """Integer image ↔ bytes of a real image format, carrying an opaque metadata payload.

    Class attributes declare capabilities: ``extension`` (".avif"), ``mime`` ("image/avif"),
    ``bit_depths`` (e.g. (8, 10, 12)), ``lossy`` / ``lossless`` (modes supported), ``quality_range``
    ((0, 100): higher is better everywhere), ``backend`` (library used) and ``preference`` (the
    highest available backend of a name is chosen when no backend is asked for).
    Parameters common to all codecs: ``quality`` (0-100) and ``lossless`` (bool).
    """

    kind = "codec"
    backend: ClassVar[str] = ""
    preference: ClassVar[int] = 0
    extension: ClassVar[str] = ""
    mime: ClassVar[str] = ""
    bit_depths: ClassVar[Sequence[int]] = (8,)
    lossy: ClassVar[bool] = True
    lossless: ClassVar[bool] = True
    quality_range: ClassVar[tuple[int, int]] = (0, 100)
    max_pixels: ClassVar[int] = 1 << 28  # decoders refuse larger images before allocating them
    max_width: ClassVar[int] = 16384  # wider spectrograms are folded into strips (mapping.fold)
    # rows of one time strip of the folded pictures this instance is given (bins x planes), or
    # None when unknown: set by the Pipeline before encoding, so that a codec that cuts a picture
    # into tiles (AVIF grids) cuts between strips; codecs that do not tile ignore it
    strip_height: int | None = None

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        quality, lossless = self.params.get("quality"), self.params.get("lossless", False)
        lo, hi = self.quality_range
        if quality is not None and not (isinstance(quality, (int, float)) and lo <= quality <= hi):
            raise PluginError(f"codec '{self.name}' takes --quality from {lo} to {hi}, not {quality!r}")
        if lossless and not self.lossless:
            raise PluginError(f"codec '{self.name}' has no lossless mode; drop --lossless or use png")
        if not lossless and not self.lossy:
            self.params["lossless"] = True

    @classmethod
    def default_bits(cls) -> int:
        """The bit depth used when none is asked for: 10 where the codec stores it, else the
        deepest up to 10, else its shallowest (8 for webp, 10 for avif, jxl, png...)."""
        depths = sorted(cls.bit_depths)
        return 10 if 10 in depths else max([d for d in depths if d <= 10] or depths[:1])

    def check_bits(self, bits: int) -> None:
        """Refuse a bit depth this codec cannot store, before any work is done."""
        if bits not in self.bit_depths:
            depths = ", ".join(map(str, self.bit_depths))
            raise PluginError(f"codec '{self.name}' stores {depths}-bit images, not {bits}-bit; pick --bits {depths}")

    @abstractmethod
    def encode(self, image: np.ndarray, bits: int, metadata: bytes) -> bytes:
        """image: uint8/uint16 (height, width) with values < 2**bits → bytes of a valid image file
        that carries ``metadata`` in the format's own extension mechanism."""

    @abstractmethod
    def decode(self, data: bytes) -> DecodedImage:
        """Bytes of a file this codec wrote (or any plain image of its format) → DecodedImage."""

    def probe(self, data: bytes) -> DecodedImage | None:
        """Size, bit depth and metadata from the file's headers, without decoding any pixel
        (``DecodedImage.header_only``), or None if this codec cannot tell without decoding.
        ``spectrocodec info`` uses it: a hostile file claiming a huge picture costs nothing."""
        return None

    @classmethod
    @abstractmethod
    def sniff(cls, data: bytes) -> bool:
        """True if ``data`` (at least its first 64 bytes) is in this codec's format (magic numbers)."""

    @classmethod
    def split_container(cls, data: bytes) -> tuple[int, int, int] | None:
        """Where the bytes of a file this codec wrote go: (payload, metadata, container) byte
        counts, i.e. the codec bitstream, the spectrocodec payload's box or chunk (its header
        included) and everything else; they add up to len(data). None: not measured (default)."""
        return None

    @classmethod
    def container_of(cls, data: bytes) -> str | None:
        """Which of its file layouts ``data`` uses, where a codec writes several (avif: "standard",
        "compact"); None otherwise. Shown by ``info``."""
        return None


class Vocoder(Component):
    """Features → waveform float32 (frames * hop,) at the feature extractor's sample rate.

    ``accepts``: the feature extractor names it can vocode; ``devices``: where it can run
    ("cpu", "cuda"); ``priority``: `--vocoder auto` picks the highest-priority available one.
    Every vocoder takes a ``device`` parameter: "auto" (CUDA when present), "cpu" or "cuda".
    """

    kind = "vocoder"
    accepts: ClassVar[Sequence[str]] = ()
    devices: ClassVar[Sequence[str]] = ("cpu",)
    priority: ClassVar[int] = 0

    @abstractmethod
    def vocode(self, features: np.ndarray) -> np.ndarray:
        """features float32 (frames, bins) → waveform float32 (frames * hop,)."""

    def vocode_batch(self, batch: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Several feature arrays at once (a GPU vocoder batches them); default: one by one."""
        return [self.vocode(f) for f in batch]

    def vocode_pieces(self, features: np.ndarray) -> Iterator[np.ndarray]:
        """``vocode(features)`` as consecutive pieces, float32 (n_i,), whose concatenation is the
        waveform: a vocoder that makes long outputs chunk by chunk (griffinlim) yields each part as
        soon as it is final, so that a caller writing to disk never holds the whole waveform.
        Default: one piece, ``vocode``'s."""
        yield self.vocode(features)
