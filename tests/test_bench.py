"""Smoke test of ``spectrocodec bench``: one short file, one configuration, and Opus when installed."""

from __future__ import annotations

import shutil

import pytest
import soundfile as sf

from spectrocodec.apps import bench, cli
from spectrocodec.core.registry import Registry


def _vocoder() -> str:
    """griffinlim when it is installed (end-to-end metrics), else none (features only)."""
    try:
        Registry.default().get_class("vocoder", "griffinlim")
    except Exception:
        return "none"
    return "griffinlim"


@pytest.fixture
def short_clip(sample, tmp_path):
    audio, rate = sf.read(str(sample), dtype="float32")
    path = tmp_path / "clip.wav"
    sf.write(str(path), audio[:rate], rate)  # 1 s: the vocoder runs three times
    return path


@pytest.fixture
def one_thread(monkeypatch):
    """torch on one thread, in-process and in the CLI processes, as benchmarks/bench_rd.py runs:
    on a machine whose cores are shared, torch's default threads make griffinlim many times slower."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    if _vocoder() == "none":
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_bench_one_configuration_then_resume(short_clip, tmp_path, capsys, one_thread):
    out = tmp_path / "out"
    vocoder = _vocoder()
    args = [str(short_clip), "-o", str(out), "--codec", "avif", "--quality", "50", "--bits", "10",
            "--vocoder", vocoder, "--opus", "none"]
    assert cli.main(["bench", *args]) == 0
    rows = bench.read_csv(out / "rd.csv")
    expected = ["avif/10bit/adaptive/q50/" + vocoder] + (["copy/" + vocoder] if vocoder != "none" else [])
    assert [r["config"] for r in rows] == expected
    row = rows[0]
    assert row["input"] == "clip" and row["duration_s"] == pytest.approx(1.0)
    data = next((out / "files").glob("clip.*.avif")).read_bytes()
    assert row["bytes"] == len(data) and row["kbps"] == pytest.approx(len(data) * 8 / 1.0 / 1000)
    assert row["payload_bytes"] + row["metadata_bytes"] + row["container_bytes"] == len(data)
    assert 8 <= row["metadata_bytes"] < 80  # the version-2 payload at the end of idat
    assert 0 < row["feature_mel_db"] < 10
    assert row["encode_xrt"] > 0 and row["cli_encode_xrt"] > 0
    if vocoder != "none":
        assert 1.0 <= row["pesq_wb"] <= 4.7 and 0 < row["stoi"] <= 1 and row["output_mel_db"] > 0
        assert row["decode_xrt"] > 0 and row["cli_decode_xrt"] > 0
    table = (out / "rd.md").read_text()
    assert "avif/10bit/adaptive/q50/" + vocoder in table
    assert (out / "rd.png").stat().st_size > 1000
    capsys.readouterr()

    # a second run measures nothing: the rows are in the CSV already
    assert cli.main(["bench", *args, "--no-cli"]) == 0
    assert "already in" in capsys.readouterr().err
    assert bench.read_csv(out / "rd.csv") == rows


@pytest.mark.skipif(shutil.which("opusenc") is None or shutil.which("opusdec") is None,
                    reason="opus-tools not installed (apt-get install opus-tools)")
def test_bench_opus(short_clip, tmp_path):
    out = tmp_path / "out"
    config = bench.opus_configs([6])
    assert bench.run_bench([short_clip], config, out) == 0
    (row,) = bench.read_csv(out / "rd.csv")
    assert row["config"] == "opus/6k" and row["codec"] == "opus"
    assert 5 < row["payload_bytes"] * 8 / row["duration_s"] / 1000 < 10  # the audio packets
    assert row["kbps"] > 6  # the whole .opus file: Ogg pages and tags (~1 kB) on top
    assert row["payload_bytes"] + row["metadata_bytes"] + row["container_bytes"] == row["bytes"]
    assert 1.0 <= row["pesq_wb"] <= 4.7 and 0.5 < row["stoi"] <= 1
    assert row["cli_encode_xrt"] > 0 and row["cli_decode_xrt"] > 0


def test_bench_without_opus_tools_says_so(monkeypatch, capsys):
    monkeypatch.setenv("PATH", "")
    assert bench.opus_configs([6, 8]) == []
    assert "apt-get install opus-tools" in capsys.readouterr().err


def test_rate_to_match_interpolates():
    points = [{"kbps": 1.0, "pesq_wb": 1.0}, {"kbps": 3.0, "pesq_wb": 2.0}, {"kbps": 5.0, "pesq_wb": 3.0}]
    assert bench.rate_to_match(points, "pesq_wb", 1.5) == pytest.approx(2.0)
    assert bench.rate_to_match(points, "pesq_wb", 0.5) == 1.0
    assert bench.rate_to_match(points, "pesq_wb", 3.5) is None
