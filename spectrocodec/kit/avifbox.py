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

``standard`` with a grid (:func:`standard_grid`; pictures above the codec's ``tile_pixels``): the
primary item 1 is a HEIF ``grid`` (ISO/IEC 23008-12 6.6.2.3) of one column of T bands, items 2..T+1
are the bands (``av01``, hidden), ``iref``/``dimg`` lists them top to bottom, ``ipco`` holds the
whole picture's ``ispe`` first, and ``idat`` holds the 8-byte grid payload, the bands' AV1 data
and then the spectrocodec payload (docs/file-format.md has the boxes). :func:`band_rows` chooses
the band height (whole strips), :func:`parse_grid` / :func:`grid_of` read it back.

``compact`` (AVIF 1.2 / HEIF 4th edition reduced header; 37 bytes of boxes for our images; one
image only, never a grid)::

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
    check_sizes(data, fmt, max_pixels)
    if metadata is None:
        metadata = _idat_tail(data)
    return data, metadata


def check_sizes(data: bytes, fmt: str, max_pixels: int) -> None:
    """FormatError if any ``ispe`` of a standard AVIF, or its grid's output size, claims more
    than ``max_pixels`` (the first ispe alone need not be the primary image's)."""
    for width, height in isobmff.image_sizes(data):
        check_size(fmt, width, height, max_pixels)
    try:
        grid = grid_of(data)
    except FormatError:
        return  # not ours to judge here: the decoder reports the damage
    if grid is not None:
        check_size(fmt, grid.width, grid.height, max_pixels)


def split(data: bytes) -> tuple[int, int, int]:
    """Where an AVIF file's bytes go, in any layout: (payload, metadata, container) byte counts:
    the AV1 data, the spectrocodec payload (with its box header where it has one), the rest
    (ImageCodec.split_container, for ``spectrocodec bench``)."""
    if is_compact(data):
        image, metadata = read_compact(data)
        meta = len(metadata) + 8 if metadata is not None else 0
    else:
        grid = grid_of(data)
        image = parse(data) if grid is None else None
        box = isobmff.find_box(data, BOX_TYPE)
        meta = len(box) + 8 if box is not None else len(_idat_tail(data) or b"")
    coded = len(image.payload) if image is not None else sum(len(tile.payload) for tile in parse_grid(data)[1])
    return coded, meta, len(data) - coded - meta


def parse(data: bytes) -> Image:
    """A standard (ISOBMFF ``meta``) AVIF → its primary image: size, av1C, AV1 data, colour.
    FormatError for a grid (see :func:`parse_grid`)."""
    meta = _meta(data)
    primary = _primary(data, meta)
    if _item_types(data, meta).get(primary) == b"grid":
        raise FormatError("the AVIF primary item is a grid; read it with parse_grid")
    return _item_image(data, meta, primary)


@dataclass
class Grid:
    """An AVIF image grid (ISO/IEC 23008-12 6.6.2.3): ``rows`` x ``columns`` tiles of the same
    size, left to right then top to bottom, cropped to ``width`` x ``height``."""

    rows: int
    columns: int
    width: int
    height: int
    tiles: list[int]  # item ids, in dimg reference order


def grid_of(data: bytes) -> Grid | None:
    """The grid of a standard AVIF whose primary item is a 'grid' (its payload and 'dimg'
    references), or None for a file whose primary item is one image. FormatError if damaged."""
    meta = _meta(data)
    primary = _primary(data, meta)
    if _item_types(data, meta).get(primary) != b"grid":
        return None
    body = _item_data(data, meta, primary)
    if len(body) < 8 or body[0] != 0:
        raise FormatError("the AVIF grid item is damaged")
    wide = body[1] & 1
    if len(body) < (12 if wide else 8):
        raise FormatError("the AVIF grid item is truncated; the file is damaged")
    width, height = struct.unpack_from(">II" if wide else ">HH", body, 4)
    rows, columns = body[2] + 1, body[3] + 1
    tiles = _references(data, meta, b"dimg").get(primary, [])
    if len(tiles) != rows * columns:
        raise FormatError(f"the AVIF grid has {rows} x {columns} cells but {len(tiles)} tiles; the file is damaged")
    return Grid(rows, columns, width, height, tiles)


def parse_grid(data: bytes) -> tuple[Grid, list[Image]]:
    """A grid AVIF → (its grid, the tile images in reference order)."""
    grid = grid_of(data)
    if grid is None:
        raise FormatError("the AVIF primary item is not a grid")
    meta = _meta(data)
    return grid, [_item_image(data, meta, tile) for tile in grid.tiles]


def _meta(data: bytes) -> dict[bytes, tuple[int, int]]:
    """The children of the top-level meta box (see _children); FormatError without meta, pitm,
    iloc or iprp."""
    top = {kind: (start, end) for kind, start, end in reversed(list(isobmff.boxes(data)))}
    if b"meta" not in top:
        raise FormatError("the AVIF file has no meta box; it is damaged")
    meta = _children(data, top[b"meta"][0] + 4, top[b"meta"][1])
    for kind in (b"pitm", b"iloc", b"iprp"):
        if kind not in meta:
            raise FormatError(f"the AVIF file has no {kind.decode()} box; it is damaged")
    return meta


def _primary(data: bytes, meta: dict[bytes, tuple[int, int]]) -> int:
    pitm = data[slice(*meta[b"pitm"])]
    return _u(pitm, 4, 2 if pitm[:1] == b"\0" else 4)


def _item_data(data: bytes, meta: dict[bytes, tuple[int, int]], item: int) -> bytes:
    """The bytes of ``item`` (its extents joined), from the file (method 0) or idat (method 1)."""
    method, extents = _locate(data[slice(*meta[b"iloc"])], item)
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
    return b"".join(chunks)


def _item_image(data: bytes, meta: dict[bytes, tuple[int, int]], item: int) -> Image:
    """One av01 item → Image (size, av1C, AV1 data, colour)."""
    payload = _item_data(data, meta, item)
    props = _properties(data, *meta[b"iprp"], item)
    if b"av1C" not in props or len(props[b"av1C"]) < 4 or b"ispe" not in props or len(props[b"ispe"]) < 12:
        raise FormatError("the AVIF image has no av1C or ispe property; the file is damaged")
    width, height = struct.unpack_from(">II", props[b"ispe"], 4)
    image = Image(width, height, bytes(props[b"av1C"]), payload)
    colr = props.get(b"colr", b"")
    if len(colr) >= 11 and colr[:4] == b"nclx":
        image.nclx = struct.unpack_from(">HHH", colr, 4)  # type: ignore[assignment]
        image.full_range = bool(colr[10] & 0x80)
    return image


def _item_types(data: bytes, meta: dict[bytes, tuple[int, int]]) -> dict[int, bytes]:
    """{item id: item type} from iinf's infe boxes (versions 2 and 3)."""
    if b"iinf" not in meta:
        return {}
    start, end = meta[b"iinf"]
    header = 6 if data[start] == 0 else 8  # full box, then a 16- or 32-bit entry count
    types: dict[int, bytes] = {}
    for kind, body_start, body_end in isobmff.boxes(data, start + header, end):
        infe = data[body_start:body_end]
        if kind != b"infe" or len(infe) < 4 or infe[0] not in (2, 3):
            continue
        id_size = 2 if infe[0] == 2 else 4
        if len(infe) >= 4 + id_size + 2 + 4:
            types.setdefault(_u(infe, 4, id_size), bytes(infe[4 + id_size + 2 : 4 + id_size + 6]))
    return types


def _references(data: bytes, meta: dict[bytes, tuple[int, int]], kind: bytes) -> dict[int, list[int]]:
    """{from item id: [to item ids]} of the ``kind`` references (e.g. b"dimg") in iref."""
    if b"iref" not in meta:
        return {}
    start, end = meta[b"iref"]
    id_size = 2 if data[start] == 0 else 4
    refs: dict[int, list[int]] = {}
    for ref_kind, body_start, body_end in isobmff.boxes(data, start + 4, end):
        if ref_kind != kind:
            continue
        body = data[body_start:body_end]
        source, count = _u(body, 0, id_size), _u(body, id_size, 2)
        refs.setdefault(source, [_u(body, id_size + 2 + i * id_size, id_size) for i in range(count)])
    return refs


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
    found = _iloc_items(iloc)
    if item not in found:
        raise FormatError("the AVIF file does not locate its primary item; it is damaged")
    if not found[item][1]:
        raise FormatError("the AVIF primary item has no data; the file is damaged")
    return found[item]


def _iloc_items(iloc: bytes) -> dict[int, tuple[int, list[tuple[int, int]]]]:
    """{item id: (construction method, [(offset, length), ...])} of every item in an iloc box body
    (the first entry of an id that appears twice)."""
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
    found: dict[int, tuple[int, list[tuple[int, int]]]] = {}
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
        found.setdefault(item_id, (method, extents))
    return found


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
    """The bytes of ``idat`` after the extents iloc points at (the standard layout's payload: after
    the one image, or after a grid's payload and tiles), or None."""
    top = {kind: (start, end) for kind, start, end in reversed(list(isobmff.boxes(data)))}
    if b"meta" not in top:
        return None
    meta = _children(data, top[b"meta"][0] + 4, top[b"meta"][1])
    if b"idat" not in meta or b"iloc" not in meta or b"pitm" not in meta:
        return None
    iloc = data[slice(*meta[b"iloc"])]
    method, _ = _locate(iloc, _primary(data, meta))
    start, end = meta[b"idat"]
    used = max((offset + length for m, extents in _iloc_items(iloc).values() if m == 1 for offset, length in extents), default=0)
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


MIN_TILE = 64  # MIAF: grid tiles at least 64 x 64 (libavif refuses smaller ones)


def band_rows(shape: tuple[int, int], strip_height: int | None, tile_pixels: int) -> int:
    """Rows per grid tile for a (height, width) picture: the most whole strips of ``strip_height``
    rows (1 if unknown) whose band holds at most ``tile_pixels`` pixels (at least one strip, at
    least MIN_TILE rows); the picture's height when it fits one image (no grid)."""
    height, width = shape
    step = max(1, strip_height or 1)
    rows = max(1, tile_pixels // max(1, width * step)) * step
    rows = max(rows, -(-MIN_TILE // step) * step)
    if height * width <= tile_pixels or rows >= height or width < MIN_TILE or -(-height // rows) > 256:
        return height
    return rows


def standard_grid(tiles: list[Image], width: int, height: int, metadata: bytes = b"") -> bytes:
    """A standard AVIF whose primary item is a grid of ``tiles`` (one column, top to bottom, all
    the same size and coding) cropped to ``width`` x ``height``, with ``metadata`` as the idat tail
    (layout in the module docstring)."""
    first = tiles[0]
    if not 2 <= len(tiles) <= 256 or any((t.width, t.height, t.av1c[2]) != (first.width, first.height, first.av1c[2]) for t in tiles):
        raise ValueError("a grid takes 2 to 256 tiles of one size and coding")
    if not (len(tiles) - 1) * first.height < height <= len(tiles) * first.height or width != first.width:
        raise ValueError("the grid's output size must crop only the last tile")
    wide = max(width, height) > 0xFFFF
    grid = struct.pack(">BBBB" + ("II" if wide else "HH"), 0, int(wide), len(tiles) - 1, 0, width, height)
    channels = 1 if first.monochrome else 3
    configs = list(dict.fromkeys(t.av1c for t in tiles))  # one av1C property per distinct body
    props = [_full_box(b"ispe", 0, struct.pack(">II", width, height)),  # first: the whole picture's size
             _full_box(b"pixi", 0, bytes([channels] + [first.bits] * channels)),
             _full_box(b"ispe", 0, struct.pack(">II", first.width, first.height))] + [_box(b"av1C", c) for c in configs]
    large = len(props) > 127
    index = (lambda i, essential=False: struct.pack(">H", i | essential << 15)) if large else (lambda i, essential=False: bytes([i | essential << 7]))
    entries = [struct.pack(">HB", 1, 2) + index(1) + index(2)]
    entries += [struct.pack(">HB", i, 3) + index(3) + index(2) + index(4 + configs.index(t.av1c), True) for i, t in enumerate(tiles, 2)]
    ipma = _box(b"ipma", bytes([0, 0, 0, int(large)]), struct.pack(">I", len(entries)), *entries)
    extents, offset = [], 0
    for item, length in enumerate([len(grid)] + [len(t.payload) for t in tiles], 1):
        extents.append(struct.pack(">HHHHII", item, 1, 0, 1, offset, length))  # idat, one extent
        offset += length
    infe = [_full_box(b"infe", 2, struct.pack(">HH4s", 1, 0, b"grid"), b"\0")]
    infe += [_box(b"infe", bytes([2, 0, 0, 1]), struct.pack(">HH4s", i, 0, b"av01"), b"\0") for i in range(2, len(tiles) + 2)]  # flags 1: hidden
    dimg = _box(b"dimg", struct.pack(">HH", 1, len(tiles)), *(struct.pack(">H", i) for i in range(2, len(tiles) + 2)))
    meta = _full_box(
        b"meta", 0,
        _full_box(b"hdlr", 0, bytes(4), b"pict", bytes(12), b"\0"),
        _full_box(b"pitm", 0, struct.pack(">H", 1)),
        _full_box(b"iloc", 1, struct.pack(">BBH", 0x44, 0x00, len(extents)), *extents),
        _full_box(b"iinf", 0, struct.pack(">H", len(infe)), *infe),
        _full_box(b"iref", 0, dimg),
        _box(b"iprp", _box(b"ipco", *props), ipma),
        _box(b"idat", grid, *(t.payload for t in tiles), metadata),
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
