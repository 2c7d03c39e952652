"""Property and fuzz tests (issue 7).

- A hypothesis property test of encode → decode on random short signals and settings (codec,
  bits, range, quality, lossless, rate, channels): only the project's own errors, for settings a
  codec cannot take; otherwise the right shapes, lengths, metadata and (lossless) exact features.
- A short bounded run of benchmarks/fuzz_decoder.py (a few hundred mutated files of every codec,
  each decoded through the API in a worker with a time bound and a memory cap): no exception but
  SpectrocodecError, no hang, no crash. The long run's figures are in docs/robustness.md.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spectrocodec.core import api, mapping
from spectrocodec.core import channels as layouts
from spectrocodec.errors import PluginError, SpectrocodecError
from helpers import StubVocoder
from spectrocodec.core.pipeline import Pipeline
from spectrocodec.core.registry import Registry

ROOT = Path(__file__).resolve().parents[1]
CODECS = [c for c in Registry.default().classes("codec") if c.unavailable() is None]


def _signal(kind: str, n: int, channels: int, amplitude: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)[:, None]
    if kind == "noise":
        audio = rng.standard_normal((n, channels))
    elif kind == "tone":
        audio = np.sin(t * rng.uniform(0.01, 1.5, channels)[None, :])
    elif kind == "impulse":
        audio = np.zeros((n, channels))
        if n:
            audio[rng.integers(0, n)] = 1.0
    else:
        audio = np.zeros((n, channels))
    return (amplitude * audio).astype(np.float32)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(data=st.data(), n=st.integers(0, 6000), rate=st.sampled_from([8000, 11025, 16000, 44100, 48000]),
       channels=st.integers(1, 3), amplitude=st.floats(0.0, 4.0), kind=st.sampled_from(["noise", "tone", "impulse", "silence"]),
       range_mode=st.sampled_from(["adaptive", "fixed"]), seed=st.integers(0, 2**16))
def test_encode_decode_property(data, n, rate, channels, amplitude, kind, range_mode, seed):
    cls = data.draw(st.sampled_from(CODECS), label="codec")
    bits = data.draw(st.sampled_from(sorted(set(cls.bit_depths) & {8, 10, 12, 16})), label="bits")
    lossless = data.draw(st.booleans(), label="lossless")
    quality = data.draw(st.none() | st.integers(*cls.quality_range), label="quality")
    audio = _signal(kind, n, channels, amplitude, seed)
    settings_ = dict(codec=cls.name, backend=cls.backend, bits=bits, range=range_mode, quality=quality, lossless=lossless)
    if lossless and not cls.lossless:
        with pytest.raises(PluginError):
            api.encode(audio, sample_rate=rate, **settings_)
        return
    encoded = api.encode(audio, sample_rate=rate, **settings_)  # valid settings: must not raise
    details = api.info(encoded)
    assert details["codec"] == cls.name and details["bits"] == bits and details["range_mode"] == range_mode
    assert (details["sample_rate"], details["num_samples"], details["channels"]) == (rate, n, channels)
    n16 = round(n * 16000 / rate)
    decoded = api.read_features(encoded)
    shape = (1 + n16 // 256, 80) if channels == 1 else (channels, 1 + n16 // 256, 80)  # channels kept
    assert decoded.features.shape == shape and decoded.features.dtype == np.float32
    lo, hi = details["range"]
    assert np.isfinite(decoded.features).all() and lo - 1e-3 <= decoded.features.min() and decoded.features.max() <= hi + 1e-3
    if lossless or not cls.lossy:  # lossless: exactly the quantised features
        pipe = Pipeline()
        quantised = lambda f: mapping.from_image(mapping.to_image(f, lo, hi, bits), lo, hi, bits)  # noqa: E731
        if channels == 1:
            expected = quantised(pipe._extractor().extract(audio, rate))
        else:  # each channel's features through the file's layout
            per = np.stack([pipe._extractor().extract(audio[:, c], rate) for c in range(channels)])
            planes = [quantised(p) for p in layouts.to_planes(per, details["layout"], lo, hi)]
            expected = np.broadcast_to(layouts.from_planes(np.stack(planes), details["layout"], lo, hi), shape)
        assert np.array_equal(decoded.features, expected)
    waveform, out_rate = Pipeline(vocoder=StubVocoder()).decode(encoded)
    assert out_rate == 16000 and waveform.shape == ((n16,) if channels == 1 else (n16, channels)) and np.isfinite(waveform).all()


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_property_inputs_that_must_be_refused(bad):
    audio = np.zeros(1000, np.float32)
    audio[10] = bad
    with pytest.raises(SpectrocodecError):
        api.encode(audio, sample_rate=16000)


def _fuzzer():
    spec = importlib.util.spec_from_file_location("fuzz_decoder", ROOT / "benchmarks" / "fuzz_decoder.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass needs to find its module
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_short_fuzz_run_raises_only_project_errors(tmp_path):
    summary = _fuzzer().run(["--inputs", "500", "--seed", "test", "--timeout", "10", "--quiet", "--out", str(tmp_path)])
    assert summary["inputs"] == 500
    assert summary["outcomes"].get("bug", 0) == 0, [(b["kind"], b["how"], b["detail"].strip().splitlines()[-1]) for b in summary["bugs"]]
    assert summary["outcomes"].get("project", 0) > 100 and summary["outcomes"].get("ok", 0) > 0
    assert len(summary["seeds"]) >= 4  # lossy, lossless and folded AVIF at least, plus plain images
