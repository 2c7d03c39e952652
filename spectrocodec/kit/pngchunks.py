"""PNG chunk structure (ISO/IEC 15948): reading chunks, writing one, inserting chunks after IHDR.

A chunk is ``length:u32be type:4cc body crc:u32be`` (CRC-32 of type + body); a file is the 8-byte
signature, IHDR first, then chunks up to IEND.
"""

from __future__ import annotations

import struct
import zlib

from ..core.errors import FormatError

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def chunk(kind: bytes, body: bytes) -> bytes:
    """A PNG chunk: length, type, body, CRC-32 of type + body."""
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def chunks(data: bytes) -> list[tuple[bytes, int, int, int]]:
    """[(type, body_start, body_end, crc)] up to and including IEND; FormatError if malformed."""
    if data[:8] != SIGNATURE:
        raise FormatError("not a PNG file (no PNG signature)")
    out, pos = [], 8
    while True:
        if pos + 12 > len(data):
            raise FormatError("the PNG file is truncated (no IEND chunk)")
        length, kind = struct.unpack_from(">I4s", data, pos)
        start, stop = pos + 8, pos + 8 + length
        if length > 0x7FFFFFFF or stop + 4 > len(data):
            raise FormatError(f"the PNG file is truncated or damaged (chunk {kind!r} runs past the end)")
        out.append((kind, start, stop, struct.unpack_from(">I", data, stop)[0]))
        if kind == b"IEND":
            return out
        pos = stop + 4


def header(data: bytes, found: list[tuple[bytes, int, int, int]]) -> tuple[int, int]:
    """(width, height) from the IHDR chunk, which must come first."""
    kind, start, stop, _ = found[0]
    if kind != b"IHDR" or stop - start != 13:
        raise FormatError("the PNG file does not start with an IHDR chunk; it is damaged")
    width, height = struct.unpack_from(">II", data, start)
    return width, height


def body(data: bytes, found: list[tuple[bytes, int, int, int]], kind: bytes, check: bool = True) -> bytes | None:
    """The body of the first chunk ``kind``, or None; ``check``: FormatError if its CRC is wrong."""
    for name, start, stop, crc in found:
        if name == kind:
            if check and zlib.crc32(data[start - 4 : stop]) != crc:
                raise FormatError(f"the PNG's {kind.decode('latin-1')} chunk fails its CRC check; the file is damaged")
            return data[start:stop]
    return None


def insert_after_header(data: bytes, extra: bytes) -> bytes:
    """``data`` with ``extra`` (whole chunks) inserted right after the IHDR chunk."""
    ihdr_end = 8 + 8 + 13 + 4
    if data[12:16] != b"IHDR":
        raise FormatError("libpng wrote a PNG without IHDR first")
    return data[:ihdr_end] + extra + data[ihdr_end:]


def probe(data: bytes, kind: bytes, max_pixels: int):
    """A PNG's size, bit depth (IHDR depth; sBIT for 9-15 significant bits) and the body of chunk
    ``kind``, without decoding a pixel: ``DecodedImage.header_only`` (ImageCodec.probe)."""
    from ..core.interfaces import DecodedImage
    from .image import check_size

    found = chunks(data)
    width, height = header(data, found)
    check_size("PNG", width, height, max_pixels)
    metadata = body(data, found, kind)
    significant = (body(data, found, b"sBIT", check=False) or b"\0")[0]
    depth = data[found[0][1] + 8]  # IHDR: width, height, bit depth
    bits = 8 if depth <= 8 else significant if 8 < significant < 16 else 16
    return DecodedImage.header_only(width, height, bits, None if metadata is None else bytes(metadata))
