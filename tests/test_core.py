"""Core: file-format payload, feature↔pixel mapping, registry and Pipeline composition."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest

import spectrocodec
from spectrocodec.core import fileformat, mapping
from spectrocodec.errors import FormatError, PluginError
from spectrocodec.core.pipeline import Pipeline
from spectrocodec.core.registry import Registry
from spectrocodec_plugins.avif import AvifCodec
from spectrocodec_plugins.speecht5 import SpeechT5Features

from helpers import StubVocoder, tone


# -- file format ------------------------------------------------------------------------------
def test_header_round_trip_is_compact():
    header = fileformat.Header(bits=10, lo=-9.5, hi=1.25, sample_rate=44100, num_samples=661500, channels=2)
    payload = fileformat.pack(header)
    assert len(payload) <= 32
    back = fileformat.unpack(payload)
    assert back == header


def test_header_keeps_extractor_params():
    header = fileformat.Header(bits=8, lo=0, hi=1, feature={"name": "other", "n_mels": 128})
    assert fileformat.unpack(fileformat.pack(header)).feature == {"name": "other", "n_mels": 128}


@pytest.mark.parametrize("change, message", [
    (dict(lo=float("nan")), "range"), (dict(lo=2.0, hi=1.0), "range"), (dict(bits=20), "bit"),
    (dict(num_samples=10**15), "samples"), (dict(sample_rate=0), "sample rate"), (dict(channels=0), "channels"),
])
def test_lying_headers_are_refused(change, message):
    good = fileformat.Header(bits=10, lo=-5, hi=1, num_samples=1000)
    payload = bytearray(fileformat.pack(good))
    bad = fileformat.Header(**{**good.__dict__, **change})
    with pytest.raises(FormatError, match=message):
        fileformat.pack(bad)
    # the same lie written by hand is refused on reading too
    import struct
    if "lo" in change or "hi" in change:
        struct.pack_into("<ee", payload, 3, bad.lo, bad.hi)  # version 2: a float16 range at offset 3
        with pytest.raises(FormatError, match=message):
            fileformat.unpack(bytes(payload))


def test_unknown_version_and_truncation():
    payload = bytearray(fileformat.pack(fileformat.Header(bits=10, lo=-5, hi=1)))
    payload[0] = 9
    with pytest.raises(FormatError, match="version 9"):
        fileformat.unpack(bytes(payload))
    good = fileformat.pack(fileformat.Header(bits=10, lo=-5, hi=1))
    for n in range(len(good)):
        with pytest.raises(FormatError):
            fileformat.unpack(good[:n])


# -- mapping ----------------------------------------------------------------------------------
@pytest.mark.parametrize("bits", [8, 10, 12, 16])
def test_mapping_round_trip_error_is_half_a_step(bits):
    features = np.random.default_rng(bits).uniform(-10, 3, (50, 80)).astype(np.float32)
    lo, hi = mapping.feature_range(features, "adaptive", (-11, 4))
    image = mapping.to_image(features, lo, hi, bits)
    assert image.shape == (80, 50) and image.dtype == (np.uint8 if bits == 8 else np.uint16)
    assert image.max() == 2**bits - 1 and image.min() == 0
    back = mapping.from_image(image, lo, hi, bits)
    assert np.abs(back - features).max() <= (hi - lo) / (2**bits - 1) / 2 + 1e-5


def test_low_frequencies_at_the_bottom():
    features = np.zeros((3, 80), np.float32)
    features[:, 0] = 1.0  # lowest bin loud
    image = mapping.to_image(features, 0.0, 1.0, 8)
    assert (image[-1] == 255).all() and (image[:-1] == 0).all()


def test_constant_input_gets_a_nonzero_range():
    lo, hi = mapping.feature_range(np.full((10, 80), -10, np.float32), "adaptive", (-11, 4))
    assert hi > lo and math.isfinite(hi)


def test_fold_and_unfold():
    image = np.arange(80 * 50, dtype=np.uint16).reshape(80, 50)
    folded = mapping.fold(image, 16)
    assert folded.shape == (320, 16)
    assert np.array_equal(mapping.unfold(folded, 80, 50), image)
    assert mapping.fold(image, 50) is image


# -- registry ---------------------------------------------------------------------------------
def test_registry_lists_builtins_by_kind():
    registry = Registry.default()
    assert "speecht5" in registry.names("feature")
    assert "avif" in registry.names("codec")
    assert registry.plugin_of[registry.get_class("codec", "avif")] == "avif"


def test_unknown_name_lists_available():
    with pytest.raises(PluginError, match=r"no codec named 'nope'.*available: .*avif"):
        Registry.default().create("codec", "nope")


def test_unknown_parameter_is_refused():
    with pytest.raises(PluginError, match="no parameter colour"):
        Registry.default().create("codec", "avif", colour="red")


def test_broken_plugin_does_not_break_the_others():
    class BrokenEntryPoint:
        name, value = "exploding", "exploding_module"

        def load(self):
            raise ImportError("No module named 'exploding_module'")

    registry = Registry()
    registry.register(__import__("spectrocodec_plugins.avif", fromlist=["x"]), "avif")
    import importlib.metadata as md

    original = md.entry_points
    md.entry_points = lambda group: [BrokenEntryPoint()]
    try:
        registry.load_entry_points()
    finally:
        md.entry_points = original
    assert [b.name for b in registry.broken] == ["exploding"]
    assert "No module named" in registry.broken[0].reason
    assert registry.names("codec") == ["avif"]
    with pytest.raises(PluginError, match="broken"):
        registry.create("codec", "exploding")


def test_config_round_trip():
    codec = AvifCodec(quality=42, speed=8)
    config = codec.get_config()
    assert config == {"name": "avif", "quality": 42, "lossless": False, "speed": 8, "threads": 2, "container": "standard", "tile_pixels": 1 << 22}
    assert AvifCodec.from_config(config).get_config() == config
    import json
    assert json.loads(json.dumps(config)) == config


def test_quality_and_bits_are_checked_before_work():
    with pytest.raises(PluginError, match="quality from 0 to 100"):
        AvifCodec(quality=150)
    with pytest.raises(PluginError, match="8, 10, 12-bit"):
        spectrocodec.encode(tone(), sample_rate=16000, bits=9)


# -- pipeline ---------------------------------------------------------------------------------
@pytest.mark.parametrize("bits", [8, 10, 12])
def test_pipeline_with_own_components(bits):
    pipe = Pipeline(extractor=SpeechT5Features(), codec=AvifCodec(quality=70), vocoder=StubVocoder(), bits=bits)
    audio = tone(2.0, 22050)
    data = pipe.encode(audio, 22050)
    decoded = pipe.read(data)
    assert decoded.header.sample_rate == 22050 and decoded.header.num_samples == len(audio)
    assert decoded.header.bits == bits and not decoded.legacy
    waveform, rate = pipe.decode(data)
    assert rate == 16000 and len(waveform) == 32000


def test_lossless_round_trip_is_exact_at_the_pixel_level():
    extractor = SpeechT5Features()
    audio = tone(1.0)
    for bits in (8, 10, 12):
        pipe = Pipeline(extractor=extractor, codec=AvifCodec(lossless=True), bits=bits)
        data = pipe.encode(audio, 16000)
        features = extractor.extract(audio, 16000)
        header = pipe.read(data).header
        expected = mapping.from_image(mapping.to_image(features, header.lo, header.hi, bits), header.lo, header.hi, bits)
        assert np.array_equal(pipe.read(data).features, expected)


def test_long_spectrogram_is_folded_and_unfolded():
    class NarrowAvif(AvifCodec):
        max_width = 100

    extractor = SpeechT5Features()
    audio = np.random.default_rng(0).normal(0, 0.1, 16000 * 4).astype(np.float32)  # 251 frames
    pipe = Pipeline(extractor=extractor, codec=NarrowAvif(lossless=True), bits=10)
    data = pipe.encode(audio, 16000)
    decoded = pipe.read(data)
    assert (decoded.height, decoded.width) == (240, 100)
    assert decoded.features.shape == (251, 80)
    features = extractor.extract(audio, 16000)
    assert np.abs(decoded.features - features).max() < (decoded.header.hi - decoded.header.lo) / 1023


def test_legacy_audio_avif_file_decodes_with_fixed_range():
    from PIL import Image

    extractor = SpeechT5Features()
    features = extractor.extract(tone(1.0), 16000)
    # what audio-avif wrote: 8-bit grayscale, fixed [-11, 4], low frequencies at the bottom, no metadata
    pixels = mapping.to_image(features, -11.0, 4.0, 8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, "L").save(buffer, "AVIF", quality=95)
    decoded = Pipeline().read(buffer.getvalue())
    assert decoded.legacy and decoded.header.range_mode == "fixed" and decoded.header.bits == 8
    assert decoded.features.shape == features.shape
    assert np.abs(np.clip(decoded.features, -11, 4) - np.clip(features, -11, 4)).mean() < 0.3
    assert spectrocodec.info(buffer.getvalue())["legacy"] is True


def test_decoding_needs_nothing_but_the_bytes():
    data = spectrocodec.encode(tone(1.0, 48000), sample_rate=48000, quality=50, bits=12)
    info = spectrocodec.info(data)
    assert info["codec"] == "avif" and info["bits"] == 12 and info["sample_rate"] == 48000
    assert info["duration_s"] == pytest.approx(1.0)
    assert info["kbps"] == pytest.approx(len(data) * 8 / 1000)
