"""The Python API by name: encode, decode, info. Components are looked up in the registry.

    data = encode("speech.wav", codec="avif", quality=60, bits=10)   # bytes of an AVIF file
    waveform, rate = decode(data, vocoder="auto", device="auto")     # float32 (samples,) or (samples, channels), Hz
    info(data)                                                       # dict: codec, bits, kbps...
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .audio import resample
from .errors import InputError, PluginError
from .interfaces import Vocoder
from .pipeline import Decoded, Pipeline
from .registry import Registry

AudioSource = str | os.PathLike | np.ndarray


def make_codec(codec: str | dict = "avif", quality: float | None = None, lossless: bool | None = None,
               backend: str | None = None, registry: Registry | None = None, **params: Any):
    """An ImageCodec instance by name (or config dict) with the common and codec-specific params."""
    registry = registry or Registry.default()
    config = {"name": codec} if isinstance(codec, str) else dict(codec)
    if backend:
        config["backend"] = backend
    return registry.create("codec", config, quality=quality, lossless=lossless or None, **params)


def resolve_vocoder(vocoder: str = "auto", feature: str = "speecht5", weights: str | None = None,
                    registry: Registry | None = None) -> tuple[type[Vocoder], str]:
    """The one rule that picks a vocoder class (API, decode, batch, report and bench all use it).

    A name is looked up (PluginError if unknown or unable to run here). ``"auto"``: with
    ``weights`` (--vocoder-weights), the highest-priority vocoder for ``feature`` that takes a
    ``weights`` parameter; without, the highest-priority available one (HiFi-GAN when its weights
    are available without a download, else the weights-free griffinlim). Returns (class, note):
    note says which one ``auto`` chose and why, or is empty."""
    registry = registry or Registry.default()
    params = None if weights is None else {"weights": weights}  # checked with them: unavailable(params)
    if vocoder != "auto":
        return registry.get_class("vocoder", vocoder, params=params), ""  # type: ignore[return-value]
    candidates = [c for c in registry.classes("vocoder") if feature in c.accepts]  # type: ignore[attr-defined]
    if weights is not None:
        takes = [c for c in candidates if "weights" in c.defaults]
        if not takes:
            raise PluginError(f"no installed vocoder for '{feature}' features takes weights; see 'spectrocodec plugins'")
        best = max(takes, key=lambda c: c.priority)  # type: ignore[attr-defined]
        return registry.get_class("vocoder", best.name, params=params), ""  # type: ignore[return-value]
    cls = registry.auto_vocoder(feature)
    skipped = [c for c in candidates if c.priority > cls.priority and c.unavailable()]  # type: ignore[attr-defined]
    note = f"vocoder: {cls.name}" + "".join(f" ({c.name} not used: {c.unavailable()})" for c in skipped)
    return cls, note


def make_vocoder(vocoder: str | dict = "auto", feature: str = "speecht5", device: str = "auto",
                 registry: Registry | None = None, weights: str | None = None, **params: Any):
    """A Vocoder instance by name (or config dict), or ``"auto"`` (see resolve_vocoder);
    ``weights``: a local directory or hub id, passed as the vocoder's ``weights`` parameter.
    Returns (vocoder, note) where note says which one ``auto`` chose and why, or is empty."""
    registry = registry or Registry.default()
    note = ""
    if isinstance(vocoder, str):
        cls, note = resolve_vocoder(vocoder, feature, weights, registry)
        vocoder = cls.name
    if weights is not None:
        params["weights"] = weights
    config = {"name": vocoder} if isinstance(vocoder, str) else dict(vocoder)
    return registry.create("vocoder", config, device=device, **params), note


def encode(source: AudioSource, sample_rate: int | None = None, codec: str | dict = "avif",
           quality: float | None = None, bits: int = 10, range: str = "adaptive",
           lossless: bool = False, backend: str | None = None, feature: str | dict = "speecht5",
           bitrate: float | None = None, channels: str = "keep", **codec_params: Any) -> bytes:
    """Audio file path or array → bytes of an image file (AVIF by default).

    source: a path (any format soundfile reads) or float32 samples (samples,) / (samples, channels)
    with ``sample_rate`` in Hz. quality: 0-100, higher is better (codec default if None).
    bits: 8, 10 or 12 (what the codec supports). range: "adaptive" (the file's min/max) or "fixed".
    bitrate: kbps of the whole file; the codec's quality is searched to land on it (exclusive
    with quality and lossless; core/ratecontrol.py).
    channels: "keep" (every channel, 1-8, in the layout chosen per file; docs/channels.md), "mono"
    (downmix, as before), or a layout to force: "planar", "midside" (stereo), "copies".
    codec_params: the codec's own, e.g. ``speed=2``, or ``container="compact"`` for avif (the AVIF 1.2
    ``mini`` header, ~185 bytes smaller; default "standard", which every AVIF reader opens).
    """
    from .ratecontrol import check_bitrate

    check_bitrate(bitrate, quality=quality, lossless=lossless)
    registry = Registry.default()
    pipe = Pipeline(
        extractor=registry.create("feature", feature),  # type: ignore[arg-type]
        codec=make_codec(codec, quality, lossless, backend, registry, **codec_params),
        bits=bits, range_mode=range, registry=registry, bitrate=bitrate, channels=channels,
    )
    if isinstance(source, (str, os.PathLike)):  # read in blocks: bounded memory for long files
        if sample_rate is not None:
            raise InputError("sample_rate is only for arrays; a file knows its own rate")
        return pipe.encode_file(source)
    if sample_rate is None:
        raise InputError("an array of samples needs sample_rate=...")
    return pipe.encode(source, sample_rate)  # checks the samples and the rate


MAX_ENCODED_BYTES = 256 << 20  # encoded inputs above this are refused unread (an hour is ~1-30 MB)


def read_bytes(data: bytes | str | os.PathLike) -> bytes:
    """Encoded bytes as they are, or the bytes of the file at a path, refused (InputError) when it
    is missing, a folder, not a regular file, empty or larger than MAX_ENCODED_BYTES."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    path = Path(data)
    if path.is_dir():
        raise InputError(f"{path} is a folder; give an encoded image file")
    if not path.exists():
        raise InputError(f"{path} does not exist")
    try:
        if not path.is_file():
            raise InputError(f"{path} is not a regular file; give an encoded image file")
        size = path.stat().st_size
        if size == 0:
            raise InputError(f"{path} is empty (0 bytes); give an encoded image file")
        if size > MAX_ENCODED_BYTES:
            raise InputError(f"{path} is {size / (1 << 20):.0f} MB, more than the {MAX_ENCODED_BYTES >> 20} MB an encoded file can be; it is not a spectrocodec file")
        with open(path, "rb") as handle:  # read no more than the limit, even if it grows meanwhile
            raw = handle.read(MAX_ENCODED_BYTES + 1)
        if len(raw) > MAX_ENCODED_BYTES:
            raise InputError(f"{path} is more than the {MAX_ENCODED_BYTES >> 20} MB an encoded file can be; it is not a spectrocodec file")
        return raw
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None


