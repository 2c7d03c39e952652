"""Rate control (--bitrate), the companding curve and the perceptual floor (issue 12)."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

import spectrocodec
from spectrocodec.core import fileformat, mapping, ratecontrol
from spectrocodec.core.errors import FormatError, InputError
from spectrocodec.core.pipeline import Pipeline

from helpers import SAMPLE, run_cli

LOSSY = [("avif", {}), ("webp", {"bits": 8}), ("jxl", {}), ("heic", {}), ("jpeg2000", {})]


def _kbps(data: bytes) -> float:
    return spectrocodec.info(data)["kbps"]


@pytest.mark.parametrize("kbps", [2.0, 3.0])
def test_bitrate_lands_on_the_target_and_records_the_quality(kbps):
    data = spectrocodec.encode(SAMPLE, bitrate=kbps)
    details = spectrocodec.info(data)
    assert abs(details["kbps"] / kbps - 1) < 0.10, details["kbps"]
    assert details["quality"] is not None and 0 <= details["quality"] <= 100
    assert details["curve"] == 2.5
    assert spectrocodec.encode(SAMPLE, bitrate=kbps) == data  # deterministic


@pytest.mark.parametrize("codec, extra", LOSSY, ids=[c for c, _ in LOSSY])
def test_every_lossy_codec_has_rate_control(codec, extra):
    data = spectrocodec.encode(SAMPLE, codec=codec, bitrate=4.0, **extra)
    assert abs(_kbps(data) / 4.0 - 1) < 0.10


def test_bitrate_refusals():
    with pytest.raises(InputError, match="exclusive"):
        spectrocodec.encode(SAMPLE, bitrate=3, quality=50)
    with pytest.raises(InputError, match="exclusive"):
        spectrocodec.encode(SAMPLE, bitrate=3, lossless=True)
    with pytest.raises(InputError, match="lossless only"):
        spectrocodec.encode(SAMPLE, codec="png", bitrate=3)
    for bad in (0, -1, float("nan"), "3"):
        with pytest.raises(InputError, match="--bitrate takes"):
            spectrocodec.encode(SAMPLE, bitrate=bad)


def test_long_input_uses_drafts_and_still_lands(monkeypatch):
    """A file over DRAFT_PIXELS searches on sampled draft encodes; the result is still on target."""
    monkeypatch.setattr(ratecontrol, "DRAFT_PIXELS", 20_000)
    audio, rate = sf.read(SAMPLE, dtype="float32")
    long = np.tile(audio, 8)  # 36 s
    speeds = []
    from spectrocodec_plugins.avif import AvifCodec

    original = AvifCodec.encode

    def spy(self, image, bits, metadata):
        speeds.append((self.speed(image.size), image.shape[1]))
        return original(self, image, bits, metadata)

    monkeypatch.setattr(AvifCodec, "encode", spy)
    data = spectrocodec.encode(long, sample_rate=rate, bitrate=3.0)
    assert abs(_kbps(data) / 3.0 - 1) < 0.10
    drafts = [width for speed, width in speeds if speed == 10]
    assert drafts and max(drafts) < long.size // 256 // 2  # drafts saw a sample of the columns
    assert 1 <= sum(1 for speed, _ in speeds if speed != 10) <= 2  # one or two real encodes


def test_cli_bitrate(tmp_path):
    out = tmp_path / "x.avif"
    done = run_cli("encode", SAMPLE, "-o", out, "--bitrate", "3")
    assert done.returncode == 0, done.stderr
    assert "quality" in done.stdout
    shown = run_cli("info", out)
    assert "encoded at quality" in shown.stdout
    clash = run_cli("encode", SAMPLE, "-o", tmp_path / "y.avif", "--bitrate", "3", "--quality", "40")
    assert clash.returncode == 2 and clash.stderr.startswith("spectrocodec: error:") and "exclusive" in clash.stderr
    assert not (tmp_path / "y.avif").exists()


def test_folder_encode_with_bitrate(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.flac").write_bytes(SAMPLE.read_bytes())
    done = run_cli("encode", src, "-o", tmp_path / "out", "--bitrate", "2", "-j", "1")
    assert done.returncode == 0, done.stderr
    assert abs(_kbps((tmp_path / "out" / "a.avif").read_bytes()) / 2.0 - 1) < 0.10


def test_header_fields_round_trip_and_old_payloads():
    header = fileformat.Header(bits=10, lo=-4.0, hi=1.0, num_samples=16000, curve=2.5, quality=47)
    payload = fileformat.pack(header)
    back = fileformat.unpack(payload)
    assert (back.curve, back.quality) == (2.5, 47.0)
    plain = fileformat.Header(bits=10, lo=-4.0, hi=1.0, num_samples=16000)
    assert len(fileformat.pack(plain)) == len(payload) - 6  # two extension fields of 3 bytes; none when default
    for old in (fileformat.pack(plain), fileformat.pack(plain, version=1)):  # linear, no quality
        assert (fileformat.unpack(old).curve, fileformat.unpack(old).quality) == (1.0, None)
    for damaged in (payload[:-1], payload[:-3] + b"\x02\x01\x00", payload[:-1] + b"\xff"):
        with pytest.raises(FormatError):
            fileformat.unpack(damaged)


def test_curve_round_trip_and_floor():
    rng = np.random.default_rng(0)
    features = rng.uniform(-6, 2, size=(50, 80)).astype(np.float32)
    for curve in (1.0, 2.5):
        image = mapping.to_image(features, -6.0, 2.0, 10, curve)
        back = mapping.from_image(image, -6.0, 2.0, 10, curve)
        # the step is largest at the bottom for curve > 1: at most (1/1023)**(1/curve) of the range
        assert np.max(np.abs(back - features)) <= 8 * (1 / 1023) ** (1 / curve) + 1e-5
        assert np.median(np.abs(back - features)) < 0.01
    floored = mapping.apply_floor(features, 80.0)
    assert floored.min() == pytest.approx(features.max() - 4.0) and floored.max() == features.max()
    assert mapping.apply_floor(features, None) is features


def test_lossless_files_stay_linear():
    from spectrocodec_plugins.avif import AvifCodec

    audio, rate = sf.read(SAMPLE, dtype="float32")
    pipe = Pipeline(codec=AvifCodec(lossless=True), bits=10)
    header = pipe.read(pipe.encode(audio[:16000], rate)).header
    assert header.curve == 1.0
