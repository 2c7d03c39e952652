"""spectrocodec.testing: every built-in component passes the conformance kit, and the kit catches
what it should (a codec that lies about being lossless, a greedy sniffer, a crash on damaged bytes)."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from spectrocodec.core.errors import FormatError
from spectrocodec.core.registry import Registry
from spectrocodec.kit import Codec, check_size
from spectrocodec.testing import ConformanceError, check_codec, check_feature_extractor, check_vocoder

REGISTRY = Registry.default()


@pytest.mark.parametrize("cls", REGISTRY.classes("codec"), ids=lambda c: f"{c.name}-{c.backend}")
def test_every_installed_codec_conforms(cls):
    check_codec(cls)


@pytest.mark.parametrize("cls", REGISTRY.classes("feature"), ids=lambda c: c.name)
def test_every_installed_feature_extractor_conforms(cls):
    check_feature_extractor(cls)


def test_griffinlim_conforms():
    check_vocoder(REGISTRY.get_class("vocoder", "griffinlim"), iterations=4)


# -- the kit fails when it should -------------------------------------------------------------------
class RawCodec(Codec):
    """A toy lossless format on the kit: magic, height, width, bits, payload length, payload, pixels."""

    name, extension, mime, fmt = "raw", ".raw", "image/x-raw", "RAW"
    magic = (b"RAWTEST\x00",)
    bit_depths = (8, 12, 16)
    lossy = False
    defaults = {"quality": 100, "lossless": True}

    def write(self, image, bits, metadata):
        head = struct.pack(">8sIIBI", self.magic[0], *image.shape, bits, len(metadata))
        return head + metadata + image.astype(">u2" if bits > 8 else "u1").tobytes()

    def read(self, data):
        _, height, width, bits, size = struct.unpack_from(">8sIIBI", data)
        check_size("RAW", width, height, self.max_pixels)
        metadata, body = data[21 : 21 + size], data[21 + size :]
        dtype = ">u2" if bits > 8 else "u1"
        if len(body) != height * width * np.dtype(dtype).itemsize:
            raise FormatError("the RAW file is truncated")
        return np.frombuffer(body, dtype).reshape(height, width), bits, metadata


def test_a_correct_codec_passes():
    passed = check_codec(RawCodec)
    assert any("round trips" in line for line in passed)


def test_a_lossless_claim_that_is_false_fails():
    class Lossy(RawCodec):
        def write(self, image, bits, metadata):
            return super().write(image & ~np.asarray(1, image.dtype), bits, metadata)  # drops the lowest bit

    with pytest.raises(ConformanceError, match="lossless"):
        check_codec(Lossy)


def test_a_greedy_sniffer_fails():
    class Greedy(RawCodec):
        @classmethod
        def sniff(cls, data):
            return True

    with pytest.raises(ConformanceError, match="sniff"):
        check_codec(Greedy)


def test_a_crash_on_damaged_bytes_fails():
    class Crashing(RawCodec):
        def decode(self, data):  # bypasses the kit's error handling
            if len(data) < 21:
                raise IndexError("tuple index out of range")
            return super().decode(data)

    with pytest.raises(ConformanceError, match="IndexError"):
        check_codec(Crashing)


def test_lost_metadata_fails():
    class Forgetful(RawCodec):
        def read(self, data):
            image, bits, _ = super().read(data)
            return image, bits, None

    with pytest.raises(ConformanceError, match="metadata"):
        check_codec(Forgetful)
