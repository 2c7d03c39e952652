"""AVIF containers: libavif's file rewritten to the smallest standard form, or to the AVIF 1.2
``mini`` form, each carrying the spectrocodec metadata payload; and read back.

libavif writes ~270 bytes of boxes around the AV1 data of one small grayscale image. The codecs
hand its file to :func:`wrap`, which parses it (:func:`parse`) and re-emits one of:

``standard`` (the default; 230 bytes of boxes + the payload with no framing at all)::

    ftyp  major brand 'avif', minor version 0, no compatible brands              16
    meta  (full box)                                                               12
      hdlr  'pict', empty name                                                    33
      pitm  primary item 1                                                        14
      iloc  v1, offset_size 0, length_size 4: item 1 = idat[0 : n]                28
      iinf  one infe v2: item 1, type 'av01', empty name                          35
      iprp  ipco {ispe, pixi, av1C}, ipma: item 1 -> ispe, pixi, av1C (essential)  84
      idat  the n bytes of AV1 OBUs, then the spectrocodec payload               8 + n + payload

  The payload is the unreferenced tail of ``idat``: readers read only the extent ``iloc`` gives.
  No ``colr`` (the AV1 sequence header carries the range; 4:0:0 needs no matrix). Dropping
  ``pixi`` too would save 14 bytes but strict libavif refuses such a file.

``compact`` (AVIF 1.2 / HEIF 4th edition reduced header; 37 bytes of boxes for our images)::

    ftyp  major brand 'mif3', minor version 'avif', no compatible brands          16
    mini  bit-packed header (~9 bytes), av1C (4 bytes), the AV1 OBUs             8 + 13 + n
    scdc  the spectrocodec payload                                               8 + payload

  Few readers know ``mini`` yet (Chromium does; libavif only when built with
  AVIF_ENABLE_EXPERIMENTAL_MINI, which imagecodecs' and Pillow's are not), so :func:`unwrap`
  synthesises the standard form around the AV1 data for the decoder.

``libavif`` (read only: files of spectrocodec before metadata version 2, and other tools'): libavif's
own layout, the payload in a top-level ``scdc`` box after ``mdat``.

Every parser error is a one-line :class:`FormatError`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..core.errors import FormatError, InputError
from ..core.fileformat import BOX_TYPE
from . import isobmff
from .image import check_size

CONTAINERS = ("standard", "compact")  # the choices offered to users
LAYOUTS = CONTAINERS + ("libavif",)  # what wrap writes ("libavif": the pre-v2 layout, for comparisons)
NCLX_DEFAULT = (1, 13)  # colour primaries, transfer characteristics a mini box implies without explicit CICP
NCLX_UNSPECIFIED = 2
MAX_EXTENTS = 4096  # in one iloc box: libavif's files have one


@dataclass
class Image:
    """One coded AV1 image and what a container must say about it."""

    width: int
    height: int
    av1c: bytes  # av1C property body: 4 bytes, then any configOBUs
    payload: bytes  # the AV1 OBUs of the image item
    full_range: bool = True
    nclx: tuple[int, int, int] | None = None  # colour primaries, transfer, matrix (from colr), if any

    @property
    def bits(self) -> int:
        return 12 if self.av1c[2] & 0x20 else 10 if self.av1c[2] & 0x40 else 8

    @property
    def monochrome(self) -> bool:
        return bool(self.av1c[2] & 0x10)


# -- reading ----------------------------------------------------------------------------------
def is_compact(data: bytes) -> bool:
    """ftyp with major brand 'mif3' and minor version 'avif': a mini-box AVIF."""
    return len(data) >= 16 and data[4:8] == b"ftyp" and data[8:12] == b"mif3" and data[12:16] == b"avif"


def layout(data: bytes) -> str:
    """"compact", "standard" (metadata in idat) or "libavif" (anything else: libavif's layout)."""
    if is_compact(data):
        return "compact"
    try:
        return "libavif" if isobmff.find_box(data, BOX_TYPE) is not None or _idat_tail(data) is None else "standard"
    except FormatError:
        return "libavif"


def unwrap(data: bytes, fmt: str, max_pixels: int) -> tuple[bytes, bytes | None]:
    """An AVIF file of any layout above → (a standard AVIF file for the decoder, the metadata
    payload or None). Refuses (FormatError) a file with no image size or claiming more than
    ``max_pixels`` before anything is decoded."""
    data = bytes(data)
    if is_compact(data):
        image, metadata = read_compact(data)
        check_size(fmt, image.width, image.height, max_pixels)
        return standard(image), metadata
    metadata = isobmff.checked_payload(data, fmt, max_pixels)
    if metadata is None:
        metadata = _idat_tail(data)
    return data, metadata


def split(data: bytes) -> tuple[int, int, int]:
    """Where an AVIF file's bytes go, in any layout: (payload, metadata, container) byte counts:
    the AV1 data, the spectrocodec payload (with its box header where it has one), the rest
    (ImageCodec.split_container, for ``spectrocodec bench``)."""
    if is_compact(data):
        image, metadata = read_compact(data)
        meta = len(metadata) + 8 if metadata is not None else 0
    else:
        image = parse(data)
        box = isobmff.find_box(data, BOX_TYPE)
        meta = len(box) + 8 if box is not None else len(_idat_tail(data) or b"")
    return len(image.payload), meta, len(data) - len(image.payload) - meta


def parse(data: bytes) -> Image:
    """A standard (ISOBMFF ``meta``) AVIF → its primary image: size, av1C, AV1 data, colour."""
    top = {kind: (start, end) for kind, start, end in reversed(list(isobmff.boxes(data)))}
    if b"meta" not in top:
        raise FormatError("the AVIF file has no meta box; it is damaged")
    meta = _children(data, top[b"meta"][0] + 4, top[b"meta"][1])
    for kind in (b"pitm", b"iloc", b"iprp"):
        if kind not in meta:
            raise FormatError(f"the AVIF file has no {kind.decode()} box; it is damaged")
    pitm = data[slice(*meta[b"pitm"])]
    primary = _u(pitm, 4, 2 if pitm[:1] == b"\0" else 4)
    method, extents = _locate(data[slice(*meta[b"iloc"])], primary)
    if method == 0:
        base, end = 0, len(data)
    elif method == 1 and b"idat" in meta:
        base, end = meta[b"idat"]
    else:
        raise FormatError("the AVIF image data is stored in a way spectrocodec does not read; the file is damaged")
    chunks = []
    for offset, length in extents:
        if length == 0 or base + offset + length > end:
            raise FormatError("the AVIF image data runs past the end of the file; it is truncated or damaged")
        chunks.append(bytes(data[base + offset : base + offset + length]))
    payload = b"".join(chunks)
    props = _properties(data, *meta[b"iprp"], primary)
    if b"av1C" not in props or len(props[b"av1C"]) < 4 or b"ispe" not in props or len(props[b"ispe"]) < 12:
        raise FormatError("the AVIF image has no av1C or ispe property; the file is damaged")
    width, height = struct.unpack_from(">II", props[b"ispe"], 4)
    image = Image(width, height, bytes(props[b"av1C"]), payload)
    colr = props.get(b"colr", b"")
    if len(colr) >= 11 and colr[:4] == b"nclx":
        image.nclx = struct.unpack_from(">HHH", colr, 4)  # type: ignore[assignment]
        image.full_range = bool(colr[10] & 0x80)
    return image


def _children(data: bytes, start: int, end: int) -> dict[bytes, tuple[int, int]]:
    """{type: (body start, body end)} of the boxes in data[start:end], the first of each type."""
    found: dict[bytes, tuple[int, int]] = {}
    for kind, body_start, body_end in isobmff.boxes(data, start, end):
        found.setdefault(kind, (body_start, body_end))
    return found


def _u(data: bytes, pos: int, size: int) -> int:
    """Big-endian unsigned int of ``size`` bytes (0, 2, 4 or 8) at data[pos]; FormatError past the end."""
    if pos + size > len(data):
        raise FormatError("an AVIF box is truncated; the file is damaged")
    return int.from_bytes(data[pos : pos + size], "big")


def _locate(iloc: bytes, item: int) -> tuple[int, list[tuple[int, int]]]:
    """(construction method, [(offset, length), ...]) of ``item`` in an iloc box body."""
    version = _u(iloc, 0, 1)
    if version > 2:
        raise FormatError(f"the AVIF iloc box has version {version}; the file is damaged")
    sizes = _u(iloc, 4, 2)
    offset_size, length_size, base_size = sizes >> 12, (sizes >> 8) & 15, (sizes >> 4) & 15
    index_size = sizes & 15 if version else 0
    if any(size not in (0, 4, 8) for size in (offset_size, length_size, base_size, index_size)):
        raise FormatError("the AVIF iloc box has invalid field sizes; the file is damaged")
    id_size = 4 if version == 2 else 2
    count, pos = _u(iloc, 6, id_size), 6 + id_size
    budget = MAX_EXTENTS  # extents of 0-byte fields take no room: bound the work, not just the bytes
    for _ in range(count):
        item_id, pos = _u(iloc, pos, id_size), pos + id_size
        method = 0
        if version:
            method, pos = _u(iloc, pos, 2) & 15, pos + 2
        pos += 2  # data_reference_index
        base, pos = _u(iloc, pos, base_size), pos + base_size
        extent_count, pos = _u(iloc, pos, 2), pos + 2
        budget -= extent_count
        if budget < 0:
            raise FormatError(f"the AVIF iloc box lists more than {MAX_EXTENTS} extents; the file is damaged")
        extents = []
        for _ in range(extent_count):
            pos += index_size
            offset, pos = _u(iloc, pos, offset_size), pos + offset_size
            length, pos = _u(iloc, pos, length_size), pos + length_size
            extents.append((base + offset, length))
        if item_id == item:
            if not extents:
                raise FormatError("the AVIF primary item has no data; the file is damaged")
            return method, extents
    raise FormatError("the AVIF file does not locate its primary item; it is damaged")


def _properties(data: bytes, start: int, end: int, item: int) -> dict[bytes, bytes]:
    """{type: body} of the properties ipma associates with ``item`` (the first of each type)."""
    iprp = _children(data, start, end)
    if b"ipco" not in iprp or b"ipma" not in iprp:
        raise FormatError("the AVIF file has no ipco/ipma box; it is damaged")
    ipco = [(kind, bytes(data[s:e])) for kind, s, e in isobmff.boxes(data, *iprp[b"ipco"])]
    ipma = data[slice(*iprp[b"ipma"])]
    version, flags = _u(ipma, 0, 1), _u(ipma, 1, 3)
    id_size, index_size = (4 if version else 2), (2 if flags & 1 else 1)
    count, pos = _u(ipma, 4, 4), 8
    props: dict[bytes, bytes] = {}
    for _ in range(min(count, len(ipma))):
        item_id, pos = _u(ipma, pos, id_size), pos + id_size
        n, pos = _u(ipma, pos, 1), pos + 1
        for _ in range(n):
            index = _u(ipma, pos, index_size) & (0x7FFF if index_size == 2 else 0x7F)
            pos += index_size
            if item_id == item and 1 <= index <= len(ipco):
                props.setdefault(*ipco[index - 1])
    return props


def _idat_tail(data: bytes) -> bytes | None:
    """The bytes of ``idat`` after the extents iloc points at (the standard layout's payload), or None."""
    top = {kind: (start, end) for kind, start, end in reversed(list(isobmff.boxes(data)))}
    if b"meta" not in top:
        return None
    meta = _children(data, top[b"meta"][0] + 4, top[b"meta"][1])
    if b"idat" not in meta or b"iloc" not in meta or b"pitm" not in meta:
        return None
    pitm = data[slice(*meta[b"pitm"])]
    method, extents = _locate(data[slice(*meta[b"iloc"])], _u(pitm, 4, 2 if pitm[:1] == b"\0" else 4))
    start, end = meta[b"idat"]
    used = max(offset + length for offset, length in extents) if method == 1 else 0
    if method != 1 or used >= end - start:
        return None
    return bytes(data[start + used : end])


def read_compact(data: bytes) -> tuple[Image, bytes | None]:
    """A mini-box AVIF → (its image, the payload of its top-level scdc box or None)."""
    top = {kind: (start, end) for kind, start, end in reversed(list(isobmff.boxes(data)))}
    if b"mini" not in top:
        raise FormatError("the compact AVIF file has no mini box; it is damaged")
    start, end = top[b"mini"]
    image = _read_mini(bytes(data[start:end]))
    metadata = bytes(data[slice(*top[BOX_TYPE])]) if BOX_TYPE in top else None
    return image, metadata


class _Bits:
    """MSB-first bit reader over bytes; FormatError past the end."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def read(self, n: int) -> int:
        if self.pos + n > 8 * len(self.data):
            raise FormatError("the AVIF mini box is truncated; the file is damaged")
        value = int.from_bytes(self.data, "big") >> (8 * len(self.data) - self.pos - n) & ((1 << n) - 1)
        self.pos += n
        return value

    def byte_pos(self) -> int:
        return -(-self.pos // 8)


def _read_mini(body: bytes) -> Image:
    """The MinimizedImageBox syntax (ISO/IEC 23008-12 4th edition, as libavif's read.c and
    CrabbyAvif's parser/mini.rs read it), for an opaque image without HDR: other files are refused."""
    bits = _Bits(body[:64])  # the header is at most ~40 bytes without HDR fields
    if bits.read(2) != 0:
        raise FormatError("the AVIF mini box has an unknown version; the file is damaged or needs a newer spectrocodec")
    explicit_types, float_flag, full_range, alpha, explicit_cicp, hdr, icc, exif, xmp = (bits.read(1) for _ in range(9))
    if float_flag or alpha or hdr:
        raise FormatError("this compact AVIF has alpha, HDR or float samples, which spectrocodec does not read")
    chroma = bits.read(2)
    bits.read(3)  # orientation: spectrograms are never rotated
    dim = 15 if bits.read(1) else 7
    width, height = bits.read(dim) + 1, bits.read(dim) + 1
    if chroma in (1, 2):
        bits.read(1)
    if chroma == 1:
        bits.read(1)
    depth = bits.read(3) + 9 if bits.read(1) else 8
    nclx = None
    if explicit_cicp:
        nclx = (bits.read(8), bits.read(8), bits.read(8) if chroma else NCLX_UNSPECIFIED)
    if explicit_types and (bits.read(32), bits.read(32)) != (int.from_bytes(b"av01", "big"), int.from_bytes(b"av1C", "big")):
        raise FormatError("this compact AVIF holds no AV1 image; spectrocodec reads only AV1")
    large_metadata = bits.read(1) if icc or exif or xmp else 0
    large_config, large_data = bits.read(1), bits.read(1)
    icc_size = bits.read(20 if large_metadata else 10) + 1 if icc else 0
    config_size = bits.read(12 if large_config else 3)
    data_size = bits.read(28 if large_data else 15) + 1
    if exif or xmp:
        if bits.read(1):
            raise FormatError("this compact AVIF has compressed Exif/XMP, which spectrocodec does not read")
    exif_size = bits.read(20 if large_metadata else 10) + 1 if exif else 0
    xmp_size = bits.read(20 if large_metadata else 10) + 1 if xmp else 0
    pos = bits.byte_pos()
    if len(body) != pos + config_size + icc_size + data_size + exif_size + xmp_size:
        raise FormatError("the AVIF mini box sizes do not add up; the file is truncated or damaged")
    av1c = body[pos : pos + config_size]
    if len(av1c) < 4 or av1c[0] != 0x81:
        raise FormatError("the compact AVIF has no valid av1C; the file is damaged")
    start = pos + config_size + icc_size
    image = Image(width, height, bytes(av1c), bytes(body[start : start + data_size]), bool(full_range), nclx)
    if image.bits != depth or image.monochrome != (chroma == 0):
        raise FormatError("the AVIF mini box and its av1C disagree on bit depth or chroma; the file is damaged")
    return image


# -- writing ----------------------------------------------------------------------------------
def wrap(encoded: bytes, metadata: bytes, container: str = "standard") -> bytes:
    """libavif's AVIF file → the same image in ``container`` ("standard" or "compact") with
    ``metadata`` inside (layouts above); "libavif" keeps libavif's file and appends an scdc box."""
    check_container(container)
    if container == "libavif":
        return isobmff.append_box(encoded, BOX_TYPE, metadata)
    image = parse(encoded)
    return compact(image, metadata) if container == "compact" else standard(image, metadata)


def check_container(container: str) -> None:
    """InputError unless ``container`` is one wrap writes (call it before encoding)."""
    if container not in LAYOUTS:
        raise InputError(f"unknown AVIF container '{container}'; use {' or '.join(CONTAINERS)}")


def _box(kind: bytes, *parts: bytes) -> bytes:
    body = b"".join(parts)
    return struct.pack(">I4s", 8 + len(body), kind) + body


def _full_box(kind: bytes, version: int, *parts: bytes) -> bytes:
    return _box(kind, bytes([version, 0, 0, 0]), *parts)


def standard(image: Image, metadata: bytes = b"") -> bytes:
    """The smallest standard AVIF holding ``image``, with ``metadata`` as the idat tail."""
    channels = 1 if image.monochrome else 3
    ipco = _box(b"ipco", _full_box(b"ispe", 0, struct.pack(">II", image.width, image.height)),
                _full_box(b"pixi", 0, bytes([channels] + [image.bits] * channels)), _box(b"av1C", image.av1c))
    ipma = _full_box(b"ipma", 0, struct.pack(">IHB3B", 1, 1, 3, 0x01, 0x02, 0x83))
    meta = _full_box(
        b"meta", 0,
        _full_box(b"hdlr", 0, bytes(4), b"pict", bytes(12), b"\0"),
        _full_box(b"pitm", 0, struct.pack(">H", 1)),
        _full_box(b"iloc", 1, struct.pack(">BBHHHHHI", 0x04, 0x00, 1, 1, 1, 0, 1, len(image.payload))),
        _full_box(b"iinf", 0, struct.pack(">H", 1), _full_box(b"infe", 2, struct.pack(">HH4s", 1, 0, b"av01"), b"\0")),
        _box(b"iprp", ipco, ipma),
        _box(b"idat", image.payload, metadata),
    )
    return _box(b"ftyp", b"avif", bytes(4)) + meta


def compact(image: Image, metadata: bytes) -> bytes:
    """A mini-box AVIF holding ``image``, then a top-level scdc box holding ``metadata``."""
    if max(image.width, image.height) > 1 << 15:
        raise InputError(f"a {image.width} x {image.height} image is too large for the compact AVIF container (32768 at most); use the standard one")
    av1c = image.av1c
    subx, suby, position = av1c[2] >> 3 & 1, av1c[2] >> 2 & 1, av1c[2] & 3
    chroma = 0 if image.monochrome else 1 if subx and suby else 2 if subx else 3
    explicit_cicp = image.nclx is not None and not (
        image.nclx[0] in (NCLX_DEFAULT[0], NCLX_UNSPECIFIED) and image.nclx[1] in (NCLX_DEFAULT[1], NCLX_UNSPECIFIED)
        and (chroma == 0 or image.nclx[2] in (NCLX_UNSPECIFIED, 6)))
    large = max(image.width, image.height) > 128
    fields = [(0, 2), (0, 1), (0, 1), (int(image.full_range), 1), (0, 1), (int(explicit_cicp), 1),
              (0, 1), (0, 1), (0, 1), (0, 1), (chroma, 2), (0, 3), (int(large), 1),
              (image.width - 1, 15 if large else 7), (image.height - 1, 15 if large else 7)]
    if chroma in (1, 2):
        fields.append((int(chroma == 1 and position == 0), 1))  # horizontally centred
    if chroma == 1:
        fields.append((int(position == 1), 1))  # vertically centred
    fields += [(1, 1), (image.bits - 9, 3)] if image.bits > 8 else [(0, 1)]
    if explicit_cicp:
        assert image.nclx is not None
        fields += [(image.nclx[0], 8), (image.nclx[1], 8)] + ([(image.nclx[2], 8)] if chroma else [])
    large_config, large_data = len(av1c) > 7, len(image.payload) > 1 << 15
    fields += [(int(large_config), 1), (int(large_data), 1), (len(av1c), 12 if large_config else 3),
               (len(image.payload) - 1, 28 if large_data else 15)]
    value = nbits = 0
    for field, width in fields:
        value, nbits = value << width | field, nbits + width
    pad = -nbits % 8
    header = (value << pad).to_bytes((nbits + pad) // 8, "big")
    return _box(b"ftyp", b"mif3", b"avif") + _box(b"mini", header, av1c, image.payload) + _box(BOX_TYPE, metadata)
