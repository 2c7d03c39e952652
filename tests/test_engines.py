"""--engine local|ray: the same bytes from both engines, resume after a kill, per-file errors,
fsspec URLs, batched decoding, and the one-line error without Ray.

The Ray tests share one small local cluster (2 CPUs) started once for the module; they skip,
with the reason, when Ray is not installed (pip install 'spectrocodec[ray]')."""

from __future__ import annotations

import filecmp
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import soundfile as sf

from helpers import CORPUS, run_cli

from spectrocodec.apps.cli import main

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # from inside Ray Data
TRAIN = sorted((CORPUS / "train").rglob("*.*")) if CORPUS.exists() else []


def clips(folder: Path, count: int, seconds: float = 1.5) -> Path:
    """``count`` clips of real speech (the corpus' train files), in nested folders, FLAC and WAV."""
    if not TRAIN:
        pytest.skip(f"corpus not found at {CORPUS}")
    for n in range(count):
        audio, rate = sf.read(TRAIN[(n * 7) % len(TRAIN)], dtype="float32")
        path = folder / ["", "a", "a/b"][n % 3] / f"clip{n}{'.flac' if n % 2 else '.wav'}"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, audio[: int(seconds * rate)], rate)
    return folder


def same_tree(a: Path, b: Path) -> None:
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert files_a == files_b and files_a
    for rel in files_a:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel


@pytest.fixture(scope="module")
def encoded(tmp_path_factory) -> tuple[Path, Path]:
    """(audio folder, its encoding by the local engine)."""
    root = tmp_path_factory.mktemp("engines")
    source = clips(root / "in", 4)
    assert main(["encode", str(source), "-o", str(root / "local"), "-q"]) == 0
    return source, root / "local"


# -- without Ray ----------------------------------------------------------------------------------
@pytest.mark.parametrize("command", ["encode", "decode", "report", "bench"])
def test_help_lists_engine_and_address(command):
    done = run_cli(command, "--help")
    assert "--engine {local,ray}" in done.stdout and "--address" in done.stdout


