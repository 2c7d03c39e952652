"""Decoding many channels without holding them all (issue 15): each channel is spooled to disk as
soon as it is vocoded (core/spool.py), and the file written from the spool is byte-identical to the
one written from the whole array, headroom gain included."""

from __future__ import annotations

import numpy as np
import pytest

from spectrocodec.core import writer
from spectrocodec.core.pipeline import Pipeline
from spectrocodec.core.spool import SpooledWaveform

from helpers import StubVocoder, run_cli, tone


def _spooled(array: np.ndarray) -> SpooledWaveform:
    spool = SpooledWaveform(*array.shape)
    for c in reversed(range(array.shape[1])):  # any order
        spool.write_channel(c, array[:, c])
    return spool


@pytest.mark.parametrize("shape,loud", [((1000, 3), False), ((70_001, 2), True), ((2_500_003, 3), True), ((0, 2), False)])
def test_a_spooled_waveform_writes_the_same_file(tmp_path, monkeypatch, shape, loud):
    rng = np.random.default_rng(shape[0])
    array = (rng.standard_normal(shape) * (1.2 if loud else 0.2)).astype(np.float32)
    spool = _spooled(array)
    assert np.array_equal(spool[0 : shape[0]], array) and len(spool) == shape[0]
    assert writer.headroom_gain(spool) == writer.headroom_gain(array)
    monkeypatch.setattr(writer, "BLOCK", 65_537)
    gains = [writer.write_audio(tmp_path / f"{name}.wav", source, 16000) for name, source in (("a", array), ("s", spool))]
    assert gains[0] == gains[1] and (gains[0] < 1.0) == loud
    assert (tmp_path / "a.wav").read_bytes() == (tmp_path / "s.wav").read_bytes()
    writer.write_audio(tmp_path / "r.flac", spool, 16000, rate_out=44100)  # resampled block by block from the spool
    writer.write_audio(tmp_path / "q.flac", array, 16000, rate_out=44100)
    assert (tmp_path / "r.flac").read_bytes() == (tmp_path / "q.flac").read_bytes()


@pytest.mark.parametrize("layout", ["planar", "midside", "copies"])
def test_pipeline_spools_each_channel_as_it_is_vocoded(layout):
    audio = np.stack([tone(2.0), tone(2.0, freq=300.0) * 0.5, tone(2.0) * 0.25], axis=1)
    if layout != "planar":
        audio = audio[:, :2] if layout == "midside" else np.repeat(audio[:, :1], 3, axis=1)
    pipe = Pipeline(codec="png", vocoder=StubVocoder(), channels=layout)
    decoded = pipe.read(pipe.encode(audio, 16000))
    whole, rate = pipe.vocode(decoded)
    spooled, rate2 = pipe.vocode(decoded, spool=True)
    assert isinstance(spooled, SpooledWaveform) and rate == rate2
    assert np.array_equal(spooled[0 : len(spooled)], whole)


def test_cli_decode_of_a_multichannel_file_equals_the_api(tmp_path):
    import soundfile as sf

    from spectrocodec.core import api

    audio = np.stack([tone(1.5), tone(1.5, freq=300.0) * 0.5, tone(1.5, freq=600.0) * 0.3], axis=1)
    sf.write(tmp_path / "three.wav", audio, 16000)
    assert run_cli("encode", tmp_path / "three.wav", "-o", tmp_path / "three.avif", "-q").returncode == 0
    result = run_cli("decode", tmp_path / "three.avif", "-o", tmp_path / "cli.wav", "--vocoder", "griffinlim", "--param", "iterations=2", "-q")
    assert result.returncode == 0, result.stderr
    waveform, rate = api.decode(tmp_path / "three.avif", vocoder="griffinlim", iterations=2)
    writer.write_audio(tmp_path / "api.wav", waveform, rate)
    assert (tmp_path / "cli.wav").read_bytes() == (tmp_path / "api.wav").read_bytes()


def test_pieces_written_in_any_order_give_the_same_spool_and_gain():
    rng = np.random.default_rng(7)
    array = (rng.standard_normal((2_500_003, 2)) * 1.3).astype(np.float32)
    whole, pieces = _spooled(array), SpooledWaveform(*array.shape)
    cuts = [0, 1, 70_001, 1_048_577, 2_000_000, 2_500_003]
    for c in (1, 0):
        for a, b in reversed(list(zip(cuts, cuts[1:]))):
            pieces.write_piece(c, a, array[a:b, c])
    assert np.array_equal(pieces[0 : len(pieces)], array)
    assert pieces.peak == whole.peak and writer.headroom_gain(pieces) == writer.headroom_gain(whole)
    with pytest.raises(ValueError):
        pieces.write_piece(0, 2_500_000, np.zeros(4, np.float32))  # past the end


@pytest.mark.parametrize("layout", ["planar", "midside", "copies"])
def test_long_channels_are_spooled_piece_by_piece_as_griffinlim_makes_them(layout, monkeypatch):
    """Channels longer than a vocode batch go through vocode_pieces: griffinlim's chunks reach the
    spool as they are done (its output is never held whole), and the result equals vocoding whole."""
    import spectrocodec.core.pipeline as P
    from spectrocodec_plugins.griffinlim import GriffinLimVocoder

    audio = np.stack([tone(10.0), tone(10.0, freq=300.0) * 0.5], axis=1)  # 626 frames: 3 chunks of 256
    if layout == "copies":
        audio = np.repeat(audio[:, :1], 2, axis=1)
    vocoder = GriffinLimVocoder(device="cpu", iterations=2, chunk_frames=256, workers=1)
    pipe = Pipeline(codec="png", vocoder=vocoder, channels=layout)
    decoded = pipe.read(pipe.encode(audio, 16000))
    whole, _ = pipe.vocode(decoded)
    sizes = []
    real = vocoder.vocode_pieces
    monkeypatch.setattr(vocoder, "vocode_pieces", lambda f: (sizes.append(len(p)) or p for p in real(f)))
    monkeypatch.setattr(P, "VOCODE_BATCH_FRAMES", 100)  # every channel is "long"
    spooled, _ = pipe.vocode(decoded, spool=True)
    assert len(sizes) > (2 if layout == "copies" else 2 * 2) and max(sizes) < len(audio)  # several pieces per plane
    assert np.array_equal(spooled[0 : len(spooled)], whole)


def test_a_long_mono_output_is_spooled_piece_by_piece_and_writes_the_same_file(tmp_path, monkeypatch):
    import spectrocodec.core.pipeline as P
    from spectrocodec_plugins.griffinlim import GriffinLimVocoder

    vocoder = GriffinLimVocoder(device="cpu", iterations=2, chunk_frames=256, workers=1)
    pipe = Pipeline(codec="png", vocoder=vocoder)
    decoded = pipe.read(pipe.encode(tone(10.0), 16000))
    whole, rate = pipe.vocode(decoded)
    assert isinstance(pipe.vocode(decoded, spool=True)[0], np.ndarray)  # short: as before
    monkeypatch.setattr(P, "VOCODE_BATCH_FRAMES", 100)
    spooled, _ = pipe.vocode(decoded, spool=True)
    assert isinstance(spooled, SpooledWaveform) and spooled.shape == (len(whole), 1)
    assert np.array_equal(spooled[0 : len(spooled)][:, 0], whole)
    writer.write_audio(tmp_path / "a.wav", whole, rate)
    writer.write_audio(tmp_path / "s.wav", spooled, rate)
    assert (tmp_path / "a.wav").read_bytes() == (tmp_path / "s.wav").read_bytes()
