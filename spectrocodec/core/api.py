"""The Python API by name: encode, decode, info. Components are looked up in the registry.

    data = encode("speech.wav", codec="avif", quality=60, bits=10)   # bytes of an AVIF file
    waveform, rate = decode(data, vocoder="auto", device="auto")     # float32 (samples,), Hz
    info(data)                                                       # dict: codec, bits, kbps...
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError
from .files import is_stream, read_stream, spooled_input
from .pipeline import Decoded, Pipeline
from .registry import Registry
from .validate import check_encode_args, check_rate_arg

AudioSource = str | os.PathLike | np.ndarray


def make_codec(codec: str | dict = "avif", quality: float | None = None, lossless: bool | None = None,
               backend: str | None = None, registry: Registry | None = None, **params: Any):
    """An ImageCodec instance by name (or config dict) with the common and codec-specific params."""
    registry = registry or Registry.default()
    config = {"name": codec} if isinstance(codec, str) else dict(codec)
    if backend:
        config["backend"] = backend
    return registry.create("codec", config, quality=quality, lossless=lossless or None, **params)


def make_vocoder(vocoder: str | dict = "auto", feature: str = "speecht5", device: str = "auto",
                 registry: Registry | None = None, **params: Any):
    """A Vocoder instance: by name, or ``"auto"`` (HiFi-GAN when its weights are available
    without a download, else the weights-free griffinlim). Returns (vocoder, note) where note
    says which one ``auto`` chose and why, or is empty."""
    registry = registry or Registry.default()
    note = ""
    if vocoder == "auto":
        cls = registry.auto_vocoder(feature)
        skipped = [c for c in registry.classes("vocoder")
                   if feature in c.accepts and c.priority > cls.priority and c.unavailable()]  # type: ignore[attr-defined]
        note = f"vocoder: {cls.name}"
        if skipped:
            note += "".join(f" ({c.name} not used: {c.unavailable()})" for c in skipped)
        vocoder = cls.name
    config = {"name": vocoder} if isinstance(vocoder, str) else dict(vocoder)
    return registry.create("vocoder", config, device=device, **params), note


def encode(source: AudioSource, sample_rate: int | None = None, codec: str | dict = "avif",
           quality: float | None = None, bits: int | None = None, range: str = "adaptive",
           lossless: bool = False, backend: str | None = None, feature: str | dict = "speecht5",
           **codec_params: Any) -> bytes:
    """Audio file path or array → bytes of an image file (AVIF by default).

    source: a path (any format soundfile reads) or float32 samples (samples,) / (samples, channels)
    with ``sample_rate`` in Hz. quality: 0-100, higher is better (codec default if None).
    bits: 8, 10 or 12 (what the codec supports; None: the codec's default, 10 where it has it, else 8). range: "adaptive" (the file's min/max) or "fixed".
    """
    check_encode_args(source, sample_rate, quality, bits, range, lossless)
    registry = Registry.default()
    made = make_codec(codec, quality, lossless, backend, registry, **codec_params)
    pipe = Pipeline(
        extractor=registry.create("feature", feature),  # type: ignore[arg-type]
        codec=made, bits=made.default_bits() if bits is None else bits, range_mode=range, registry=registry,
    )
    if isinstance(source, (str, os.PathLike)):  # read in blocks: bounded memory for long files
        if sample_rate is not None:
            raise InputError("sample_rate is only for arrays; a file knows its own rate")
        with spooled_input(source) as path:  # '-' and FIFOs: copied to a temporary file first
            return pipe.encode_file(path)
    if sample_rate is None:
        raise InputError("an array of samples needs sample_rate=...")
    return pipe.encode(source, sample_rate)  # checks the samples and the rate


MAX_ENCODED_BYTES = 256 << 20  # encoded inputs above this are refused unread (an hour is ~1-30 MB)


def _read_bytes(data: bytes | str | os.PathLike) -> bytes:
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    if not isinstance(data, (str, os.PathLike)):
        raise InputError(f"give encoded bytes or a path, not {type(data).__name__}")
    if is_stream(data):  # '-' (standard input) or a FIFO: read it to the end, never stat or seek it
        return read_stream(data, MAX_ENCODED_BYTES, "an encoded image file")
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
    return Pipeline().read(_read_bytes(data))


class DecodedAudio(tuple):
    """What ``decode`` returns: the pair ``(waveform, rate)`` (so ``waveform, rate = decode(...)``
    works), plus how it was made: ``vocoder`` (the name of the vocoder that ran, e.g. after
    ``vocoder="auto"``), ``device`` ("cpu", "cuda"), ``gain`` (the headroom gain applied, 1.0 if
    none: see core/writer.py), ``legacy`` (True for a plain image without spectrocodec metadata)."""

    waveform: np.ndarray
    rate: int

    def __new__(cls, waveform: np.ndarray, rate: int, vocoder: str = "", device: str = "",
                gain: float = 1.0, legacy: bool = False) -> "DecodedAudio":
        self = super().__new__(cls, (waveform, rate))
        self.waveform, self.rate, self.vocoder, self.device, self.gain, self.legacy = waveform, rate, vocoder, device, gain, legacy
        return self

    def __repr__(self) -> str:
        return (f"DecodedAudio(waveform=<{self.waveform.shape} {self.waveform.dtype}>, rate={self.rate}, "
                f"vocoder={self.vocoder!r}, device={self.device!r}, gain={self.gain:g})")


def decode(data: bytes | str | os.PathLike, vocoder: str | dict = "auto", device: str = "auto",
           rate: int | str | None = None, **vocoder_params: Any) -> DecodedAudio:
    """Encoded bytes (or a path, or "-" for standard input) → ``DecodedAudio``: the pair
    (waveform float32 (samples,), sample rate in Hz) with ``.vocoder``, ``.device``, ``.gain``.

    rate: None or "model" (the vocoder's rate, 16000 for speecht5), "original" (the encoded audio's
    rate) or a rate in Hz (1000-384000). A waveform that goes over full scale is scaled down
    (``.gain`` < 1) and soft-limited rather than left to clip when written (core/writer.py)."""
    from .audio import resample
    from .writer import headroom_gain, limit

    target = check_rate_arg(rate)
    if not isinstance(device, str):
        raise InputError(f"device takes 'auto', 'cpu' or 'cuda', not {device!r}")
    registry = Registry.default()
    raw = _read_bytes(data)
    pipe = Pipeline(registry=registry)
    decoded = pipe.read(raw)
    voc, _ = make_vocoder(vocoder, decoded.header.feature["name"], device, registry, **vocoder_params)
    pipe.vocoder = voc
    waveform, out_rate = pipe.vocode(decoded)
    if target is not None:
        target = decoded.header.sample_rate if target == "original" else target
        waveform, out_rate = resample(waveform, out_rate, target), target
    gain = headroom_gain(waveform)
    if gain != 1.0:  # over full scale: one gain and a soft-knee limiter, never hard clipping
        waveform = limit(waveform, gain)
    return DecodedAudio(waveform, out_rate, voc.name, getattr(voc, "device_name", device), gain, decoded.legacy)


def info(data: bytes | str | os.PathLike) -> dict[str, Any]:
    """What an encoded file holds: codec, bit depth, range, size, duration, bitrate, metadata."""
    raw = _read_bytes(data)
    decoded = Pipeline().read(raw, features=False)  # headers only where the codec can: no pixels decoded
    header = decoded.header
    duration = header.duration if not decoded.legacy else (decoded.width - 1) * 256 / 16000
    codec = decoded.codec
    return {
        "codec": codec.name, "backend": codec.backend, "mime": codec.mime,
        "bits": header.bits, "width": decoded.width, "height": decoded.height,
        "range": [header.lo, header.hi], "range_mode": header.range_mode,
        "duration_s": duration, "bytes": len(raw),
        "kbps": (len(raw) * 8 / duration / 1000) if duration > 0 else None,
        "sample_rate": header.sample_rate, "num_samples": header.num_samples,
        "channels": header.channels, "feature": header.feature,
        "legacy": decoded.legacy, "format_version": None if decoded.legacy else header.version,
    }

