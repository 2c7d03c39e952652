"""Just enough ISOBMFF (the box structure of AVIF and HEIC files) to carry the metadata payload.

A box is ``size:u32be type:4cc body``; size 1 means a u64be size follows the type, size 0 means
"to the end of the file". The payload goes in a top-level box of type ``scdc`` appended after the
image data: readers skip top-level boxes they do not know, and appending changes no offset that
the file's ``iloc`` item locations point at.
"""

from __future__ import annotations

import struct
from typing import Iterator

from ..core.errors import FormatError
from ..core.fileformat import BOX_TYPE

from .image import check_size

BOX = BOX_TYPE  # the top-level box carrying the spectrocodec payload


def boxes(data: bytes, start: int = 0, end: int | None = None) -> Iterator[tuple[bytes, int, int]]:
    """Yield (type, body_start, body_end) of each box in data[start:end]; FormatError if malformed."""
    end = len(data) if end is None else end
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1:
            if pos + 16 > end:
                raise FormatError("the image file is truncated (a box header is cut off)")
            size = struct.unpack_from(">Q", data, pos + 8)[0]
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            raise FormatError("the image file is truncated or damaged (a box runs past the end)")
        yield kind, pos + header, pos + size
        pos += size


def append_box(data: bytes, kind: bytes, body: bytes) -> bytes:
    """``data`` with a top-level box of type ``kind`` holding ``body`` appended."""
    return bytes(data) + struct.pack(">I4s", 8 + len(body), kind) + bytes(body)


def find_box(data: bytes, kind: bytes) -> bytes | None:
    """Body of the first top-level box of type ``kind``, or None."""
    for box_kind, start, stop in boxes(data):
        if box_kind == kind:
            return bytes(data[start:stop])
    return None


def find_property(data: bytes, kind: bytes) -> bytes | None:
    """Body of the first item property ``kind`` (meta/iprp/ipco/kind), e.g. b"ispe", b"av1C"."""
    meta = _child(data, 0, len(data), b"meta")
    if meta is None:
        return None
    # meta is a full box: 4 bytes of version and flags before its children
    iprp = _child(data, meta[0] + 4, meta[1], b"iprp")
    ipco = iprp and _child(data, iprp[0], iprp[1], b"ipco")
    prop = ipco and _child(data, ipco[0], ipco[1], kind)
    return bytes(data[prop[0] : prop[1]]) if prop else None


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the first ``ispe`` property, without decoding; None if absent."""
    ispe = find_property(data, b"ispe")
    if ispe is None or len(ispe) < 12:
        return None
    width, height = struct.unpack_from(">II", ispe, 4)
    return width, height


def image_sizes(data: bytes) -> list[tuple[int, int]]:
    """(width, height) of every ``ispe`` property (meta/iprp/ipco), without decoding."""
    meta = _child(data, 0, len(data), b"meta")
    iprp = meta and _child(data, meta[0] + 4, meta[1], b"iprp")
    ipco = iprp and _child(data, iprp[0], iprp[1], b"ipco")
    if not ipco:
        return []
    return [struct.unpack_from(">II", data, start + 4) for kind, start, end in boxes(data, *ipco)
            if kind == b"ispe" and end - start >= 12]


def checked_payload(data: bytes, fmt: str, max_pixels: int) -> bytes | None:
    """Before any decoding: refuse a file with no ``ispe`` size or claiming more than
    ``max_pixels`` (a decompression bomb); then the body of its ``scdc`` box, or None."""
    size = image_size(data)
    if size is None:
        raise FormatError(f"the {fmt} file has no image size (ispe); it is damaged or truncated")
    check_size(fmt, size[0], size[1], max_pixels)
    return find_box(data, BOX)


def _child(data: bytes, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    for box_kind, body_start, body_end in boxes(data, start, end):
        if box_kind == kind:
            return body_start, body_end
    return None
