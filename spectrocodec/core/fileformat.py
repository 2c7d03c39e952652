"""The spectrocodec metadata payload: what makes an image file self-describing.

An encoded file is an ordinary image (AVIF, WebP, PNG...) whose pixels are the quantised features
(see mapping.py). This payload rides inside the image format's own extension mechanism (for AVIF
and HEIC a top-level ISOBMFF box of type ``scdc`` after the image data; other carriers are listed in
docs/file-format.md), and tells the decoder how to turn the pixels back into features and sound.

Layout, version 1, little-endian (a typical speech file: 28 bytes)::

    offset  size  field
    0       1     format version, 1
    1       1     flags: bit 0 = range is adaptive (1) or fixed (0); other bits 0
    2       1     bits per pixel sample, 8..16
    3       4     lo: float32, the feature value of pixel 0
    7       4     hi: float32, the feature value of pixel 2**bits - 1
    11      var   original sample rate in Hz, unsigned LEB128 varint
    .       var   original sample count (per channel), varint
    .       var   original channel count, varint
    .       1+n   feature extractor name: u8 length n, then n ASCII bytes
    .       var+m feature extractor parameters: varint length m, then m bytes of compact
                  JSON (m = 0 means the extractor's defaults)
    .       2     only if flags bit 1: the mapping's companding curve, u8 in 1/16 (16 = linear,
                  40 = 2.5; see mapping.py), then the encoder's quality, u8 0-100 (255 = not
                  recorded); a payload without bit 1 is linear with no quality (older files)

A reader refuses a payload whose version it does not know, and checks every field (finite range
with lo < hi and |lo|, |hi| <= 1e30, bit depth, positive sample rate and channels, sane sample count) before using it.
A plain image with no payload decodes as audio-avif wrote it: 8-bit, fixed range [-11, 4], speecht5.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from typing import Any

from .errors import FormatError

VERSION = 1
BOX_TYPE = b"scdc"  # ISOBMFF box / chunk tag carrying the payload, where the format allows 4 bytes
MAX_SAMPLE_RATE = 1_000_000
MAX_CHANNELS = 4096
MAX_SAMPLES = 1 << 40  # ~ 2 years at 16 kHz: anything above is a lie
MAX_FEATURE = 1e30  # |lo|, |hi| above this is a lie (and would overflow float32 features)


@dataclass
class Header:
    """Everything the decoder needs besides the pixels."""

    bits: int
    lo: float
    hi: float
    range_mode: str = "adaptive"  # or "fixed"
    sample_rate: int = 16000  # of the original audio, Hz
    num_samples: int = 0  # original samples per channel
    channels: int = 1
    feature: dict[str, Any] = field(default_factory=lambda: {"name": "speecht5"})
    version: int = VERSION
    curve: float = 1.0  # the mapping's companding exponent (mapping.to_image); 1 = linear
    quality: float | None = None  # the codec quality the encoder used (rate control's choice), if recorded

    @property
    def duration(self) -> float:
        """Original duration in seconds."""
        return self.num_samples / self.sample_rate if self.sample_rate else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version, "bits": self.bits, "range": [self.lo, self.hi],
            "range_mode": self.range_mode, "sample_rate": self.sample_rate,
            "num_samples": self.num_samples, "channels": self.channels, "feature": self.feature,
            "curve": self.curve, "quality": self.quality,
        }


def legacy_header(width: int) -> Header:
    """The header assumed for a plain 8-bit image with no payload (what audio-avif wrote)."""
    return Header(bits=8, lo=-11.0, hi=4.0, range_mode="fixed", sample_rate=16000,
                  num_samples=max(0, (width - 1) * 256), channels=1, feature={"name": "speecht5"})


def pack(header: Header) -> bytes:
    """Header → payload bytes (layout above)."""
    validate(header)
    name = str(header.feature["name"]).encode("ascii")
    params = {k: v for k, v in header.feature.items() if k != "name"}
    params_json = json.dumps(params, separators=(",", ":"), sort_keys=True).encode() if params else b""
    flags = 1 if header.range_mode == "adaptive" else 0
    extra = b""
    if header.curve != 1.0 or header.quality is not None:
        flags |= 2
        quality = 255 if header.quality is None else int(round(min(100.0, max(0.0, header.quality))))
        extra = bytes([curve_code(header.curve), quality])
    return b"".join([
        struct.pack("<BBBff", VERSION, flags, header.bits, header.lo, header.hi),
        _varint(header.sample_rate), _varint(header.num_samples), _varint(header.channels),
        bytes([len(name)]), name, _varint(len(params_json)), params_json, extra,
    ])


def curve_code(curve: float) -> int:
    """A companding exponent → its u8 code in 1/16 (1..255); ValueError outside 1/16 .. 255/16."""
    code = int(round(curve * 16))
    if not 1 <= code <= 255:
        raise ValueError(f"companding curve {curve} is outside 1/16 .. 255/16")
    return code


def unpack(payload: bytes) -> Header:
    """Payload bytes → Header, validated; FormatError on anything malformed."""
    data = bytes(payload)
    if len(data) < 11:
        raise FormatError("spectrocodec metadata is truncated; the file is damaged")
    version, flags, bits, lo, hi = struct.unpack_from("<BBBff", data, 0)
    if version != VERSION:
        raise FormatError(f"spectrocodec metadata version {version} is not supported (this version reads {VERSION}); upgrade spectrocodec")
    pos = 11
    sample_rate, pos = _read_varint(data, pos)
    num_samples, pos = _read_varint(data, pos)
    channels, pos = _read_varint(data, pos)
    if pos >= len(data):
        raise FormatError("spectrocodec metadata is truncated; the file is damaged")
    n = data[pos]
    name_bytes = data[pos + 1 : pos + 1 + n]
    pos += 1 + n
    if len(name_bytes) != n:
        raise FormatError("spectrocodec metadata is truncated; the file is damaged")
    m, pos = _read_varint(data, pos)
    params_json = data[pos : pos + m]
    if len(params_json) != m:
        raise FormatError("spectrocodec metadata is truncated; the file is damaged")
    try:
        name = name_bytes.decode("ascii")
        params = json.loads(params_json) if m else {}
    except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: absurdly nested JSON
        raise FormatError("spectrocodec metadata has an unreadable feature extractor config; the file is damaged") from None
    if not isinstance(params, dict) or "name" in params:  # pack() never writes the name among the params
        raise FormatError("spectrocodec metadata has an unreadable feature extractor config; the file is damaged")
    curve, quality = 1.0, None
    if flags & 2:
        pos += m
        if pos + 2 > len(data) or data[pos] == 0 or data[pos + 1] not in (*range(101), 255):
            raise FormatError("spectrocodec metadata has a truncated or invalid mapping field; the file is damaged")
        curve, quality = data[pos] / 16, None if data[pos + 1] == 255 else float(data[pos + 1])
    header = Header(bits=bits, lo=lo, hi=hi, range_mode="adaptive" if flags & 1 else "fixed",
                    sample_rate=sample_rate, num_samples=num_samples, channels=channels,
                    feature={"name": name, **params}, version=version, curve=curve, quality=quality)
    validate(header)
    return header


def validate(header: Header) -> None:
    """FormatError if any field is out of its range (a lying or damaged file)."""
    import math

    if not 8 <= header.bits <= 16:
        raise FormatError(f"spectrocodec metadata claims {header.bits}-bit pixels (8 to 16 allowed); the file is damaged")
    if not (math.isfinite(header.lo) and math.isfinite(header.hi) and header.lo < header.hi
            and max(abs(header.lo), abs(header.hi)) <= MAX_FEATURE):
        raise FormatError(f"spectrocodec metadata has an invalid value range [{header.lo}, {header.hi}]; the file is damaged")
    if not 1 <= header.sample_rate <= MAX_SAMPLE_RATE:
        raise FormatError(f"spectrocodec metadata claims a sample rate of {header.sample_rate} Hz; the file is damaged")
    if not 1 <= header.channels <= MAX_CHANNELS:
        raise FormatError(f"spectrocodec metadata claims {header.channels} channels; the file is damaged")
    if not 0 <= header.num_samples <= MAX_SAMPLES:
        raise FormatError(f"spectrocodec metadata claims {header.num_samples} samples; the file is damaged")
    if not 1 / 16 <= header.curve <= 255 / 16:
        raise FormatError(f"spectrocodec metadata has an invalid companding curve {header.curve}; the file is damaged")
    if header.range_mode not in ("adaptive", "fixed"):
        raise FormatError(f"unknown range mode '{header.range_mode}'")
    name = str(header.feature.get("name", ""))
    if not name or len(name) > 255 or not name.isascii():
        raise FormatError("spectrocodec metadata names no valid feature extractor; the file is damaged")


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise FormatError("spectrocodec metadata is truncated; the file is damaged")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos
