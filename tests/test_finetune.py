"""``spectrocodec finetune``: it learns, resumes without repeating a step, exports weights that
``decode --vocoder hifigan --vocoder-weights`` loads, and starts again from its own export.

The training clips are synthetic (a voiced, vibrato-ed harmonic tone with pauses): the tests need
no corpus and never train on the validation speech. Torch runs on one thread here: on a shared
machine a second, busy core makes every step wait (measured: 0.3 s → 20 s per step)."""

from __future__ import annotations

import csv
import os
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from helpers import run_cli as _run_cli  # noqa: E402
from spectrocodec.apps.finetune.loop import train  # noqa: E402
from spectrocodec.apps.finetune.recipe import Recipe  # noqa: E402

SMALL = {"upsample_initial_channel": 64, "resblock_kernel_sizes": [3], "resblock_dilation_sizes": [[1, 3]]}
SMALL_ARGS = ["--generator", '{"upsample_initial_channel": 32, "resblock_kernel_sizes": [3], "resblock_dilation_sizes": [[1, 3]]}',
              "--disc-scale", "0.125", "--batch-size", "2", "--variants", "1", "--init", "random", "-q"]


def run_cli(*args, **kwargs):
    """The CLI in a subprocess with one torch thread (OMP_NUM_THREADS=1), as the fixture sets in-process."""
    return _run_cli(*args, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300, **kwargs)


def voice(seconds: float, seed: int = 0, rate: int = 16000) -> np.ndarray:
    """A speech-like test signal: 5 harmonics of a 110-180 Hz gliding pitch, on/off every ~0.4 s."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    pitch = 140 + 40 * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, 6))
    phase = 2 * np.pi * np.cumsum(pitch) / rate
    wave = sum(np.sin(k * phase) / k for k in range(1, 6))
    gate = 0.5 + 0.5 * np.tanh(8 * np.sin(2 * np.pi * 1.2 * t))
    return (0.25 * wave * gate + 0.003 * rng.standard_normal(len(t))).astype(np.float32)


@pytest.fixture(autouse=True)
def one_thread():
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


@pytest.fixture
def clip(tmp_path) -> Path:
    path = tmp_path / "clip.wav"
    sf.write(path, voice(2.0), 16000)
    return path


def mel_losses(run: Path) -> list[float]:
    with open(run / "metrics.csv", newline="") as handle:
        return [float(row["loss_mel"]) for row in csv.DictReader(handle)]


def test_small_generator_overfits_one_clip(clip, tmp_path):
    recipe = Recipe(steps=30, batch_size=4, generator=SMALL, disc_scale=0.125, variants=1, lr=1e-3,
                    init="random", checkpoint_every=1000)
    began = time.process_time()
    train([str(clip)], tmp_path / "run", recipe, quiet=True)
    losses = mel_losses(tmp_path / "run")
    assert len(losses) == 30
    assert min(losses[-5:]) < 0.5 * losses[0], losses
    assert time.process_time() - began < 60 * 3  # a CPU-minute on an idle machine; slack for a shared one


@pytest.mark.slow
def test_default_generator_learns_in_40_steps(clip, tmp_path):
    """The default generator (12.7 M parameters); discriminators at a quarter of HiFi-GAN's width (4.4 M
    instead of 70.7 M parameters, whose AdamW updates alone would take most of a CPU-minute)."""
    recipe = Recipe(steps=40, batch_size=1, segment_frames=16, variants=1, init="random", checkpoint_every=1000,
                    disc_scale=0.25)
    train([str(clip)], tmp_path / "run", recipe, quiet=True)
    losses = mel_losses(tmp_path / "run")
    assert len(losses) == 40
    assert np.mean(losses[-10:]) < 0.85 * np.mean(losses[:5]), losses


def test_resume_export_decode_and_init_from_export(clip, tmp_path):
    run = tmp_path / "run"
    done = run_cli("finetune", clip, "--out", run, "--steps", "3", "--checkpoint-every", "3", *SMALL_ARGS)
    assert done.returncode == 0, done.stderr
    assert (run / "vocoder" / "config.json").is_file() and (run / "vocoder" / "model.safetensors").is_file()
    done = run_cli("finetune", clip, "--out", run, "--steps", "6", "--checkpoint-every", "3", "-q")
    assert done.returncode == 0, done.stderr
    with open(run / "metrics.csv", newline="") as handle:
        assert [int(row["step"]) for row in csv.DictReader(handle)] == [1, 2, 3, 4, 5, 6]
    # the export decodes through the hifigan vocoder
    image = tmp_path / "clip.avif"
    assert run_cli("encode", clip, "-o", image, "-q").returncode == 0
    out = tmp_path / "out.wav"
    done = run_cli("decode", image, "-o", out, "--vocoder", "hifigan", "--vocoder-weights", run / "vocoder", "-q")
    assert done.returncode == 0, done.stderr
    wave, rate = sf.read(out)
    assert rate == 16000 and abs(len(wave) - 32000) <= 256 and np.isfinite(wave).all()
    # and a new run starts from it
    again = tmp_path / "again"
    done = run_cli("finetune", clip, "--out", again, "--steps", "2", "--init", run / "vocoder",
                   "--disc-scale", "0.125", "--batch-size", "2", "--variants", "1")
    assert done.returncode == 0, done.stderr
    assert f"weights from {run / 'vocoder'}" in done.stderr
    assert len(mel_losses(again)) == 2


def test_resumed_run_equals_an_uninterrupted_one(clip, tmp_path):
    small = dict(batch_size=2, generator=SMALL, disc_scale=0.125, variants=1, init="random", checkpoint_every=2)
    train([str(clip)], tmp_path / "a", Recipe(steps=4, **small), quiet=True)
    train([str(clip)], tmp_path / "b", Recipe(steps=2, **small), quiet=True)
    train([str(clip)], tmp_path / "b", Recipe(steps=4, **small), quiet=True)
    assert mel_losses(tmp_path / "a") == pytest.approx(mel_losses(tmp_path / "b"), rel=1e-4)


def test_steps_lost_after_a_kill_are_redone_once(clip, tmp_path):
    """A kill after step 5 with the last checkpoint at step 4: step 5's row is dropped and redone."""
    run = tmp_path / "run"
    small = dict(batch_size=2, generator=SMALL, disc_scale=0.125, variants=1, init="random", checkpoint_every=4)
    train([str(clip)], run, Recipe(steps=4, **small), quiet=True)
    with open(run / "metrics.csv", "a") as handle:  # what a kill during step 6 leaves behind
        handle.write("5,1,1,1,1,1,0.0002,0.1\n")
    train([str(clip)], run, Recipe(steps=6, **small), quiet=True)
    with open(run / "metrics.csv", newline="") as handle:
        assert [int(row["step"]) for row in csv.DictReader(handle)] == [1, 2, 3, 4, 5, 6]


def test_validation_scores_held_out_files_and_writes_examples(tmp_path):
    for seed in range(2):
        sf.write(tmp_path / f"v{seed}.wav", voice(1.5, seed), 16000)
    run = tmp_path / "run"
    recipe = Recipe(steps=2, batch_size=2, generator=SMALL, disc_scale=0.125, variants=1, init="random",
                    val_files=1, validate_every=2)
    summary = train([str(tmp_path / "v0.wav"), str(tmp_path / "v1.wav")], run, recipe, quiet=True)
    with open(run / "validation.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 1 and rows[0]["step"] == "2" and float(rows[0]["mel_db"]) > 0
    assert "mel_db" in summary
    assert len(list((run / "samples").glob("step0000002_*.wav"))) == 1


@pytest.mark.parametrize("flags, message", [
    (["--steps", "0"], "--steps"), (["--steps", "2", "--quality", "80,20"], "--quality"),
    (["--steps", "2", "--generator", "[1]"], "--generator"),
    (["--steps", "2", "--init", "/no/such/dir"], "does not exist"),
    (["--steps", "2", "--bitrate", "2,4", "--quality", "40,60"], "exclusive"),
    (["--steps", "2", "--bitrate", "4,2"], "--bitrate"),
])
def test_bad_arguments_are_one_line_errors(clip, tmp_path, flags, message):
    done = run_cli("finetune", clip, "--out", tmp_path / "run", *flags, "--variants", "1")
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("spectrocodec: error:")


def test_missing_data_is_an_error(tmp_path):
    done = run_cli("finetune", tmp_path / "none.wav", "--out", tmp_path / "run", "--steps", "2")
    assert done.returncode == 2 and "does not exist" in done.stderr


@pytest.mark.gpu
def test_mixed_precision_on_cuda(clip, tmp_path):
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    recipe = Recipe(steps=20, batch_size=4, generator=SMALL, disc_scale=0.125, variants=1, lr=1e-3,
                    init="random", device="cuda", checkpoint_every=10)
    train([str(clip)], tmp_path / "run", recipe, quiet=True)
    losses = mel_losses(tmp_path / "run")
    assert len(losses) == 20 and np.isfinite(losses).all()
    assert min(losses[-5:]) < losses[0]
    assert (tmp_path / "run" / "vocoder" / "model.safetensors").is_file()


def test_cuda_without_cuda_is_a_one_line_error(clip, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("CUDA is present")
    done = run_cli("finetune", clip, "--out", tmp_path / "run", "--steps", "2", "--device", "cuda")
    assert done.returncode == 2 and "no CUDA" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "run").exists()


def test_round_trips_run_in_worker_processes_and_are_cached(tmp_path):
    from spectrocodec.apps.finetune import data

    files = []
    for seed in range(3):
        files.append(tmp_path / f"v{seed}.wav")
        sf.write(files[-1], voice(1.0, seed), 16000)
    items = data.prepare(files, tmp_path / "cache", "avif", (30, 70), 10, 2, 0, workers=2)
    assert [item.name for item in items] == ["v0.wav", "v1.wav", "v2.wav"]
    assert all(item.features.shape == (2, 63, 80) and item.audio.shape == (63 * 256,) for item in items)
    assert all(30 <= q <= 70 for item in items for q in item.qualities)
    cached = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert len(cached) == 6
    again = data.prepare(files, tmp_path / "cache", "avif", (30, 70), 10, 2, 0, workers=2)
    np.testing.assert_array_equal(again[1].features, items[1].features)
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == cached


def test_bitrate_range_drives_the_round_trips(clip, tmp_path):
    from spectrocodec.apps.finetune import data

    run = tmp_path / "run"
    recipe = Recipe(steps=1, batch_size=1, generator=SMALL, disc_scale=0.125, variants=2, init="random",
                    bitrate=(2.5, 3.5))
    train([str(clip)], run, recipe, quiet=True)
    assert len(mel_losses(run)) == 1
    targets = data.qualities_for(clip, 2.5, 3.5, 2, 0)
    assert all(2.5 <= t <= 3.5 for t in targets)
    key = data.cache_key(clip, "avif", targets, 10, "bitrate")
    assert (run / "cache" / f"{key}.feats.npy").is_file()
