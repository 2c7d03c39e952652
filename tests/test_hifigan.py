"""The ``hifigan`` vocoder plugin, on randomly initialised SpeechT5 HiFi-GANs saved to tmp_path
(the real weights cannot be downloaded here): loading by path, env var, cache and hub (offline),
equality with transformers' forward, chunking, batching, lengths, memory, CLI errors and fallback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from helpers import SAMPLE, run_cli

pytest.importorskip("torch")
pytest.importorskip("transformers")

import torch  # noqa: E402
from transformers import SpeechT5HifiGan, SpeechT5HifiGanConfig  # noqa: E402

from spectrocodec.errors import PluginError  # noqa: E402
from spectrocodec_plugins import hifigan as H  # noqa: E402

@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One torch thread: with two, every small op waits for both cores, which on a shared
    machine with other work running makes these small models ~50x slower."""
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


# Same kernels, dilations and upsampling as microsoft/speecht5_hifigan (so the same receptive
# field), 32x fewer channels: ~250x less work.
SMALL = dict(upsample_initial_channel=16)


def random_model(seed: int = 0, **config) -> SpeechT5HifiGan:
    """A random SpeechT5HifiGan whose activations stay of order 1 (as with trained weights),
    with a non-trivial mean/scale so that the normalisation matters."""
    torch.manual_seed(seed)
    model = SpeechT5HifiGan(SpeechT5HifiGanConfig(**config)).eval()
    with torch.no_grad():
        for layer in model.modules():
            if isinstance(layer, (torch.nn.Conv1d, torch.nn.ConvTranspose1d)):
                w = layer.weight
                fan_in = w.shape[1] * w.shape[2] if isinstance(layer, torch.nn.Conv1d) else w.shape[0] * w.shape[2] // 4
                w.normal_(0.0, fan_in ** -0.5)
                layer.bias.normal_(0.0, 0.1)
        model.mean.normal_(-5.0, 1.0)
        model.scale.uniform_(1.0, 3.0)
    return model


def save(model: SpeechT5HifiGan, folder: Path) -> Path:
    from transformers.utils import logging

    enabled = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()
    model.save_pretrained(folder)
    if enabled:
        logging.enable_progress_bar()
    return folder


def reference(model: SpeechT5HifiGan, features: np.ndarray) -> np.ndarray:
    """transformers' own forward: log-mel (frames, 80) → waveform (frames * 256,)."""
    with torch.inference_mode():
        return model(torch.from_numpy(features)).numpy()


