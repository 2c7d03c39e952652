"""AVIF grids (issue 15): pictures above the codec's tile budget are written as a HEIF 'grid'
item of bands of whole strips, each band encoded alone (libaom holds one band at a time).

Small pictures stay one image, byte for byte; a grid decodes to the same pixels in imagecodecs
and Pillow as its tiles decoded one by one; our own reader (probe, info, split, layout) reads it;
hostile grids are refused before decoding; the compact container refuses a grid."""

from __future__ import annotations

import io
import shutil
import struct
import subprocess

import imagecodecs
import numpy as np
import pytest
from PIL import Image

from spectrocodec.core import api
from spectrocodec.core.pipeline import Pipeline
from spectrocodec.errors import FormatError, InputError
from spectrocodec.kit import avifbox
from spectrocodec_plugins.avif import AvifCodec

from helpers import StubVocoder, run_cli, tone


class NarrowAvif(AvifCodec):
    """AVIF folding at 64 frames: a few seconds of audio make several strips."""

    max_width = 64


def _grid_file(seconds: float = 3.0, tile_pixels: int = 80 * 64 * 2, **params) -> bytes:
    pipe = Pipeline(codec=NarrowAvif(tile_pixels=tile_pixels, **params), vocoder=StubVocoder())
    return pipe.encode(tone(seconds), 16000)


def test_a_long_picture_is_a_grid_of_whole_strips():
    data = _grid_file(3.0)  # 188 frames: 3 strips of 80 x 64, bands of 2 strips → 2 tiles, the last padded
    grid, tiles = avifbox.parse_grid(data)
    assert (grid.rows, grid.columns, grid.width, grid.height) == (2, 1, 64, 240)
    assert [(t.width, t.height) for t in tiles] == [(64, 160), (64, 160)]
    assert avifbox.layout(data) == "standard" and AvifCodec.container_of(data) == "standard"
    payload, metadata, container = AvifCodec.split_container(data)
    assert payload == sum(len(t.payload) for t in tiles) and metadata == len(avifbox.unwrap(data, 'AVIF', 1 << 28)[1]) and payload + metadata + container == len(data)


def test_grid_pixels_equal_the_tiles_decoded_alone_in_imagecodecs_and_pillow():
    data = _grid_file(3.0)
    grid, tiles = avifbox.parse_grid(data)
    whole = imagecodecs.avif_decode(data)
    alone = np.concatenate([imagecodecs.avif_decode(avifbox.standard(t)) for t in tiles])[: grid.height]
    assert whole.shape[:2] == (240, 64) and np.array_equal(whole, alone)
    pillow = np.asarray(Image.open(io.BytesIO(data)).convert("L"))
    pillow_alone = np.concatenate([np.asarray(Image.open(io.BytesIO(avifbox.standard(t))).convert("L")) for t in tiles])
    assert pillow.shape == (240, 64) and np.array_equal(pillow, pillow_alone[: grid.height])


def test_grid_round_trip_through_the_pipeline_and_info(tmp_path):
    data = _grid_file(3.0, quality=100)  # lossless: the features come back exactly
    codec = NarrowAvif()
    pipe = Pipeline(codec=codec, vocoder=StubVocoder())
    decoded = pipe.read(data)
    reference = Pipeline(codec=NarrowAvif(quality=100), vocoder=StubVocoder()).read(
        Pipeline(codec=NarrowAvif(quality=100, tile_pixels=1 << 20), vocoder=StubVocoder()).encode(tone(3.0), 16000))
    assert avifbox.grid_of(Pipeline(codec=NarrowAvif(quality=100, tile_pixels=1 << 20)).encode(tone(3.0), 16000)) is None
    assert np.array_equal(decoded.features, reference.features)
    probed = pipe.read(data, features=False)
    assert (probed.width, probed.height, probed.header.bits) == (64, 240, 10)
    waveform, rate = pipe.decode(data)
    assert rate == 16000 and len(waveform) == 48000
    path = tmp_path / "grid.avif"
    path.write_bytes(data)
    assert api.info(path)["width"] == 64


