"""The ``griffinlim`` vocoder plugin: the copy-synthesis quality bar (PESQ-WB on the corpus speech),
lengths and dtype, determinism, silence and tiny inputs, chunking (agreement with a single pass,
no clicks at the joins), the registry, devices (numpy on the CPU without torch; the torch code path
agrees with it), and decoding an AVIF file end to end with the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from helpers import CORPUS, SAMPLE, run_cli

from spectrocodec.errors import PluginError
from spectrocodec.core.registry import Registry
from spectrocodec_plugins.griffinlim import CONTEXT, CROSSFADE, GriffinLimVocoder, chunk_bounds
from spectrocodec_plugins.speecht5 import HOP, log_mel


def needs_torch():
    return pytest.importorskip("torch")

PESQ_FILES = ("libri1_5703-47212-0000.ogg", "libri2_3436-172162-0000.ogg")
PESQ_BAR = 2.4  # mean PESQ-WB of copy synthesis over PESQ_FILES; measured 3.0 (docs/griffinlim.md)


def corpus_speech(name: str) -> np.ndarray:
    path = CORPUS / "speech" / name
    if not path.exists():
        pytest.skip(f"corpus file {path} not found (the corpus sits beside the repo as ../shared/corpus)")
    audio, rate = sf.read(str(path), dtype="float32")
    assert rate == 16000 and audio.ndim == 1
    return audio


@pytest.fixture(scope="module")
def speech_features() -> np.ndarray:
    """log-mel of 8 s of speech, the shipped sample (4.5 s) repeated, so that these tests run
    without the corpus too: float32 (501, 80)."""
    audio, rate = sf.read(str(SAMPLE), dtype="float32")
    assert rate == 16000 and audio.ndim == 1
    return log_mel(np.resize(audio, 8 * 16000))


def test_copy_synthesis_reaches_the_pesq_bar():
    pesq = pytest.importorskip("pesq").pesq
    vocoder = GriffinLimVocoder(device="cpu")
    scores = []
    for name in PESQ_FILES:
        audio = corpus_speech(name)
        features = log_mel(audio)
        waveform = vocoder.vocode(features)
        assert waveform.shape == (len(features) * HOP,) and len(waveform) >= len(audio)
        scores.append(pesq(16000, audio, waveform[: len(audio)], "wb"))
    assert np.mean(scores) >= PESQ_BAR, f"PESQ-WB {scores}, mean {np.mean(scores):.2f} < {PESQ_BAR}"


@pytest.mark.parametrize("frames", [1, 2, 3, 7, 100])
def test_length_dtype_and_finite(speech_features, frames):
    waveform = GriffinLimVocoder(device="cpu", iterations=8).vocode(speech_features[200 : 200 + frames])
    assert waveform.dtype == np.float32
    assert waveform.shape == (frames * HOP,)
    assert np.isfinite(waveform).all()
    assert np.abs(waveform).max() > 1e-3  # speech frames give sound, not silence


def test_no_frames_give_no_samples():
    assert GriffinLimVocoder(device="cpu").vocode(np.zeros((0, 80), np.float32)).shape == (0,)


def test_deterministic(speech_features):
    first = GriffinLimVocoder(device="cpu", iterations=16).vocode(speech_features[:150])
    second = GriffinLimVocoder(device="cpu", iterations=16).vocode(speech_features[:150])
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize("frames", [1, 50])
def test_silence_gives_silence(frames):
    waveform = GriffinLimVocoder(device="cpu").vocode(np.full((frames, 80), -10.0, np.float32))
    assert waveform.shape == (frames * HOP,)
    assert np.isfinite(waveform).all()
    assert np.abs(waveform).max() < 1e-6


@pytest.mark.parametrize("value", [-11.0, -4.0, 0.0])
def test_constant_frames(value):
    waveform = GriffinLimVocoder(device="cpu", iterations=16).vocode(np.full((40, 80), value, np.float32))
    assert np.isfinite(waveform).all()
    rms = float(np.sqrt(np.mean(waveform**2)))
    assert rms < 1e-6 if value <= -10 else rms > 0  # a flat mel spectrum is noise, louder with the value


def test_chunk_bounds_are_even_and_cover_everything():
    assert chunk_bounds(100, 256) == [(0, 100)]
    assert chunk_bounds(256, 256) == [(0, 256)]
    bounds = chunk_bounds(257, 256)
    assert bounds[0][0] == 0 and bounds[-1][1] == 257 and len(bounds) == 2
    assert all(stop - start >= 128 for start, stop in bounds)
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))


def test_short_input_is_one_pass_whatever_the_chunk_size(speech_features):
    features = speech_features[:256]
    small = GriffinLimVocoder(device="cpu", iterations=8, chunk_frames=256).vocode(features)
    large = GriffinLimVocoder(device="cpu", iterations=8, chunk_frames=4096).vocode(features)
    np.testing.assert_array_equal(small, large)


def test_chunks_agree_with_a_single_pass_and_join_without_clicks(speech_features):
    single = GriffinLimVocoder(device="cpu", iterations=32).vocode(speech_features)
    chunked = GriffinLimVocoder(device="cpu", iterations=32, chunk_frames=256).vocode(speech_features)
    bounds = chunk_bounds(len(speech_features), 256)
    assert len(bounds) == 2
    assert chunked.shape == single.shape
    seams = [start * HOP for start, _ in bounds[1:]]
    near = np.zeros(len(single), bool)
    for seam in seams:
        near[seam - CROSSFADE * HOP : seam + CROSSFADE * HOP] = True
    scale = np.abs(single).max()
    # away from the joins the chunks see all the context that matters: equal to float precision
    assert np.abs(chunked - single)[~near].max() < 1e-4 * scale
    # at the joins too (measured 6e-6 of full scale), and no jump larger than elsewhere
    assert np.abs(chunked - single)[near].max() < 1e-3 * scale
    jumps = np.abs(np.diff(chunked))
    for seam in seams:
        assert jumps[seam - CONTEXT * HOP : seam + CONTEXT * HOP].max() <= jumps.max()
        assert jumps[seam - CONTEXT * HOP : seam + CONTEXT * HOP].max() <= 1.01 * np.abs(np.diff(single))[seam - CONTEXT * HOP : seam + CONTEXT * HOP].max()


def test_found_through_the_registry():
    vocoder = Registry.default().create("vocoder", "griffinlim", device="cpu", iterations=4)
    assert isinstance(vocoder, GriffinLimVocoder)
    assert vocoder.device_name == "cpu"
    assert vocoder.get_config() == {"name": "griffinlim", "device": "cpu", "iterations": 4, "momentum": 0.9,
                                    "chunk_frames": 2048, "threads": 1, "workers": 0}
    assert GriffinLimVocoder.unavailable() is None
    assert "speecht5" in GriffinLimVocoder.accepts and set(GriffinLimVocoder.devices) == {"cpu", "cuda"}


@pytest.mark.parametrize("cuda", [True, False])
def test_auto_device_resolves(monkeypatch, cuda):
    """auto follows torch.cuda.is_available() where a GPU may exist (both answers tried, whatever this
    machine has); an explicit cpu stays cpu."""
    torch = needs_torch()
    import spectrocodec_plugins.griffinlim as G

    monkeypatch.setattr(G, "cuda_possible", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    assert GriffinLimVocoder().device_name == ("cuda" if cuda else "cpu")
    assert GriffinLimVocoder(device="cpu").device_name == "cpu"


def test_auto_device_without_a_gpu_device_file_does_not_ask_torch(monkeypatch):
    from types import SimpleNamespace

    import spectrocodec_plugins.griffinlim as G

    monkeypatch.setattr(G, "sys", SimpleNamespace(platform="linux", modules={}))  # torch not imported yet, Linux
    monkeypatch.setattr(G, "GPU_NODES", ("/nonexistent/nvidia0",))
    assert G.cuda_possible() is False
    assert GriffinLimVocoder().device_name == "cpu"


@pytest.mark.parametrize("params", [{"iterations": -1}, {"iterations": 1.5}, {"momentum": 2}, {"chunk_frames": 10},
                                    {"threads": 0}, {"workers": -1}, {"device": "tpu"}, {"colour": "red"}])
def test_bad_parameters_are_refused(params):
    with pytest.raises(PluginError) as err:
        GriffinLimVocoder(**params)
    assert "\n" not in str(err.value)


def test_bad_feature_shape_is_refused():
    with pytest.raises(PluginError):
        GriffinLimVocoder(device="cpu").vocode(np.zeros((10, 40), np.float32))


def blas_threads() -> set[int]:
    from threadpoolctl import threadpool_info

    return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}


@pytest.mark.parametrize("workers", [1, 2])
def test_blas_threads_limited_while_vocoding_and_restored(speech_features, monkeypatch, workers):
    """threads=1: BLAS runs on 1 thread inside every chunk (so that chunks on 2 workers do not
    oversubscribe the cores), and the caller's BLAS setting (2 here) comes back afterwards."""
    from threadpoolctl import threadpool_limits

    import spectrocodec_plugins.griffinlim as G

    seen = []
    real = G.griffin_lim

    def spy(*args, **kwargs):
        seen.append(blas_threads())
        return real(*args, **kwargs)

    monkeypatch.setattr(G, "griffin_lim", spy)
    with threadpool_limits(limits=2, user_api="blas"):
        if blas_threads() != {2}:
            pytest.skip(f"this numpy's BLAS reports {blas_threads()} threads")
        GriffinLimVocoder(device="cpu", iterations=2, threads=1, chunk_frames=256, workers=workers).vocode(speech_features[:600])
        assert len(seen) == 2 and all(s == {1} for s in seen)
        assert blas_threads() == {2}