def test_without_ray_one_line_error(tmp_path, monkeypatch, capsys, encoded):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray → ImportError
    assert main(["encode", str(encoded[0]), "-o", str(tmp_path / "out"), "--engine", "ray"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("spectrocodec: error:") and "pip install 'spectrocodec[ray]'" in err[0]


def test_address_needs_ray_engine(tmp_path, capsys, encoded):
    assert main(["encode", str(encoded[0]), "-o", str(tmp_path / "out"), "--address", "auto"]) == 2
    assert "--address needs --engine ray" in capsys.readouterr().err


def test_decode_batch_equals_decode_file(tmp_path, encoded):
    from spectrocodec.apps import batch
    from spectrocodec.apps.batch import decode_batch

    settings = {"vocoder": "griffinlim", "weights": None, "device": "cpu", "params": {"iterations": 8}, "rate": None,
                "force": False}
    images = sorted(encoded[1].rglob("*.avif"))[:2]
    bad = tmp_path / "bad.avif"
    bad.write_bytes(b"not an image")
    tasks = [(str(p), str(tmp_path / f"{n}.wav"), settings) for n, p in enumerate([*images, bad])]
    one = [batch.decode_file(src, dst.replace(".wav", ".one.wav"), s) for src, dst, s in tasks]
    many = decode_batch(tasks)
    assert [r["ok"] for r in many] == [r["ok"] for r in one] == [True, True, False]
    assert many[2]["error"] == one[2]["error"]
    for n in range(2):
        assert filecmp.cmp(tmp_path / f"{n}.wav", tmp_path / f"{n}.one.wav", shallow=False)


def test_url_folders_memory_filesystem(encoded, capsys):
    """fsspec URLs through download → task → upload (memory://, in this process: -j 1)."""
    fsspec = pytest.importorskip("fsspec")
    fs = fsspec.filesystem("memory")
    source, local = encoded
    for path in source.rglob("*.*"):
        fs.pipe(f"/engines-in/{path.relative_to(source).as_posix()}", path.read_bytes())
    assert main(["encode", "memory://engines-in", "-o", "memory://engines-out", "-j", "1", "-q"]) == 0
    for path in local.rglob("*.avif"):
        assert fs.cat(f"/engines-out/{path.relative_to(local).as_posix()}") == path.read_bytes()
    assert main(["encode", "memory://engines-in", "-o", "memory://engines-out", "-j", "1"]) == 0
    err = capsys.readouterr().err
    assert "4 already done, skipped" in err and "into memory://engines-out" in err


# -- on a local Ray cluster ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ray_cluster():
    """One local Ray cluster (2 CPUs) for the module; the engine joins it instead of starting its own."""
    pytest.importorskip("ray", reason="Ray is not installed: pip install 'spectrocodec[ray]'")
    from spectrocodec.apps.engines.ray import RayEngine

    engine = RayEngine(jobs=2)
    engine.connect()
    yield engine.ray.get_runtime_context().gcs_address
    engine.close()


def test_ray_encode_decode_same_bytes(ray_cluster, encoded, tmp_path, capsys):
    """Plain paths are checked by test_ray_killed_then_resumed; here file:// URLs (the fsspec path)."""
    source, local = encoded
    assert main(["encode", f"file://{source}", "-o", f"file://{tmp_path / 'url'}", "--engine", "ray"]) == 0
    same_tree(local, tmp_path / "url")
    assert "ray (local cluster" in capsys.readouterr().err
    decode = ["--vocoder", "griffinlim", "--param", "iterations=8", "-q"]
    assert main(["decode", str(local), "-o", str(tmp_path / "wav-local"), "-j", "1", *decode]) == 0
    assert main(["decode", str(local), "-o", str(tmp_path / "wav-ray"), "--engine", "ray", *decode]) == 0
    same_tree(tmp_path / "wav-local", tmp_path / "wav-ray")


def test_ray_device_cuda_without_gpu(ray_cluster, encoded, tmp_path, capsys):
    assert main(["decode", str(encoded[1]), "-o", str(tmp_path / "out"), "--engine", "ray", "--device", "cuda",
                 "--vocoder", "griffinlim"]) == 2
    assert "--device cuda: the Ray cluster has no GPU" in capsys.readouterr().err
    assert not list((tmp_path / "out").rglob("*.wav"))


def test_ray_bad_file_reported_others_done(ray_cluster, encoded, tmp_path, capsys):
    source = tmp_path / "in"
    for path in encoded[0].rglob("*.*"):
        (source / path.relative_to(encoded[0])).parent.mkdir(parents=True, exist_ok=True)
        (source / path.relative_to(encoded[0])).write_bytes(path.read_bytes())
    (source / "a" / "broken.wav").write_bytes(b"RIFF....WAVEfmt nonsense")
    assert main(["encode", str(source), "-o", str(tmp_path / "out"), "--engine", "ray"]) == 2
    err = capsys.readouterr().err
    assert "failed:" in err and "broken.wav" in err and "1 of 5 file(s) failed" in err
    same_tree(encoded[1], tmp_path / "out")


def test_ray_killed_then_resumed(ray_cluster, tmp_path):
    """Kill a run (SIGKILL) after its first outputs; the next run does only the rest, and the
    result is the local engine's bytes; no partial file under a final name at any time."""
    source = clips(tmp_path / "in", 12, seconds=3.0)
    out = tmp_path / "out"
    env = {**os.environ, "RAY_ADDRESS": ray_cluster}
    run = subprocess.Popen([sys.executable, "-m", "spectrocodec", "encode", str(source), "-o", str(out),
                            "--engine", "ray", "--address", ray_cluster, "-j", "1"], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while len(list(out.rglob("*.avif"))) < 2 and time.monotonic() < deadline and run.poll() is None:
        time.sleep(0.05)
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    first = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.rglob("*.avif")}
    assert 2 <= len(first) < 12, f"killed too late or too early: {len(first)} done"
    time.sleep(2)  # the cluster ends the dead driver's tasks
    for path in out.rglob("*.avif"):  # complete images only, even right after a kill
        assert path.read_bytes()[4:8] == b"ftyp"
    done = run_cli("encode", source, "-o", out, "--engine", "ray", "--address", ray_cluster, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "already done, skipped" in done.stderr
    for path, stamp in first.items():  # finished files were not redone
        assert (path.stat().st_ino, path.stat().st_mtime_ns) == stamp
    assert main(["encode", str(source), "-o", str(tmp_path / "local"), "-q"]) == 0
    same_tree(tmp_path / "local", out)
    assert not list(out.rglob(".spectrocodec-*"))
