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
from .files import check_input, is_stream, read_stream, spooled_input
from .interfaces import Vocoder
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
           quality: float | None = None, bits: int | None = None, range: str = "adaptive",
           lossless: bool = False, backend: str | None = None, feature: str | dict = "speecht5",
           bitrate: float | None = None, channels: str = "keep", **codec_params: Any) -> bytes:
    """Audio file path or array → bytes of an image file (AVIF by default).

    source: a path (any format soundfile reads) or float32 samples (samples,) / (samples, channels)
    with ``sample_rate`` in Hz. quality: 0-100, higher is better (codec default if None).
    bits: 8, 10 or 12 (what the codec supports; None: the codec's default, 10 where it has it, else 8). range: "adaptive" (the file's min/max) or "fixed".
    bitrate: kbps of the whole file; the codec's quality is searched to land on it (exclusive
    with quality and lossless; core/ratecontrol.py).
    channels: "keep" (every channel, 1-8, in the layout chosen per file; docs/channels.md), "mono"
    (downmix, as before), or a layout to force: "planar", "midside" (stereo), "copies".
    codec_params: the codec's own, e.g. ``speed=2``, or ``container="compact"`` for avif (the AVIF 1.2
    ``mini`` header, ~185 bytes smaller; default "standard", which every AVIF reader opens).
    """
    check_encode_args(source, sample_rate, quality, bits, range, lossless)
    from .ratecontrol import check_bitrate

    check_bitrate(bitrate, quality=quality, lossless=lossless)
    registry = Registry.default()
    made = make_codec(codec, quality, lossless, backend, registry, **codec_params)
    pipe = Pipeline(
        extractor=registry.create("feature", feature),  # type: ignore[arg-type]
        codec=made, bits=made.default_bits() if bits is None else bits, range_mode=range, registry=registry,
        bitrate=bitrate, channels=channels,
    )
    if isinstance(source, (str, os.PathLike)):  # read in blocks: bounded memory for long files
        if sample_rate is not None:
            raise InputError("sample_rate is only for arrays; a file knows its own rate")
        with spooled_input(source) as path:  # '-' and FIFOs: copied to a temporary file first
            try:
                return pipe.encode_file(path)
            except InputError as exc:  # name the stream, not its temporary copy
                if os.fspath(path) == os.fspath(source):
                    raise
                name = "standard input" if os.fspath(source) == "-" else os.fspath(source)
                raise InputError(str(exc).replace(os.fspath(path), name)) from None
    if sample_rate is None:
        raise InputError("an array of samples needs sample_rate=...")
    return pipe.encode(source, sample_rate)  # checks the samples and the rate


MAX_ENCODED_BYTES = 256 << 20  # encoded inputs above this are refused unread (an hour is ~1-30 MB)


def read_bytes(data: bytes | str | os.PathLike) -> bytes:
    """Encoded bytes as they are, or the bytes of the file at a path, refused (InputError) when it
    is missing, a folder, not a regular file, empty or larger than MAX_ENCODED_BYTES."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    if not isinstance(data, (str, os.PathLike)):
        raise InputError(f"give encoded bytes or a path, not {type(data).__name__}")
    if is_stream(data):  # '-' (standard input) or a FIFO: read it to the end, never stat or seek it
        return read_stream(data, MAX_ENCODED_BYTES, "an encoded image file")
    path = Path(data)
    check_input(path, "an encoded image file")
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

    waveform: np.ndarray  # float32 (samples,) or (samples, channels); with spool=True maybe a SpooledWaveform
    rate: int  # Hz
    vocoder: Vocoder
    note: str  # which vocoder "auto" chose and why, or ""
    legacy: bool = False  # a plain image without spectrocodec metadata, decoded as audio-avif
    target: int | None = None  # with resample=False: the rate to resample to while writing (write_wav's rate_out)


def decode_audio(data: bytes | str | os.PathLike, vocoder: str | dict = "auto", device: str = "auto",
                 rate: str | int | None = "model", weights: str | None = None,
                 make: Callable[..., tuple[Vocoder, str]] | None = None,
                 on_note: Callable[[str], None] | None = None, resample_now: bool = True,
                 spool: bool = False, **vocoder_params: Any) -> Decoding:
    """The one decode path (``decode``, ``spectrocodec decode`` and folders use it): encoded bytes
    or a path → features → vocoder → waveform at ``rate``: "model" or None (the vocoder's,
    16000 Hz for speecht5), "original" (the input's rate, from the header) or a rate in Hz.
    ``make``: what builds the vocoder (default make_vocoder; batch passes a per-process cache);
    ``on_note`` is told which vocoder "auto" chose before the (slow) vocoding starts.
    ``resample_now=False``: the waveform stays at the vocoder's rate and ``target`` says the rate
    asked for, so that the writer resamples block by block (``write_wav(..., rate_out=target)``:
    bounded memory for ``--rate 384000`` on hours of audio). ``spool=True`` (with
    ``resample_now=False``): a multichannel or long waveform is a spool.SpooledWaveform on disk,
    written as it is vocoded (Pipeline.vocode), for write_wav to read back in blocks."""
    rate = check_rate_arg(rate)  # refused before any work
    pipe = Pipeline()
    decoded = pipe.read(read_bytes(data))
    header = decoded.header
    voc, note = (make or make_vocoder)(vocoder, header.feature["name"], device, weights=weights, **vocoder_params)
    if note and on_note:
        on_note(note)
    pipe.vocoder = voc
    waveform, out_rate = pipe.vocode(decoded, spool=spool and not resample_now)  # long outputs: spooled to disk as vocoded
    legacy = decoded.legacy
    del decoded  # the features: not needed while resampling
    target = None
    if rate is not None:
        target = header.sample_rate if rate == "original" else int(rate)
        if resample_now:
            waveform, out_rate, target = resample(waveform, out_rate, target), target, None
    return Decoding(waveform, out_rate, voc, note, legacy, target)


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
           rate: str | int | None = "model", weights: str | None = None,
           **vocoder_params: Any) -> DecodedAudio:
    """Encoded bytes (or a path, or "-" for standard input) → ``DecodedAudio``: the pair
    (waveform float32 (samples,) for mono, (samples, channels) for a file that kept several
    channels; sample rate in Hz), so ``waveform, rate = decode(...)`` works,
    with ``.vocoder`` (the name of the vocoder that ran), ``.device``, ``.gain``, ``.legacy``.

    rate: "model" or None (the vocoder's rate, 16000 for speecht5), "original" (the encoded audio's
    rate) or a rate in Hz (1000-384000); weights: vocoder weights (dir or hub id). A waveform that
    goes over full scale is scaled down (``.gain`` < 1) and soft-limited rather than left to clip
    when written (core/writer.py)."""
    from .writer import headroom_gain, limit

    if not isinstance(device, str):
        raise InputError(f"device takes 'auto', 'cpu' or 'cuda', not {device!r}")
    result = decode_audio(data, vocoder, device, rate, weights, **vocoder_params)
    waveform = result.waveform
    gain = headroom_gain(waveform)
    if gain != 1.0:  # over full scale: one gain and a soft-knee limiter, never hard clipping
        waveform = limit(waveform, gain)
    return DecodedAudio(waveform, result.rate, result.vocoder.name, getattr(result.vocoder, "device_name", device),
                        gain, result.legacy)


def info(data: bytes | str | os.PathLike) -> dict[str, Any]:
    """What an encoded file holds: codec, bit depth, range, size, duration, bitrate, metadata."""
    raw = read_bytes(data)
    decoded = Pipeline().read(raw, features=False)  # headers only where the codec can: no pixels decoded
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