def test_decoding_on_the_cpu_never_imports_torch(sample, tmp_path):
    """The base install decodes: encode + decode (device auto, default vocoder) in a fresh process
    with torch made unimportable, and torch is not imported when it is installed either."""
    script = (
        "import sys, spectrocodec\n"
        "data = spectrocodec.encode(sys.argv[1])\n"
        "result = spectrocodec.decode(data, iterations=2, device=sys.argv[2])\n"
        "assert result.vocoder == 'griffinlim' and result.device == 'cpu', (result.vocoder, result.device)\n"
        "print(len(result.waveform), 'torch' in sys.modules)\n"
    )
    import os
    import subprocess
    import sys

    blocker = tmp_path / "torch.py"
    blocker.write_text("raise ImportError('torch is blocked by this test')\n")
    # torch installed (device cpu: auto would take a GPU where there is one); torch blocked (device auto)
    for extra, device in (([], "cpu"), ([str(tmp_path)], "auto")):
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(extra + [os.environ.get("PYTHONPATH", "")]))
        out = subprocess.run([sys.executable, "-c", script, str(sample), device], capture_output=True, text=True, env=env)
        assert out.returncode == 0, out.stderr
        assert out.stdout.split() == ["72000", "False"]


def test_torch_code_path_agrees_with_numpy(speech_features):
    """The loop runs on CUDA through TorchArrays: on the CPU it must give what the numpy path gives
    (float rounding aside), so that the GPU runs the same algorithm."""
    needs_torch()
    import spectrocodec_plugins.griffinlim as G

    features = speech_features[:300]
    with G.Arrays().session():
        numpy_out = G.griffin_lim(features, 16, 0.9, G.Arrays())
    ops = G.TorchArrays("cpu")
    with ops.session():
        torch_out = G.griffin_lim(features, 16, 0.9, ops)
    assert torch_out.dtype == np.float32 and torch_out.shape == numpy_out.shape
    error = np.sqrt(np.mean((torch_out - numpy_out) ** 2) / np.mean(numpy_out**2))
    assert error < 1e-3, error


