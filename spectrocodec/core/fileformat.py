"""The spectrocodec metadata payload: what makes an image file self-describing.

An encoded file is an ordinary image (AVIF, WebP, PNG...) whose pixels are the quantised features
(see mapping.py). This payload rides inside the image format's own extension mechanism (for AVIF
the bytes after the image data in the ``idat`` box, or a top-level ``scdc`` box; other carriers
are listed in docs/file-format.md), and tells the decoder how to turn the pixels back into
features and sound. ``pack`` writes version 2; ``unpack`` reads versions 1 and 2.

Layout, version 2, little-endian (a typical speech file: 10 bytes). Anything equal to its default
is left out and a flag bit says so::

    offset  size  field                                                     struct
    0       1     format version, 2                                         HEAD "<BH"
    1       2     flags, u16:
                    bits 0-3  bits per pixel sample - 8 (0..8)
                    bit 4     range is adaptive (1) or fixed (0)
                    bit 5     lo, hi are float16 (1) or float32 (0)
                    bit 6     a sample rate follows (else 16000 Hz)
                    bit 7     a channel count follows (else 1)
                    bit 8     a feature extractor config follows (else {"name": "speecht5"})
                    bit 9     extension fields follow, to the end of the payload
                    bits 10-15 reserved, 0 (a reader refuses a payload with any set)
    3       4|8   lo, hi: the feature values of pixel 0 and 2**bits - 1     RANGE16 "<ee" | RANGE32 "<ff"
    .       var   original sample count per channel, unsigned LEB128 varint
    .       var   [bit 6] original sample rate in Hz, varint
    .       var   [bit 7] original channel count, varint
    .       1+    [bit 8] feature config: u8 id; id k >= 1 is FEATURE_IDS[k]; id 0: u8 length n,
                  n ASCII bytes of the name, varint length m, m bytes of compact JSON parameters
    .       ...   [bit 9] extension fields, each: u8 tag, varint length, that many bytes. Tags
                  0-127 must be understood (a reader refuses one it does not know: the file needs
                  a newer spectrocodec); tags 128-255 are optional (an unknown one is skipped).

Extension fields in use: tag 1, ``layout`` (how channels are stored, channels.py): one byte,
the index in channels.LAYOUTS (0 mono, 1 planar, 2 midside, 3 copies); absent means "mono" (one
plane: the input, or its downmix when channels > 1, as every earlier file). Required (< 128): a
reader that does not know it would decode a multichannel picture wrongly.
Tag 2 (required), ``curve``: the mapping's companding exponent, u8 in 1/16 (absent: 1, linear).
Tag 130 (optional), ``quality``: the codec quality the encoder used, u8 0-100 (what --bitrate chose).

Extension fields are how new Header fields join the format without a new version: a field is
declared once in ``EXTENSIONS`` (tag, Header attribute, default, to-bytes, from-bytes) and is
written only when it differs from its default, so files that do not use it stay as small.

The range is stored exactly as the mapping quantised with: the encoder rounds it through
``storable_range`` (outward, to float16 when that widens it by at most 2**-10 of its width, which
changes no decoded value measurably; else to float32) before making pixels.

Layout, version 1 (read only; a typical speech file: 28 bytes)::

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

A reader refuses a payload whose version it does not know, and checks every field (finite range
with lo < hi and |lo|, |hi| <= 1e30, bit depth, positive sample rate and channels, sane sample count) before using it.
A plain image with no payload decodes as audio-avif wrote it: 8-bit, fixed range [-11, 4], speecht5.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .channels import LAYOUTS, check_layout
from .errors import FormatError, InputError

VERSION = 2
VERSIONS = (1, 2)  # what unpack reads
BOX_TYPE = b"scdc"  # ISOBMFF box / chunk tag carrying the payload, where the format allows 4 bytes
MAX_SAMPLE_RATE = 1_000_000
MAX_CHANNELS = 4096
MAX_SAMPLES = 1 << 40  # ~ 2 years at 16 kHz: anything above is a lie
MAX_FEATURE = 1e30  # |lo|, |hi| above this is a lie (and would overflow float32 features)
DEFAULT_RATE = 16000
DEFAULT_FEATURE: dict[str, Any] = {"name": "speecht5"}
FEATURE_IDS: tuple[dict[str, Any] | None, ...] = (None, DEFAULT_FEATURE)  # id 0: explicit config
FLOAT16_SLACK = 2.0 ** -10  # the widest float16 rounding storable_range accepts, relative to hi - lo

HEAD_V1 = struct.Struct("<BBBff")  # version, flags, bits, lo, hi
HEAD = struct.Struct("<BH")  # version, flags
RANGE16 = struct.Struct("<ee")
RANGE32 = struct.Struct("<ff")
F_ADAPTIVE, F_FLOAT16, F_RATE, F_CHANNELS, F_FEATURE, F_EXTENSIONS = (1 << n for n in range(4, 10))
F_RESERVED = 0xFFFF & ~0x3FF


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
    layout: str = "mono"  # how channels are stored (channels.py); "mono": one plane, downmixed as before
    curve: float = 1.0  # the mapping's companding exponent (mapping.to_image), 1/16 steps; 1 = linear
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
            "layout": self.layout, "curve": self.curve, "quality": self.quality,
        }


@dataclass(frozen=True)
class Extension:
    """An optional Header field stored as a version-2 extension (tag, length, bytes): written only
    when ``getattr(header, name) != default``. Tags 0-127 are required, 128-255 optional."""

    tag: int
    name: str  # the Header attribute
    default: Any
    encode: Callable[[Any], bytes]
    decode: Callable[[bytes], Any]  # raise ValueError on malformed bytes


def json_extension(tag: int, name: str, default: Any) -> Extension:
    """An Extension whose value is stored as compact JSON (any JSON-able value)."""
    return Extension(tag, name, default, lambda value: json.dumps(value, separators=(",", ":")).encode(),
                     lambda raw: json.loads(raw.decode("utf-8")))


def _layout(raw: bytes) -> str:
    if len(raw) != 1 or raw[0] >= len(LAYOUTS):
        raise ValueError(f"unknown channel layout {raw.hex()}")
    return LAYOUTS[raw[0]]


def curve_code(curve: float) -> int:
    """A companding exponent → its u8 code in 1/16 (1..255); ValueError outside 1/16 .. 255/16."""
    code = int(round(curve * 16))
    if not 1 <= code <= 255:
        raise ValueError(f"companding curve {curve} is outside 1/16 .. 255/16")
    return code


def _curve(raw: bytes) -> float:
    if len(raw) != 1 or raw[0] == 0:
        raise ValueError("bad curve")
    return raw[0] / 16


def _quality(raw: bytes) -> float:
    if len(raw) != 1 or raw[0] > 100:
        raise ValueError("bad quality")
    return float(raw[0])


EXTENSIONS: list[Extension] = [  # add new Header fields here
    Extension(1, "layout", "mono", lambda value: bytes([LAYOUTS.index(value)]), _layout),
    # 2: the companding curve, required (a reader that ignored it would decode wrong features)
    Extension(2, "curve", 1.0, lambda value: bytes([curve_code(value)]), _curve),
    # 130: the encoder's quality (what --bitrate chose), optional: informational only
    Extension(130, "quality", None, lambda value: bytes([int(round(min(100.0, max(0.0, value))))]), _quality),
]


def legacy_header(width: int) -> Header:
    """The header assumed for a plain 8-bit image with no payload (what audio-avif wrote)."""
    return Header(bits=8, lo=-11.0, hi=4.0, range_mode="fixed", sample_rate=16000,
                  num_samples=max(0, (width - 1) * 256), channels=1, feature={"name": "speecht5"})


def storable_range(lo: float, hi: float) -> tuple[float, float]:
    """(lo, hi) rounded outward to what ``pack`` stores exactly: float16 when that widens the range
    by at most FLOAT16_SLACK of its width, else float32. Quantise with the result."""
    lo16, hi16 = _outward(lo, hi, np.float16)
    if math.isfinite(lo16) and math.isfinite(hi16) and (lo - lo16) + (hi16 - hi) <= FLOAT16_SLACK * (hi - lo):
        return lo16, hi16
    return _outward(lo, hi, np.float32)


def _outward(lo: float, hi: float, dtype: type) -> tuple[float, float]:
    """(lo, hi) rounded to ``dtype``, lo down and hi up (compared as Python floats: NumPy would
    compare in ``dtype``); infinite where ``dtype`` cannot hold them."""
    with np.errstate(over="ignore"):
        low, high = dtype(lo), dtype(hi)
        if float(low) > lo:
            low = np.nextafter(low, dtype(-np.inf))
        if float(high) < hi:
            high = np.nextafter(high, dtype(np.inf))
    return float(low), float(high)


def _is_float16(value: float) -> bool:
    with np.errstate(over="ignore"):
        return float(np.float16(value)) == value


def pack(header: Header, version: int = VERSION) -> bytes:
    """Header → payload bytes (layout above); ``version=1`` writes the old layout (for tests and
    benchmarks of old files: it has no room for extension fields)."""
    validate(header)
    if version == 1:
        return _pack_v1(header)
    if version != VERSION:
        raise FormatError(f"cannot write metadata version {version}; use 1 or {VERSION}")
    flags = header.bits - 8
    flags |= F_ADAPTIVE if header.range_mode == "adaptive" else 0
    if _is_float16(header.lo) and _is_float16(header.hi):
        flags |= F_FLOAT16
        rng = RANGE16.pack(header.lo, header.hi)
    else:
        rng = RANGE32.pack(header.lo, header.hi)
    tail = [_varint(header.num_samples)]
    if header.sample_rate != DEFAULT_RATE:
        flags |= F_RATE
        tail.append(_varint(header.sample_rate))
    if header.channels != 1:
        flags |= F_CHANNELS
        tail.append(_varint(header.channels))
    if header.feature != DEFAULT_FEATURE:
        flags |= F_FEATURE
        tail.append(_pack_feature(header.feature))
    extensions = [(ext.tag, ext.encode(getattr(header, ext.name))) for ext in EXTENSIONS
                  if getattr(header, ext.name, ext.default) != ext.default]
    if extensions:
        flags |= F_EXTENSIONS
        tail += [bytes([tag]) + _varint(len(body)) + body for tag, body in extensions]
    return HEAD.pack(VERSION, flags) + rng + b"".join(tail)


def _pack_v1(header: Header) -> bytes:
    if header.layout != "mono":
        raise FormatError(f"metadata version 1 cannot store channel layout '{header.layout}'; write version {VERSION}")
    flags = 1 if header.range_mode == "adaptive" else 0
    return (HEAD_V1.pack(1, flags, header.bits, header.lo, header.hi) + _varint(header.sample_rate)
            + _varint(header.num_samples) + _varint(header.channels) + _pack_config(header.feature))


def _pack_feature(feature: dict[str, Any]) -> bytes:
    if feature in FEATURE_IDS:
        return bytes([FEATURE_IDS.index(feature)])
    return b"\0" + _pack_config(feature)


def _pack_config(feature: dict[str, Any]) -> bytes:
    """u8 length n, n ASCII bytes of the name, varint length m, m bytes of JSON parameters."""
    name = str(feature["name"]).encode("ascii")
    params = {k: v for k, v in feature.items() if k != "name"}
    params_json = json.dumps(params, separators=(",", ":"), sort_keys=True).encode() if params else b""
    return bytes([len(name)]) + name + _varint(len(params_json)) + params_json


def unpack(payload: bytes) -> Header:
    """Payload bytes (version 1 or 2) → Header, validated; FormatError on anything malformed."""
    data = bytes(payload)
    if not data:
        raise _truncated()
    version = data[0]
    if version not in VERSIONS:
        raise FormatError(f"spectrocodec metadata version {version} is not supported (this version reads {', '.join(map(str, VERSIONS))}); upgrade spectrocodec")
    header = _unpack_v1(data) if version == 1 else _unpack_v2(data)
    validate(header)
    return header


def _unpack_v1(data: bytes) -> Header:
    if len(data) < HEAD_V1.size:
        raise _truncated()
    version, flags, bits, lo, hi = HEAD_V1.unpack_from(data, 0)
    pos = HEAD_V1.size
    sample_rate, pos = _read_varint(data, pos)
    num_samples, pos = _read_varint(data, pos)
    channels, pos = _read_varint(data, pos)
    feature, pos = _read_feature_config(data, pos)
    return Header(bits=bits, lo=lo, hi=hi, range_mode="adaptive" if flags & 1 else "fixed",
                  sample_rate=sample_rate, num_samples=num_samples, channels=channels,
                  feature=feature, version=version)


def _unpack_v2(data: bytes) -> Header:
    if len(data) < HEAD.size:
        raise _truncated()
    version, flags = HEAD.unpack_from(data, 0)
    if flags & F_RESERVED:
        raise FormatError(f"spectrocodec metadata sets unknown flags (0x{flags & F_RESERVED:04x}); the file is damaged or needs a newer spectrocodec")
    rng = RANGE16 if flags & F_FLOAT16 else RANGE32
    if len(data) < HEAD.size + rng.size:
        raise _truncated()
    lo, hi = (float(v) for v in rng.unpack_from(data, HEAD.size))
    pos = HEAD.size + rng.size
    num_samples, pos = _read_varint(data, pos)
    sample_rate, channels, feature = DEFAULT_RATE, 1, dict(DEFAULT_FEATURE)
    if flags & F_RATE:
        sample_rate, pos = _read_varint(data, pos)
    if flags & F_CHANNELS:
        channels, pos = _read_varint(data, pos)
    if flags & F_FEATURE:
        if pos >= len(data):
            raise _truncated()
        ident, pos = data[pos], pos + 1
        if ident == 0:
            feature, pos = _read_feature_config(data, pos)
        elif ident < len(FEATURE_IDS):
            feature = dict(FEATURE_IDS[ident])  # type: ignore[arg-type]
        else:
            raise FormatError(f"spectrocodec metadata names feature config id {ident}, which this version does not know; upgrade spectrocodec")
    extra: dict[str, Any] = {}
    if flags & F_EXTENSIONS:
        extra = _read_extensions(data, pos)
    elif pos != len(data):
        raise FormatError("spectrocodec metadata has trailing bytes; the file is damaged")
    return Header(bits=(flags & 0xF) + 8, lo=lo, hi=hi, range_mode="adaptive" if flags & F_ADAPTIVE else "fixed",
                  sample_rate=sample_rate, num_samples=num_samples, channels=channels, feature=feature,
                  version=version, **extra)


def _read_extensions(data: bytes, pos: int) -> dict[str, Any]:
    known = {ext.tag: ext for ext in EXTENSIONS}
    values: dict[str, Any] = {}
    if pos >= len(data):
        raise _truncated()
    while pos < len(data):
        tag = data[pos]
        length, pos = _read_varint(data, pos + 1)
        body = data[pos : pos + length]
        if len(body) != length:
            raise _truncated()
        pos += length
        ext = known.get(tag)
        if ext is None:
            if tag < 128:
                raise FormatError(f"spectrocodec metadata has a required field (tag {tag}) this version does not know; upgrade spectrocodec")
            continue
        try:
            values[ext.name] = ext.decode(body)
        except (ValueError, UnicodeDecodeError, RecursionError, TypeError):
            raise FormatError(f"spectrocodec metadata has an unreadable '{ext.name}' field; the file is damaged") from None
    return values


def _read_feature_config(data: bytes, pos: int) -> tuple[dict[str, Any], int]:
    """u8 length n, n ASCII bytes of name, varint m, m bytes of JSON → (config, new pos)."""
    if pos >= len(data):
        raise _truncated()
    n = data[pos]
    name_bytes = data[pos + 1 : pos + 1 + n]
    pos += 1 + n
    if len(name_bytes) != n:
        raise _truncated()
    m, pos = _read_varint(data, pos)
    params_json = data[pos : pos + m]
    if len(params_json) != m:
        raise _truncated()
    try:
        name = name_bytes.decode("ascii")
        params = json.loads(params_json) if m else {}
    except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: absurdly nested JSON
        raise FormatError("spectrocodec metadata has an unreadable feature extractor config; the file is damaged") from None
    if not isinstance(params, dict) or "name" in params:  # pack() never writes the name among the params
        raise FormatError("spectrocodec metadata has an unreadable feature extractor config; the file is damaged")
    return {"name": name, **params}, pos + m


def _truncated() -> FormatError:
    return FormatError("spectrocodec metadata is truncated; the file is damaged")


def validate(header: Header) -> None:
    """FormatError if any field is out of its range (a lying or damaged file)."""
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
    try:
        check_layout(header.layout, header.channels)
    except InputError as exc:
        raise FormatError(f"spectrocodec metadata: {exc}; the file is damaged") from None
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
            raise _truncated()
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos
