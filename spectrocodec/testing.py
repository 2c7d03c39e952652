"""Conformance checks a plugin author runs in their own tests::

    from spectrocodec.testing import check_codec

    def test_conforms():
        check_codec(TiffCodec)

- :func:`check_codec` (ImageCodec): declarations; config round trip; every declared bit depth
  round-trips at several shapes (1 x 1, odd sizes, 80 bins x a few frames, and the widest
  picture the codec declares, ``max_width``) with the metadata payload intact; lossless modes
  are exact (a lossless-only codec is exact whatever ``quality``); lossy output stays in range;
  ``sniff`` recognises the codec's own files and not others; undeclared bit depths and
  out-of-range pixels are refused with PluginError; damaged bytes (truncated, zeroed, garbage,
  an image larger than ``max_pixels``) raise FormatError in one line, never another exception.
- :func:`check_vocoder` (Vocoder): declarations, config round trip, output float32 of
  ``frames * hop`` finite samples for 1 to 100 frames of real features, ``vocode_batch`` agrees
  with ``vocode``, unknown parameters refused.
- :func:`check_feature_extractor` (FeatureExtractor): declarations, config round trip, the
  (frames, n_bins) float32 finite output for mono, stereo, other rates and zero samples,
  ascending ``bin_frequencies``.

Each raises :class:`ConformanceError` (an AssertionError, so pytest shows it as a failure) naming
the check that failed, and returns the list of checks passed. A component that cannot run here
(``unavailable()`` gives a reason) is skipped through ``pytest.skip`` when pytest is running, else
ConformanceError. Numpy is the only dependency; no file is written.
"""

from __future__ import annotations

import json
from typing import Any, Callable

import numpy as np

from .core.errors import FormatError, PluginError
from .core.interfaces import FeatureExtractor, ImageCodec, Vocoder

FOREIGN_HEADERS = (  # files of other formats: a codec's sniff must not claim them
    b"\x00" * 64,
    b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(44),
    b"OggS\x00\x02" + bytes(58),
    b"fLaC\x00\x00\x00\x22" + bytes(56),
    b"GIF89a" + bytes(58),
    bytes(range(64)),
)


class ConformanceError(AssertionError):
    """A conformance check failed; the message names the component and the check."""


def _fail(cls: type, check: str, detail: str) -> ConformanceError:
    return ConformanceError(f"{cls.__name__} ({getattr(cls, 'kind', '')} '{getattr(cls, 'name', '')}'): {check}: {detail}")


def _skip_if_unavailable(cls: type, params: dict[str, Any] | None = None) -> None:
    reason = cls.unavailable(params or None)
    if reason is None:
        return
    try:
        import pytest
    except ImportError:
        raise _fail(cls, "available", reason) from None
    pytest.skip(f"{cls.__name__} cannot run here: {reason}")


def _config_round_trip(cls: type, instance: Any, passed: list[str]) -> None:
    config = instance.get_config()
    try:
        text = json.dumps(config)
    except TypeError as exc:
        raise _fail(cls, "config is JSON", str(exc)) from None
    again = cls.from_config(json.loads(text)).get_config()
    if again != config:
        raise _fail(cls, "config round trip", f"{config} came back as {again}")
    try:
        cls(colour_of_the_sky="blue")
    except PluginError:
        pass
    else:
        raise _fail(cls, "unknown parameter", "colour_of_the_sky=... was accepted; Component.__init__ refuses unknown parameters")
    passed.append("config round trip (JSON), unknown parameter refused")


def _one_line_format_error(cls: type, check: str, func: Callable[[], Any]) -> str:
    """Run func: 'refused' on a one-line FormatError, 'decoded' if it returns; anything else fails."""
    try:
        func()
    except FormatError as exc:
        if "\n" in str(exc) or not str(exc):
            raise _fail(cls, check, f"the FormatError message must be one non-empty line, not {str(exc)!r}") from None
        return "refused"
    except Exception as exc:
        raise _fail(cls, check, f"raised {type(exc).__name__}: {exc}; damaged input must raise FormatError") from None
    return "decoded"


# -- image codecs -----------------------------------------------------------------------------------
def _picture(shape: tuple[int, int], bits: int, seed: int) -> np.ndarray:
    """A smooth spectrogram-like picture with some noise, values < 2**bits."""
    height, width = shape
    rng = np.random.default_rng(seed)
    y = np.linspace(0.0, 1.0, height)[:, None]
    x = np.linspace(0.0, 6.0, width)[None, :]
    smooth = 0.5 + 0.35 * np.sin(3.0 * y * np.pi + x) * np.cos(x / 3.0)
    noisy = smooth + rng.normal(0.0, 0.03, shape)
    top = (1 << bits) - 1
    return np.clip(np.round(noisy * top), 0, top).astype(np.uint8 if bits == 8 else np.uint16)


def _modes(cls: type[ImageCodec]) -> list[dict[str, Any]]:
    modes = []
    if cls.lossy:
        modes.append({})  # the defaults: lossy
    if cls.lossless:
        modes.append({"lossless": True})
    if not cls.lossy:  # lossless only: quality must change nothing
        modes.append({"quality": cls.quality_range[0]})
    return modes


def check_codec(cls: type[ImageCodec], shapes: tuple[tuple[int, int], ...] = ((1, 1), (80, 1), (17, 33), (80, 61)),
                widest: bool = True, metadata: bytes = b"spectrocodec \x00\xff payload", **params: Any) -> list[str]:
    """Run every conformance check on an ImageCodec class (see the module docstring).
    ``widest``: also round-trip a 8 x ``max_width`` picture at the largest bit depth; ``params``:
    codec parameters for every instance (e.g. ``speed=9``)."""
    passed: list[str] = []
    if not (isinstance(cls, type) and issubclass(cls, ImageCodec)):
        raise ConformanceError(f"{cls!r} is not an ImageCodec subclass")
    if not cls.name or not cls.extension.startswith(".") or "/" not in cls.mime:
        raise _fail(cls, "declarations", "name, extension ('.xyz') and mime ('image/xyz') are required")
    depths = list(cls.bit_depths)
    if not depths or depths != sorted(set(depths)) or not all(isinstance(b, int) and 8 <= b <= 16 for b in depths):
        raise _fail(cls, "declarations", f"bit_depths must be ascending whole numbers from 8 to 16, not {cls.bit_depths!r}")
    lo, hi = cls.quality_range
    if not (cls.lossy or cls.lossless) or not lo < hi or not {"quality", "lossless"} <= set(cls.defaults):
        raise _fail(cls, "declarations", "lossy or lossless must be True, quality_range (lo, hi) with lo < hi, "
                                         "and defaults must hold 'quality' and 'lossless'")
    passed.append("declarations")
    _skip_if_unavailable(cls)
    _config_round_trip(cls, cls(), passed)

    undeclared = next(b for b in range(1, 17) if b not in depths)
    try:
        cls().check_bits(undeclared)
    except PluginError:
        passed.append(f"undeclared {undeclared}-bit refused")
    else:
        raise _fail(cls, "check_bits", f"{undeclared}-bit was accepted but is not in bit_depths")

    sample = None
    for bits in depths:
        cases = [(shape, mode) for shape in shapes for mode in _modes(cls)]
        if widest and bits == depths[-1]:
            cases.append(((8, cls.max_width), _modes(cls)[-1]))
        for shape, mode in cases:
            image = _picture(shape, bits, seed=bits * 1000 + shape[0] * 7 + shape[1])
            codec = cls(**params, **mode)
            where = f"{bits}-bit {shape[0]}x{shape[1]} {mode or 'defaults'}"
            data = codec.encode(image, bits, metadata)
            if not isinstance(data, (bytes, bytearray)) or not data:
                raise _fail(cls, f"encode {where}", f"returned {type(data).__name__}, not non-empty bytes")
            if not cls.sniff(bytes(data[:64])):
                raise _fail(cls, f"sniff {where}", "does not recognise the codec's own file")
            decoded = cls(**params, **mode).decode(data)
            if decoded.image.shape != image.shape or decoded.image.dtype != image.dtype or decoded.bits != bits:
                raise _fail(cls, f"round trip {where}", f"got {decoded.image.shape} {decoded.image.dtype} "
                                                         f"{decoded.bits}-bit, expected {image.shape} {image.dtype} {bits}-bit")
            if decoded.metadata != metadata:
                raise _fail(cls, f"metadata {where}", f"the payload came back as {decoded.metadata!r}")
            if int(decoded.image.max(initial=0)) >= 1 << bits:
                raise _fail(cls, f"range {where}", f"decoded values reach {int(decoded.image.max())}, not < 2**{bits}")
            exact = mode.get("lossless") or not cls.lossy
            if exact and not np.array_equal(decoded.image, image):
                raise _fail(cls, f"lossless {where}", "the pixels are not exactly those encoded")
            sample = sample or (bytes(data), image.shape)
        if bits < 16:
            bad = np.full((4, 4), 1 << bits, np.uint16)
            try:
                cls().encode(bad, bits, metadata)
            except PluginError:
                pass
            else:
                raise _fail(cls, f"{bits}-bit range", f"a pixel of {1 << bits} was accepted; refuse values >= 2**bits with PluginError")
    passed.append(f"round trips: {', '.join(map(str, depths))}-bit x {len(shapes)} shapes"
                  + (f" + 8 x {cls.max_width}" if widest else "") + ", metadata intact, lossless exact")

    for header in FOREIGN_HEADERS:
        if cls.sniff(header):
            raise _fail(cls, "sniff", f"claims a file starting {header[:12]!r}, which is not its format")
    passed.append("sniff: own files yes, foreign headers no")

    data, (height, width) = sample  # type: ignore[misc]
    rng = np.random.default_rng(0)
    damaged = [data[:n] for n in sorted({0, 1, 8, 16, 32, len(data) // 2, len(data) - 1})]
    damaged += [data[:16] + bytes(len(data) - 16), data[:32] + rng.integers(0, 256, len(data) - 32, np.uint8).tobytes()]
    for blob in damaged:
        _one_line_format_error(cls, f"damaged bytes ({len(blob)} of {len(data)})", lambda: cls().decode(blob))
    small = type(f"Small{cls.__name__}", (cls,), {"max_pixels": height * width - 1})
    if _one_line_format_error(cls, "max_pixels", lambda: small().decode(data)) != "refused":
        raise _fail(cls, "max_pixels", "an image larger than max_pixels was decoded; refuse it from the header")
    passed.append("damaged bytes: FormatError in one line; larger than max_pixels refused")
    return passed


# -- feature extractors ---------------------------------------------------------------------------
def _tone(seconds: float, rate: int, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    wave = 0.3 * np.sin(2 * np.pi * 440 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
    return np.repeat(wave[:, None], channels, axis=1).astype(np.float32) if channels > 1 else wave.astype(np.float32)


def check_feature_extractor(cls: type[FeatureExtractor]) -> list[str]:
    """Run every conformance check on a FeatureExtractor class (see the module docstring)."""
    passed: list[str] = []
    if not (isinstance(cls, type) and issubclass(cls, FeatureExtractor)) or not cls.name:
        raise ConformanceError(f"{cls!r} is not a named FeatureExtractor subclass")
    lo, hi = cls.fixed_range
    if not (cls.sample_rate > 0 and cls.hop_length > 0 and cls.n_bins > 0 and lo < hi):
        raise _fail(cls, "declarations", "sample_rate, hop_length, n_bins > 0 and fixed_range (lo, hi) with lo < hi")
    passed.append("declarations")
    _skip_if_unavailable(cls)
    extractor = cls()
    _config_round_trip(cls, extractor, passed)
    for audio, rate, what in ((_tone(1.0, cls.sample_rate), cls.sample_rate, "mono"),
                              (_tone(0.5, 44100, 2), 44100, "stereo 44.1 kHz"),
                              (np.zeros(0, np.float32), cls.sample_rate, "zero samples")):
        features = extractor.extract(audio, rate)
        frames = extractor.num_frames(round(len(audio) * cls.sample_rate / rate))
        if features.dtype != np.float32 or features.shape != (frames, cls.n_bins) or not np.isfinite(features).all():
            raise _fail(cls, f"extract {what}", f"got {features.dtype} {features.shape}, expected finite float32 ({frames}, {cls.n_bins})")
    passed.append("extract: mono, stereo, other rate, zero samples")
    freqs = np.asarray(extractor.bin_frequencies())
    if freqs.shape != (cls.n_bins,) or not np.all(np.diff(freqs) > 0):
        raise _fail(cls, "bin_frequencies", f"must be ({cls.n_bins},) ascending, got shape {freqs.shape}")
    passed.append("bin_frequencies ascending")
    return passed


# -- vocoders ---------------------------------------------------------------------------------------
def check_vocoder(cls: type[Vocoder], extractor: FeatureExtractor | None = None,
                  frame_counts: tuple[int, ...] = (1, 7, 100), **params: Any) -> list[str]:
    """Run every conformance check on a Vocoder class, on real features of ``extractor`` (default:
    the installed extractor named by the vocoder's first ``accepts``); ``params``: vocoder
    parameters (e.g. ``weights=...``, ``iterations=4``)."""
    passed: list[str] = []
    if not (isinstance(cls, type) and issubclass(cls, Vocoder)) or not cls.name:
        raise ConformanceError(f"{cls!r} is not a named Vocoder subclass")
    if not cls.accepts or "device" not in cls.defaults or "cpu" not in cls.devices:
        raise _fail(cls, "declarations", "accepts (feature names), a 'device' parameter and 'cpu' in devices are required")
    passed.append("declarations")
    _skip_if_unavailable(cls, params)
    vocoder = cls(**{"device": "cpu", **params})
    _config_round_trip(cls, vocoder, passed)
    if extractor is None:
        from .core.registry import Registry

        extractor = Registry.default().create("feature", cls.accepts[0])  # type: ignore[assignment]
    features = extractor.extract(_tone(3.0, extractor.sample_rate), extractor.sample_rate)
    batch = []
    for frames in frame_counts:
        part = np.ascontiguousarray(np.resize(features, (frames, features.shape[1])))
        wave = vocoder.vocode(part)
        if wave.dtype != np.float32 or wave.shape != (frames * extractor.hop_length,) or not np.isfinite(wave).all():
            raise _fail(cls, f"vocode {frames} frames", f"got {wave.dtype} {wave.shape}, expected finite float32 "
                                                        f"({frames * extractor.hop_length},)")
        batch.append(part)
    waves = vocoder.vocode_batch(batch)
    if [w.shape for w in waves] != [(len(f) * extractor.hop_length,) for f in batch]:
        raise _fail(cls, "vocode_batch", "lengths differ from vocode's")
    passed.append(f"vocode: {', '.join(map(str, frame_counts))} frames; vocode_batch")
    return passed
