"""Tests of the spectrocodec-tiff plugin: `pytest examples/spectrocodec-tiff` after
`pip install -e examples/spectrocodec-tiff`. They use only spectrocodec's public API."""

from __future__ import annotations

import importlib.metadata
import io
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import spectrocodec
from spectrocodec import FormatError, PluginError
from spectrocodec.core.pipeline import Pipeline
from spectrocodec.core.registry import Registry
from spectrocodec.testing import check_codec

TiffCodec = pytest.importorskip("spectrocodec_tiff", reason="pip install -e examples/spectrocodec-tiff").TiffCodec


def tone(seconds=1.0, rate=16000):
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def test_found_through_the_entry_point():
    """Installed, the plugin is in the default registry: nobody registered it by hand."""
    eps = importlib.metadata.entry_points(group="spectrocodec")
    assert any(ep.name == "tiff" and ep.value == "spectrocodec_tiff" for ep in eps)
    assert Registry.default().get_class("codec", "tiff") is TiffCodec


def test_conforms():
    """spectrocodec's conformance kit: every bit depth and shape, lossless, sniffing, config,
    damaged bytes, decompression bombs."""
    check_codec(TiffCodec)


@pytest.mark.parametrize("bits", TiffCodec.bit_depths)
def test_round_trip_is_lossless(bits):
    rng = np.random.default_rng(bits)
    image = rng.integers(0, 1 << bits, (80, 37)).astype(np.uint8 if bits == 8 else np.uint16)
    data = TiffCodec().encode(image, bits, b"payload")
    decoded = TiffCodec().decode(data)
    assert decoded.bits == bits and decoded.metadata == b"payload"
    assert np.array_equal(decoded.image, image)


def test_through_the_pipeline():
    data = spectrocodec.encode(tone(), sample_rate=16000, codec="tiff", bits=12)
    info = spectrocodec.info(data)
    assert info["codec"] == "tiff" and info["bits"] == 12 and info["num_samples"] == 16000
    assert Pipeline().read(data).features.shape == (63, 80)


def test_other_readers_open_it():
    data = spectrocodec.encode(tone(), sample_rate=16000, codec="tiff", bits=16)
    assert Image.open(io.BytesIO(data)).size == (63, 80)


def test_refusals():
    with pytest.raises(PluginError, match="8, 9, 10"):
        TiffCodec().check_bits(7)
    data = TiffCodec().encode(np.zeros((80, 10), np.uint8), 8, b"x")
    for bad in (data[:20], data[:-1], b"II*\x00" + bytes(60)):
        with pytest.raises(FormatError):
            TiffCodec().decode(bad)
    small = type("Small", (TiffCodec,), {"max_pixels": 799})
    with pytest.raises(FormatError, match="refusing"):
        small().decode(data)


def test_cli_lists_it():
    out = subprocess.run([sys.executable, "-m", "spectrocodec", "plugins"], capture_output=True, text=True)
    assert any(line.split()[:2] == ["tiff", "ok"] for line in out.stdout.splitlines())