def test_a_small_picture_stays_one_image_byte_for_byte():
    audio = tone(1.0)
    default = Pipeline(codec=AvifCodec()).encode(audio, 16000)
    huge_budget = Pipeline(codec=AvifCodec(tile_pixels=1 << 28)).encode(audio, 16000)
    assert default == huge_budget and avifbox.grid_of(default) is None


def test_band_rows_cut_between_strips_and_respect_the_tile_minimum():
    assert avifbox.band_rows((240, 64), 80, 80 * 64 * 2) == 160
    assert avifbox.band_rows((240, 64), 80, 1 << 20) == 240  # fits: one image
    assert avifbox.band_rows((240, 64), 80, 100) == 80  # at least one strip
    assert avifbox.band_rows((240, 64), None, 64 * 50) == 64  # strips unknown: at least 64 rows
    assert avifbox.band_rows((240, 64), None, 64 * 70) == 70
    assert avifbox.band_rows((80 * 300, 64), 80, 80 * 64) == 80 * 300  # more than 256 bands: one image


def test_compact_container_refuses_a_grid_in_one_line():
    with pytest.raises(InputError, match="compact container cannot hold"):
        _grid_file(3.0, container="compact")


def test_a_grid_claiming_a_huge_output_is_refused_before_decoding():
    data = bytearray(_grid_file(3.0))
    grid_at = data.index(b"idat") + 4  # the grid payload opens idat: version, flags, rows-1, columns-1, w, h
    assert data[grid_at : grid_at + 4] == bytes([0, 0, 1, 0])
    data[grid_at + 1] = 1  # 32-bit sizes: the tiles' bytes now read as a gigantic output
    with pytest.raises(FormatError, match="more than spectrocodec decodes|damaged"):
        AvifCodec().decode(bytes(data))
    big = bytearray(_grid_file(3.0))
    struct.pack_into(">HH", big, grid_at + 4, 65535, 65535)  # 4.3 G pixels, inside the 16-bit fields
    with pytest.raises(FormatError, match="more than spectrocodec decodes"):
        AvifCodec().decode(bytes(big))
    with pytest.raises(FormatError, match="more than spectrocodec decodes"):
        AvifCodec().probe(bytes(big))


def test_cli_info_on_a_grid(tmp_path):
    path = tmp_path / "g.avif"
    path.write_bytes(_grid_file(3.0))
    result = run_cli("info", path)
    assert result.returncode == 0, result.stderr
    assert "240" in result.stdout and "64" in result.stdout


@pytest.mark.skipif(shutil.which("avifdec") is None, reason="avifdec is not installed (apt-get install libavif-bin)")
def test_strict_avifdec_reads_a_grid_to_the_same_pixels(tmp_path):
    data = _grid_file(3.0)
    (tmp_path / "g.avif").write_bytes(data)
    result = subprocess.run(["avifdec", "--depth", "16", tmp_path / "g.avif", tmp_path / "g.png"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr  # strict by default
    png = imagecodecs.png_decode((tmp_path / "g.png").read_bytes())
    png = png[:, :, 0] if png.ndim == 3 else png
    ours = imagecodecs.avif_decode(data)
    assert png.shape[:2] == (240, 64)
    assert np.abs(png.astype(np.int64) / 65535 - ours / 1023).max() < 1e-3  # the same 10-bit values, rescaled to 16 bits


def test_the_pillow_backend_writes_grids_too():
    from spectrocodec_plugins.avif_pillow import PillowAvifCodec

    if PillowAvifCodec.unavailable():
        pytest.skip(PillowAvifCodec.unavailable())

    class NarrowPillow(PillowAvifCodec):
        max_width = 64

    pipe = Pipeline(codec=NarrowPillow(tile_pixels=80 * 64 * 2), bits=8, vocoder=StubVocoder())
    data = pipe.encode(tone(3.0), 16000)
    assert avifbox.grid_of(data).rows == 2
    assert pipe.read(data).features.shape == (188, 80)
