"""Multichannel files (issue 14): every channel kept, in order, at the right level, for little cost.

Corpus cases: real stereo music (music/trumpet.ogg) and training speech (train/) for constructed
channels: hard pan, identical channels, 6 and 8 channels at different gains, one silent channel.
Griffin-Lim runs with 16 iterations (levels and separation do not depend on the iteration count;
tests stay fast)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from helpers import CORPUS, run_cli, tone
from spectrocodec.core import api, channels, fileformat
from spectrocodec.core.audio import read_audio, resample, to_mono
from spectrocodec.core.errors import FormatError, InputError
from spectrocodec.core.pipeline import Pipeline
from spectrocodec.core.registry import Registry
from spectrocodec.interfaces import Vocoder

TRUMPET = CORPUS / "music" / "trumpet.ogg"
TRAIN_SPEECH = CORPUS / "train" / "ljspeech" / "LJ001-0004.flac"
FAST_GL = {"name": "griffinlim", "iterations": 16}


def need(path):
    if not path.exists():
        pytest.skip(f"corpus file {path} not found (../shared/corpus)")
    return path


@pytest.fixture(scope="module")
def voice() -> np.ndarray:
    """3 s of training speech, 16 kHz mono float32."""
    audio, rate = read_audio(need(TRAIN_SPEECH))
    return resample(to_mono(audio), rate, 16000)[16000 // 2 : 16000 // 2 + 3 * 16000]


def level_db(waveform: np.ndarray) -> np.ndarray:
    """RMS level of each channel of (samples, channels), dB full scale."""
    return 20 * np.log10(np.sqrt(np.mean(np.asarray(waveform, np.float64) ** 2, axis=0)) + 1e-12)


def test_real_stereo_costs_at_most_1_6x_its_mono_downmix_and_decodes_to_stereo():
    source = need(TRUMPET)
    for quality in (30, 60, 90):
        stereo = api.encode(source, quality=quality)
        # the downmix with the same linear map as kept channels (mono files also get the floor and curve)
        mono = Pipeline(codec=api.make_codec("avif", quality), channels="mono", curve=1.0, floor_db=None).encode_file(source)
        assert len(stereo) <= 1.6 * len(mono), (quality, len(stereo), len(mono))
    details = api.info(stereo)
    assert (details["channels"], details["layout"], details["height"]) == (2, "midside", 160)
    waveform, rate = api.decode(stereo, vocoder=FAST_GL)
    assert rate == 16000 and waveform.shape == (round(sf.info(str(source)).frames * 16000 / 44100), 2)
    assert np.abs(waveform[:, 0] - waveform[:, 1]).max() > 1e-3  # really two channels


@pytest.mark.parametrize("layout", ["keep", "planar", "midside"])
def test_hard_pan_keeps_the_other_channel_30_db_down(voice, layout):
    for side in (0, 1):
        audio = np.zeros((len(voice), 2), np.float32)
        audio[:, side] = voice
        data = api.encode(audio, 16000, channels=layout)
        waveform, _ = api.decode(data, vocoder=FAST_GL)
        levels = level_db(waveform)
        assert levels[side] - levels[1 - side] >= 30, (layout, side, levels)
        # a forced midside (choose() takes planar for a hard pan) puts the mid in the lower half of
        # the range, where the curve quantises coarsely: -3.6 dB at the default quality with 8
        # iterations; at an equal bitrate the curve still beats the linear map there (docs/channels.md)
        assert abs(levels[side] - level_db(voice[:, None])[0]) < (4.0 if layout == "midside" else 1.5)


def test_identical_channels_cost_at_most_1_1x_mono_and_decode_identical(voice):
    audio = np.stack([voice, voice], axis=1)
    for quality in (30, 60, 90):
        stereo = api.encode(audio, 16000, quality=quality)
        mono = api.encode(voice, 16000, quality=quality)
        assert len(stereo) <= 1.1 * len(mono), (quality, len(stereo), len(mono))
    assert api.info(stereo)["layout"] == "copies"
    waveform, _ = api.decode(stereo, vocoder=FAST_GL)
    assert waveform.shape == (len(voice), 2) and np.array_equal(waveform[:, 0], waveform[:, 1])


@pytest.mark.parametrize("count", [6, 8])
def test_6_and_8_channels_keep_order_and_relative_levels_within_1_5_db(voice, count):
    gains_db = np.array([0, -6, -12, -3, -20, -9, -15, -1][:count], np.float64)
    audio = voice[:, None] * (10 ** (gains_db / 20)).astype(np.float32)
    data = api.encode(audio, 16000)
    details = api.info(data)
    assert (details["channels"], details["layout"], details["height"]) == (count, "planar", 80 * count)
    waveform, _ = api.decode(data, vocoder=FAST_GL)
    assert waveform.shape == (len(voice), count)
    relative = level_db(waveform) - level_db(waveform)[0]
    assert np.abs(relative - gains_db).max() <= 1.5, relative


def test_one_silent_channel_stays_silent_and_the_others_are_untouched(voice):
    audio = np.stack([voice, np.zeros_like(voice), 0.5 * voice[::-1]], axis=1)
    waveform, _ = api.decode(api.encode(audio, 16000), vocoder=FAST_GL)
    levels = level_db(waveform)
    # silence decodes to the floor of lossy files, 100 dB below the peak (about -89 dBFS here)
    assert levels[1] < -80 and levels[0] - levels[2] == pytest.approx(6.0 + level_db(voice[:, None])[0] - level_db(voice[::-1, None])[0], abs=1.5)


def test_unrelated_channels_are_stored_planar_and_each_decodes_to_its_own(voice):
    audio = np.stack([voice, np.roll(voice, 16000)], axis=1)  # different words at every instant
    data = api.encode(audio, 16000)
    assert api.info(data)["layout"] == "planar"
    features = api.read_features(data).features
    assert features.shape[0] == 2
    extractor = Registry.default().create("feature", "speecht5")
    for c in range(2):  # each channel's features come back as its own, not the other's
        own = extractor.extract(audio[:, c], 16000)
        assert np.sqrt(np.mean((features[c] - own) ** 2)) < 0.2


def test_more_than_8_channels_are_refused_in_one_line_and_mono_downmixes_them(tmp_path):
    audio = np.stack([tone(0.5, freq=200 + 50 * c) for c in range(9)], axis=1)
    with pytest.raises(InputError, match="9 channels.*1 to 8.*--channels mono"):
        api.encode(audio, 16000)
    source = tmp_path / "nine.wav"
    sf.write(source, audio, 16000)
    result = run_cli("encode", source, "-o", tmp_path / "nine.avif")
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "spectrocodec: error:" in result.stderr
    assert not (tmp_path / "nine.avif").exists()
    result = run_cli("encode", source, "-o", tmp_path / "nine.avif", "--channels", "mono", "-q")
    assert result.returncode == 0, result.stderr
    assert api.info(tmp_path / "nine.avif")["channels"] == 9 and api.info(tmp_path / "nine.avif")["layout"] == "mono"
    with pytest.raises(InputError, match="midside stores 2 channels"):
        api.encode(audio[:, :3], 16000, channels="midside")
    with pytest.raises(InputError, match="unknown --channels"):
        api.encode(audio[:, :3], 16000, channels="surround")


def test_a_file_and_the_same_samples_as_an_array_encode_alike(tmp_path, voice):
    audio = np.stack([voice, 0.5 * np.roll(voice, 4000), 0.25 * voice], axis=1)
    source = tmp_path / "three.wav"
    sf.write(source, audio, 16000, subtype="FLOAT")
    assert api.encode(source) == api.encode(audio, 16000)


def test_cli_encode_info_decode_keep_the_channels(tmp_path, voice):
    source = tmp_path / "stereo.wav"
    sf.write(source, np.stack([voice, 0.5 * voice + 0.01 * np.roll(voice, 800)], axis=1), 16000)
    result = run_cli("encode", source, "-o", tmp_path / "s.avif")
    assert result.returncode == 0 and "2 channels" in result.stdout, result.stderr
    shown = run_cli("info", tmp_path / "s.avif").stdout
    assert "channels:" in shown and json.loads(run_cli("info", tmp_path / "s.avif", "--json").stdout)["channels"] == 2
    result = run_cli("decode", tmp_path / "s.avif", "-o", tmp_path / "s.wav", "--vocoder", "griffinlim",
                     "--param", "iterations=8", "--rate", "original")
    assert result.returncode == 0, result.stderr
    written = sf.info(str(tmp_path / "s.wav"))
    assert (written.channels, written.samplerate, written.frames) == (2, 16000, len(voice))


def test_header_layout_field_old_files_and_unknown_codes():
    old = fileformat.Header(bits=10, lo=-9.5, hi=1.25, sample_rate=44100, num_samples=100, channels=2)
    assert old.layout == "mono"
    assert fileformat.pack(old) == fileformat.pack(old, version=2)  # mono: no extension written
    for version in (1, 2):  # a downmix, as every earlier file: read as mono, channels = original count
        back = fileformat.unpack(fileformat.pack(old, version=version))
        assert (back.layout, back.channels) == ("mono", 2)
    for layout, count in (("planar", 6), ("midside", 2), ("copies", 2), ("planar", 8)):
        header = fileformat.Header(bits=10, lo=-9.5, hi=1.25, channels=count, layout=layout)
        payload = fileformat.pack(header)
        assert len(payload) == len(fileformat.pack(fileformat.Header(bits=10, lo=-9.5, hi=1.25, channels=count))) + 3
        back = fileformat.unpack(payload)
        assert (back.layout, back.channels) == (layout, count)
        with pytest.raises(FormatError, match="version 1 cannot store"):
            fileformat.pack(header, version=1)
    payload = bytearray(fileformat.pack(fileformat.Header(bits=10, lo=-9.5, hi=1.25, channels=2, layout="planar")))
    assert payload[-3:] == bytes([1, 1, 1])  # tag 1, length 1, code 1 (planar)
    payload[-1] = 7
    with pytest.raises(FormatError, match="unreadable 'layout'"):
        fileformat.unpack(bytes(payload))
    nine = fileformat.pack(fileformat.Header(bits=10, lo=-9.5, hi=1.25, channels=9))  # a downmix of 9: fine
    assert fileformat.unpack(nine).channels == 9
    with pytest.raises(FormatError, match="9 channels"):  # planar with 9 channels: a lie
        fileformat.unpack(nine[:1] + (int.from_bytes(nine[1:3], "little") | fileformat.F_EXTENSIONS).to_bytes(2, "little")
                          + nine[3:] + bytes([1, 1, 1]))


def test_a_picture_shorter_than_its_layout_claims_is_refused():
    from spectrocodec.core import mapping

    features = Registry.default().create("feature", "speecht5").extract(tone(0.5), 16000)
    header = fileformat.Header(bits=10, lo=-10.0, hi=1.0, num_samples=8000, channels=2, layout="planar")
    codec = api.make_codec("avif")
    lying = codec.encode(mapping.to_image(features, -10.0, 1.0, 10), 10, fileformat.pack(header))  # one strip, not two
    with pytest.raises(FormatError, match="pixels high"):
        api.read_features(lying)


class CountingVocoder(Vocoder):
    """Stub: a constant waveform per channel (its mean feature), counting batch calls."""

    name = "counting"
    accepts = ("speecht5",)
    defaults = {}
    batches: list = []

    def vocode(self, features):
        return np.full(len(features) * 256, float(np.mean(features)) / 100, np.float32)

    def vocode_batch(self, batch):
        CountingVocoder.batches.append(len(batch))
        return [self.vocode(f) for f in batch]


def test_channels_are_vocoded_in_batches_bounded_in_frames(monkeypatch):
    from spectrocodec.core import pipeline

    audio = np.stack([tone(2.0, freq=200 + 100 * c) * (c + 1) / 6 for c in range(6)], axis=1)
    data = api.encode(audio, 16000)
    pipe = Pipeline(vocoder=CountingVocoder())
    CountingVocoder.batches = []
    waveform, _ = pipe.decode(data)
    assert waveform.shape == (len(audio), 6) and CountingVocoder.batches == [6]  # one call, all channels
    monkeypatch.setattr(pipeline, "VOCODE_BATCH_FRAMES", 2 * 130)  # ~126 frames per channel: 2 at a time
    CountingVocoder.batches = []
    again, _ = pipe.decode(data)
    assert CountingVocoder.batches == [2, 2, 2] and np.array_equal(waveform, again)


def test_choose_picks_by_content():
    rng = np.random.default_rng(0)
    a = rng.normal(-5, 1, (50, 80)).astype(np.float32)
    b = rng.normal(-5, 1, (50, 80)).astype(np.float32)
    assert channels.choose(a[None], -10, 0, 10) == "mono"
    assert channels.choose(np.stack([a, a]), -10, 0, 10) == "copies"
    assert channels.choose(np.stack([a, a + 0.5]), -10, 0, 10) == "midside"  # a level difference: flat side
    assert channels.choose(np.stack([a, b]), -10, 0, 10) == "planar"
    assert channels.choose(np.stack([a, a, b]), -10, 0, 10) == "planar"
    planes = channels.to_planes(np.stack([a, b]), "midside", -10, 0)
    assert np.allclose(channels.from_planes(planes, "midside", -10, 0), np.clip(np.stack([a, b]), -10, 0), atol=1e-5)


def test_bench_reference_and_measures_keep_the_channels(tmp_path, voice):
    from spectrocodec.apps import bench

    source = tmp_path / "stereo.wav"
    sf.write(source, np.stack([voice, 0.5 * np.roll(voice, 8000)], axis=1), 16000, subtype="FLOAT")
    extractor = Registry.default().create("feature", "speecht5")
    ref = bench.make_reference(source, tmp_path, extractor)
    assert ref.channels == 2 and sf.info(str(ref.wav)).channels == 2 and ref.samples.ndim == 1
    data = api.encode(ref.wav)
    assert api.info(data)["channels"] == 2
    assert 0 < bench._image_distortion(ref, api.read_features(data).features) < 5
    swapped = api.read_features(data).features[::-1]  # the wrong channel order shows as distortion
    assert bench._image_distortion(ref, swapped) > 5
    measured = bench.end_to_end(ref, np.stack([voice, 0.5 * np.roll(voice, 8000)], axis=1), extractor)
    assert measured["output_mel_db"] < 1e-3


@pytest.mark.parametrize("codec", [c for c in Registry.default().classes("codec") if c.unavailable() is None],
                         ids=lambda c: f"{c.name}-{c.backend}")
def test_every_codec_stores_channel_strips(codec):
    """Strips need nothing of a codec but a grey picture of its own bit depth: all store them."""
    audio = np.stack([tone(0.5), 0.5 * tone(0.5, freq=300), np.zeros(8000, np.float32)], axis=1)
    bits = 10 if 10 in codec.bit_depths else codec.bit_depths[0]
    data = api.encode(audio, 16000, codec={"name": codec.name, "backend": codec.backend}, bits=bits)
    decoded = api.read_features(data)
    assert decoded.header.layout == "planar" and decoded.features.shape == (3, 32, 80)
    # the silent channel stays at the floor: lossless, exactly; lossy files floor every value at the
    # peak - 100 dB and their pixel errors near the floor come back amplified by the curve (JPEG 2000
    # here: 69 dB below the peak at worst, 87 dB on average); speecht5 features are 20 dB per unit
    below_peak = decoded.header.hi - decoded.features[2]
    assert below_peak.min() >= 3.0 and below_peak.mean() >= 4.0, (below_peak.min(), below_peak.mean())


def test_kept_channels_get_the_floor_and_curve_when_lossy_and_stay_linear_when_lossless(voice):
    """Every layout of a lossy file is stored through the curve (docs/channels.md measures the gain);
    a lossless file stays linear."""
    unrelated = np.stack([voice, np.roll(voice, 16000)], axis=1)
    for audio, layout in ((unrelated, "planar"), (np.stack([voice, voice], axis=1), "copies"), (unrelated, "midside")):
        header = api.read_features(api.encode(audio, 16000, channels="keep" if layout != "midside" else "midside")).header
        assert (header.layout, header.curve) == (layout, 2.5)
        mono = api.read_features(api.encode(audio[:, 0], 16000)).header
        assert header.curve == mono.curve
    lossless = api.read_features(api.encode(unrelated, 16000, lossless=True)).header
    assert lossless.curve == 1.0