def read_features(data: bytes | str | os.PathLike) -> Decoded:
    """Encoded bytes (or a path) → Decoded: features float32 (frames, bins), header, codec."""
    return Pipeline().read(read_bytes(data))


@dataclass
class Decoding:
    """What decode_audio gives: the waveform and what made it."""

    waveform: np.ndarray  # float32 (samples,)
    rate: int  # Hz
    vocoder: Vocoder
    note: str  # which vocoder "auto" chose and why, or ""


def decode_audio(data: bytes | str | os.PathLike, vocoder: str | dict = "auto", device: str = "auto",
                 rate: str | int | None = "model", weights: str | None = None,
                 make: Callable[..., tuple[Vocoder, str]] | None = None,
                 on_note: Callable[[str], None] | None = None, **vocoder_params: Any) -> Decoding:
    """The one decode path (``decode``, ``spectrocodec decode`` and folders use it): encoded bytes
    or a path → features → vocoder → waveform at ``rate``: "model" or None (the vocoder's,
    16000 Hz for speecht5), "original" (the input's rate, from the header) or a rate in Hz.
    ``make``: what builds the vocoder (default make_vocoder; batch passes a per-process cache);
    ``on_note`` is told which vocoder "auto" chose before the (slow) vocoding starts."""
    pipe = Pipeline()
    decoded = pipe.read(read_bytes(data))
    header = decoded.header
    voc, note = (make or make_vocoder)(vocoder, header.feature["name"], device, weights=weights, **vocoder_params)
    if note and on_note:
        on_note(note)
    pipe.vocoder = voc
    waveform, out_rate = pipe.vocode(decoded)
    del decoded  # the features: not needed while resampling
    if rate not in (None, "model"):
        target = header.sample_rate if rate == "original" else int(rate)
        waveform, out_rate = resample(waveform, out_rate, target), target
    return Decoding(waveform, out_rate, voc, note)


def decode(data: bytes | str | os.PathLike, vocoder: str | dict = "auto", device: str = "auto",
           rate: str | int | None = "model", weights: str | None = None,
           **vocoder_params: Any) -> tuple[np.ndarray, int]:
    """Encoded bytes (or a path) → (waveform float32 (samples,) for mono, (samples, channels) for a
    file that kept several channels, sample rate in Hz).
    rate: "model" (the vocoder's), "original" or Hz; weights: vocoder weights (dir or hub id)."""
    result = decode_audio(data, vocoder, device, rate, weights, **vocoder_params)
    return result.waveform, result.rate


def info(data: bytes | str | os.PathLike) -> dict[str, Any]:
    """What an encoded file holds: codec, bit depth, range, size, duration, bitrate, metadata."""
    raw = read_bytes(data)
    decoded = read_features(raw)
    header = decoded.header
    duration = header.duration if not decoded.legacy else (decoded.width - 1) * 256 / 16000
    codec = decoded.codec
    return {
        "codec": codec.name, "backend": codec.backend, "mime": codec.mime,
        "container": codec.container_of(raw),
        "bits": header.bits, "width": decoded.width, "height": decoded.height,
        "range": [header.lo, header.hi], "range_mode": header.range_mode,
        "duration_s": duration, "bytes": len(raw),
        "kbps": (len(raw) * 8 / duration / 1000) if duration > 0 else None,
        "sample_rate": header.sample_rate, "num_samples": header.num_samples,
        "channels": header.channels, "layout": header.layout, "feature": header.feature,
        "legacy": decoded.legacy, "format_version": None if decoded.legacy else header.version,
        "quality": header.quality, "curve": header.curve,
    }


_read_bytes = read_bytes  # the old private name, for code written against it