def test_cuda_without_cuda_is_a_one_line_error():
    torch = needs_torch()
    if torch.cuda.is_available():
        pytest.skip("CUDA is present")
    with pytest.raises(PluginError, match="no CUDA") as err:
        GriffinLimVocoder(device="cuda")
    assert "\n" not in str(err.value)


def test_cuda_without_torch_says_what_to_install(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a))
    with pytest.raises(PluginError, match="needs torch") as err:
        GriffinLimVocoder(device="cuda")
    assert "\n" not in str(err.value)
    assert GriffinLimVocoder().device_name == "cpu"  # auto: CPU, no torch needed


@pytest.mark.gpu
def test_cuda_agrees_with_cpu(speech_features):
    torch = needs_torch()
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    features = speech_features[:300]
    cpu = GriffinLimVocoder(device="cpu", iterations=32).vocode(features)
    cuda = GriffinLimVocoder(device="cuda", iterations=32).vocode(features)
    assert cuda.dtype == np.float32 and cuda.shape == cpu.shape
    # cuFFT and pocketfft round differently (~1e-7); the iterations amplify that ~100 times
    # (features perturbed by 1e-6 change the CPU output by 7e-5 rms): compare relative to level,
    # and the log-mel spectra where there is sound
    error = np.sqrt(np.mean((cuda - cpu) ** 2) / np.mean(cpu**2))
    assert error < 1e-2, error
    ref = log_mel(cpu)
    loud = ref > ref.max() - 5
    assert np.abs(log_mel(cuda) - ref)[loud].max() < 0.05


def test_cli_encode_then_decode_with_griffinlim(sample, tmp_path):
    encoded = tmp_path / "speech.avif"
    decoded = tmp_path / "speech.wav"
    result = run_cli("encode", sample, "-o", encoded)
    assert result.returncode == 0, result.stderr
    result = run_cli("decode", encoded, "-o", decoded, "--vocoder", "griffinlim", "--device", "cpu")
    assert result.returncode == 0, result.stderr
    assert "griffinlim on cpu" in result.stdout
    audio, rate = sf.read(str(decoded), dtype="float32")
    assert rate == 16000 and audio.shape == (72000,)
    assert np.isfinite(audio).all() and np.abs(audio).max() > 0.01


@pytest.mark.parametrize("frames,chunk,workers", [(700, 256, 3), (501, 256, 1), (100, 2048, 2), (0, 256, 1)])
def test_pieces_concatenate_to_the_waveform(speech_features, frames, chunk, workers):
    """vocode_pieces yields each chunk's final samples in order (one piece for one chunk)."""
    vocoder = GriffinLimVocoder(device="cpu", iterations=4, chunk_frames=chunk, workers=workers)
    features = np.tile(speech_features, (2, 1))[:frames]
    pieces = list(vocoder.vocode_pieces(features))
    assert len(pieces) == len(chunk_bounds(frames, chunk, workers)) if frames else len(pieces) == 1
    np.testing.assert_array_equal(np.concatenate(pieces), vocoder.vocode(features))