def log_mel(frames: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(-5.0, 2.0, (frames, 80)).astype(np.float32)


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> tuple[SpeechT5HifiGan, Path]:
    model = random_model(**SMALL)
    return model, save(model, tmp_path_factory.mktemp("small") / "hifigan")


@pytest.fixture(scope="module")
def full(tmp_path_factory) -> tuple[SpeechT5HifiGan, Path]:
    """The default config: the architecture of microsoft/speecht5_hifigan."""
    model = random_model(seed=3)
    return model, save(model, tmp_path_factory.mktemp("full") / "hifigan")


@pytest.fixture(scope="module")
def encoded(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("enc") / "speech.avif"
    result = subprocess.run([sys.executable, "-m", "spectrocodec", "encode", str(SAMPLE), "-o", str(out)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return out


def no_weights_env(tmp_path: Path) -> dict:
    """An environment with the hub off, an empty Hugging Face cache and no SPECTROCODEC_HIFIGAN."""
    env = {k: v for k, v in os.environ.items() if k not in (H.ENV_VAR, "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE")}
    (tmp_path / "hf_home").mkdir(exist_ok=True)
    env.update(HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf_home"), OMP_NUM_THREADS="1")
    return env


def run_python(code: str, env: dict, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=env, timeout=timeout)


# -- the plugin module and class ----------------------------------------------------------------
def test_registered_and_cheap_to_import(tmp_path):
    from spectrocodec.core.registry import Registry

    cls = Registry.default().components["vocoder"]["hifigan"][0]
    assert cls is H.HifiganVocoder
    assert (cls.name, tuple(cls.accepts), tuple(cls.devices), cls.priority) == ("hifigan", ("speecht5",), ("cpu", "cuda"), 10)
    code = """
        import sys
        from spectrocodec_plugins import hifigan
        reason = hifigan.HifiganVocoder.unavailable()
        print(repr(reason)); print('torch' in sys.modules, 'transformers' in sys.modules)
    """
    result = run_python(code, no_weights_env(tmp_path))
    assert result.returncode == 0, result.stderr
    reason, imported = result.stdout.strip().splitlines()
    assert "not in the local Hugging Face cache" in reason and "--vocoder-weights" in reason
    assert imported == "False False"


def test_conforms_with_saved_weights(small):
    from spectrocodec.testing import check_vocoder

    check_vocoder(H.HifiganVocoder, weights=str(small[1]), frame_counts=(1, 7, 40))


def test_default_config_by_path_matches_transformers(full):
    model, folder = full
    features = log_mel(150)
    voc = H.HifiganVocoder(weights=str(folder), device="cpu")
    out = voc.vocode(features)
    assert voc.device_name == "cpu"
    assert out.dtype == np.float32 and out.shape == (150 * 256,)
    ref = reference(model, features)
    assert np.abs(out - ref).max() < 1e-4
    assert np.abs(ref).max() > 0.1  # a real signal, not a near-silent one
    assert voc.get_config() == {"name": "hifigan", **H.HifiganVocoder.defaults, "weights": str(folder), "device": "cpu"}


def test_default_config_chunked_equals_single_pass(full):
    _, folder = full
    features = log_mel(200, seed=5)
    whole = H.HifiganVocoder(weights=str(folder), chunk_frames=10_000).vocode(features)
    chunked = H.HifiganVocoder(weights=str(folder), chunk_frames=64).vocode(features)
    assert np.abs(chunked - whole).max() < 1e-5


@pytest.mark.parametrize("normalize", [True, False])
def test_normalisation_kept(tmp_path, normalize):
    model = random_model(**SMALL, normalize_before=normalize)
    folder = save(model, tmp_path / "m")
    features = log_mel(40)
    out = H.HifiganVocoder(weights=str(folder)).vocode(features)
    assert np.abs(out - reference(model, features)).max() < 1e-5
    unnormalised = random_model(**SMALL, normalize_before=not normalize)
    assert np.abs(out - reference(unnormalised, features)).max() > 1e-3


def test_env_var_and_precedence(small, monkeypatch, tmp_path):
    model, folder = small
    features = log_mel(20)
    monkeypatch.setenv(H.ENV_VAR, str(folder))
    assert H.HifiganVocoder.unavailable() is None
    assert np.abs(H.HifiganVocoder().vocode(features) - reference(model, features)).max() < 1e-5
    monkeypatch.setenv(H.ENV_VAR, str(tmp_path / "missing"))
    assert "does not exist" in H.HifiganVocoder.unavailable()
    with pytest.raises(PluginError, match="does not exist"):
        H.HifiganVocoder().load()
    # the explicit weights come first
    assert H.HifiganVocoder(weights=str(folder)).vocode(features).shape == (20 * 256,)
    with pytest.raises(PluginError, match="no config.json"):
        H.HifiganVocoder(weights=str(tmp_path)).load()


@pytest.fixture
def hub_off(tmp_path, monkeypatch) -> Path:
    """Hub off, an empty Hugging Face cache in tmp_path, no SPECTROCODEC_HIFIGAN (huggingface_hub
    and transformers read these constants at call time)."""
    from huggingface_hub import constants

    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv(H.ENV_VAR, raising=False)
    return cache


def test_weights_from_local_cache(small, hub_off):
    """A hub-style cache (refs/main → snapshots/<sha>/), hub off: found, and loaded from it."""
    model, folder = small
    assert "not in the local Hugging Face cache" in H.HifiganVocoder.unavailable()
    repo = hub_off / "models--microsoft--speecht5_hifigan"
    sha = "0123456789abcdef0123456789abcdef01234567"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(sha)
    (repo / "snapshots" / sha).mkdir(parents=True)
    for f in folder.iterdir():
        (repo / "snapshots" / sha / f.name).write_bytes(f.read_bytes())
    assert H.HifiganVocoder.unavailable() is None
    features = log_mel(10)
    assert np.abs(H.HifiganVocoder().vocode(features) - reference(model, features)).max() < 1e-5


def test_hub_call_loads_a_real_checkpoint(small, monkeypatch):
    """Not cached, hub reachable: from_pretrained(local_files_only=True) misses, then the hub call
    from_pretrained(hub id) runs. Only the download is replaced: it reads a real checkpoint written
    by save_pretrained, and the model the plugin returns must compute what the saved one does."""
    model, folder = small
    real = SpeechT5HifiGan.from_pretrained.__func__
    calls = []

    def from_pretrained(cls, name, **kwargs):
        calls.append((name, kwargs))
        if kwargs.get("local_files_only"):
            raise OSError("not in the cache")
        return real(cls, str(folder), **kwargs)  # "downloaded": the saved checkpoint, loaded for real

    monkeypatch.delenv(H.ENV_VAR, raising=False)
    monkeypatch.setattr(SpeechT5HifiGan, "from_pretrained", classmethod(from_pretrained))
    monkeypatch.setattr(H, "hub_offline", lambda: False)
    monkeypatch.setattr(H, "hub_unreachable", lambda timeout=0: None)
    loaded = H.load_model()
    assert calls == [("microsoft/speecht5_hifigan", {"local_files_only": True}), ("microsoft/speecht5_hifigan", {})]
    assert loaded is not model and isinstance(loaded, SpeechT5HifiGan)
    features = log_mel(40)
    assert np.abs(reference(loaded, features) - reference(model, features)).max() < 1e-5


def test_hub_offline_fails_fast_in_one_line(hub_off, monkeypatch):
    """Hub off: the plugin says so at once; and the real hub call, reached anyway, fails fast."""
    start = time.time()
    with pytest.raises(PluginError) as offline:
        H.HifiganVocoder(device="cpu").load()
    assert "HF_HUB_OFFLINE" in str(offline.value) and "--vocoder-weights" in str(offline.value)
    monkeypatch.setattr(H, "hub_offline", lambda: False)  # as if online: the real
    monkeypatch.setattr(H, "hub_unreachable", lambda timeout=0: None)  # from_pretrained(HUB_ID) runs
    with pytest.raises(PluginError) as hub:
        H.HifiganVocoder(device="cpu").load()
    assert "from the hub" in str(hub.value) and "microsoft/speecht5_hifigan" in str(hub.value)
    assert "\n" not in str(offline.value) + str(hub.value)
    assert time.time() - start < 20


def test_unreachable_hub_is_detected_quickly(monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "https://nonexistent.invalid")
    for proxy in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(proxy, raising=False)
    start = time.time()
    assert "nonexistent.invalid cannot be reached" in H.hub_unreachable(timeout=2)
    assert time.time() - start < 15


# -- what comes out -----------------------------------------------------------------------------
@pytest.mark.parametrize("frames", [0, 1, 2, 57, 255])
def test_output_length(small, frames):
    _, folder = small
    out = H.HifiganVocoder(weights=str(folder), chunk_frames=50).vocode(log_mel(frames))
    assert out.shape == (frames * 256,) and out.dtype == np.float32
    assert np.isfinite(out).all()


def test_chunked_equals_single_pass_without_clicks(small):
    model, folder = small
    features = log_mel(700, seed=2)
    ref = reference(model, features)
    whole = H.HifiganVocoder(weights=str(folder), chunk_frames=10_000).vocode(features)
    assert np.abs(whole - ref).max() < 1e-5
    for chunk in (16, 64, 333):
        chunked = H.HifiganVocoder(weights=str(folder), chunk_frames=chunk).vocode(features)
        assert np.abs(chunked - whole).max() < 1e-5, chunk
    # at the seams of 64-frame windows, the sample-to-sample step is that of the single pass
    seams = np.array([start for start, *_ in H.windows(700, 64, 28)][1:]) * 256
    chunked = H.HifiganVocoder(weights=str(folder), chunk_frames=64).vocode(features)
    assert np.abs(np.diff(chunked)[seams - 1] - np.diff(whole)[seams - 1]).max() < 1e-5
    # and the overlap is what makes it so: without any, the seams differ
    bare = H.HifiganVocoder(weights=str(folder), chunk_frames=64, overlap_frames=0).vocode(features)
    assert np.abs(bare - whole).max() > 1e-3


def test_receptive_field_covers_the_network(small):
    model, _ = small
    features = log_mel(200, seed=4)
    moved = features.copy()
    moved[100] += 3.0
    changed = np.nonzero(np.abs(reference(model, moved) - reference(model, features)) > 0)[0]
    reach = max(100 - changed.min() / 256, changed.max() / 256 - 101)
    assert 20 < reach <= H.receptive_field(model.config)


def test_batch_equals_one_by_one(small):
    """Padded together (the padding masked before every convolution), each as if alone."""
    _, folder = small
    items = [log_mel(n, seed=n) for n in (300, 1, 0, 57, 129, 300)]
    voc = H.HifiganVocoder(weights=str(folder), chunk_frames=64, batch_size=4)
    batch = voc.vocode_batch(items)
    for features, out in zip(items, batch):
        assert out.shape == (len(features) * 256,)
        if len(features):
            assert np.abs(out - voc.vocode(features)).max() < 1e-5
    assert voc.vocode_batch([]) == []


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc to measure peak memory")
def test_ten_minutes_in_bounded_memory(tmp_path):
    """37,500 frames (10 min) through a small model whose single pass makes the process grow by
    ~2 GB (measured: chunk_frames=100000); in windows it grows by ~130 MB (< 250 MB asserted),
    ~60 MB of which are the input and output arrays themselves."""
    folder = save(random_model(upsample_initial_channel=32, resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1, 3, 5]]),
                  tmp_path / "m")
    code = f"""
        import numpy as np
        from spectrocodec_plugins.hifigan import HifiganVocoder

        def status(key):  # kB; VmHWM is this process's own peak (ru_maxrss would include the
            with open("/proc/self/status") as f:  # parent's: the kernel carries it over exec)
                return next(int(line.split()[1]) for line in f if line.startswith(key))

        voc = HifiganVocoder(weights={str(folder)!r}, device="cpu")
        voc.vocode(np.full((300, 80), -5.0, np.float32))  # warm: libraries and model loaded
        features = np.random.default_rng(0).normal(-5, 2, (37500, 80)).astype(np.float32)
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset VmHWM to the current RSS
        before = status("VmRSS:")
        out = voc.vocode(features)
        print(len(out), bool(np.isfinite(out).all()), (status("VmHWM:") - before) / 1024)
    """
    result = run_python(code, {**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300)
    assert result.returncode == 0, result.stderr
    samples, finite, grown_mb = result.stdout.split()
    assert int(samples) == 37500 * 256 and finite == "True"
    assert float(grown_mb) < 250, grown_mb


# -- parameters and devices ----------------------------------------------------------------------
def test_bad_parameters_are_refused():
    with pytest.raises(PluginError, match="CUDA only"):
        H.HifiganVocoder(device="cpu", dtype="float16")
    with pytest.raises(PluginError, match="dtype"):
        H.HifiganVocoder(dtype="int8")
    with pytest.raises(PluginError, match="device"):
        H.HifiganVocoder(device="tpu")
    with pytest.raises(PluginError, match="chunk_frames"):
        H.HifiganVocoder(chunk_frames=0)
    with pytest.raises(PluginError, match="batch_size"):
        H.HifiganVocoder(batch_size=1.5)
    with pytest.raises(PluginError, match="no parameter"):
        H.HifiganVocoder(iterations=3)


def test_bad_features_are_refused(small):
    _, folder = small
    with pytest.raises(PluginError, match="shape"):
        H.HifiganVocoder(weights=str(folder)).vocode(np.zeros((10, 81), np.float32))


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_is_one_line(small):
    _, folder = small
    with pytest.raises(PluginError, match="no CUDA") as info:
        H.HifiganVocoder(weights=str(folder), device="cuda").vocode(log_mel(3))
    assert "\n" not in str(info.value)
    assert H.HifiganVocoder(weights=str(folder)).device_name == "cpu"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cpu_and_cuda_agree(full):
    _, folder = full
    features = log_mel(400)
    cpu = H.HifiganVocoder(weights=str(folder), device="cpu").vocode(features)
    gpu = H.HifiganVocoder(weights=str(folder), device="cuda")
    assert gpu.device_name == "cuda"
    assert np.abs(gpu.vocode(features) - cpu).max() < 1e-3  # TF32 may be on for convolutions
    for dtype, tol in (("float16", 0.05), ("bfloat16", 0.2)):
        half = H.HifiganVocoder(weights=str(folder), device="cuda", dtype=dtype).vocode(features)
        assert half.dtype == np.float32 and np.abs(half - cpu).max() < tol, dtype
    items = [features[:n] for n in (400, 17, 250)]
    for out, item in zip(gpu.vocode_batch(items), items):
        assert np.abs(out - gpu.vocode(item)).max() < 1e-3


# -- the command line ---------------------------------------------------------------------------
def test_cli_without_weights(encoded, tmp_path):
    from spectrocodec.core.registry import Registry

    env = no_weights_env(tmp_path)
    start = time.time()
    result = run_cli("decode", encoded, "-o", tmp_path / "a.wav", "--vocoder", "hifigan", env=env)
    assert result.returncode != 0 and time.time() - start < 60
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("spectrocodec: error:") and "Traceback" not in result.stderr
    assert "hifigan" in lines[0] and "--vocoder-weights" in lines[0]
    assert not (tmp_path / "a.wav").exists()
    if "griffinlim" not in Registry.default().names("vocoder"):
        pytest.skip("griffinlim is not installed yet: the fallback of --vocoder auto cannot be checked")
    result = run_cli("decode", encoded, "-o", tmp_path / "b.wav", "--vocoder", "auto", env=env)
    assert result.returncode == 0, result.stderr
    assert "griffinlim" in result.stderr and "hifigan not used" in result.stderr
    assert (tmp_path / "b.wav").exists()


def test_cli_with_weights_from_env(encoded, small, tmp_path):
    import soundfile

    env = {**no_weights_env(tmp_path), H.ENV_VAR: str(small[1])}
    result = run_cli("decode", encoded, "-o", tmp_path / "a.wav", "--vocoder", "auto", "--device", "cpu", env=env)
    assert result.returncode == 0, result.stderr
    assert "hifigan on cpu" in result.stdout
    audio, rate = soundfile.read(tmp_path / "a.wav")
    assert rate == 16000 and abs(len(audio) / rate - 4.5) < 0.05


def test_cli_with_vocoder_weights(encoded, small, tmp_path):
    result = run_cli("decode", encoded, "-o", tmp_path / "a.wav", "--vocoder-weights", small[1],
                     env=no_weights_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "hifigan on cpu" in result.stdout
