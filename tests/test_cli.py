"""The spectrocodec command: encode, info, plugins, and its error paths (one line, non-zero exit)."""

from __future__ import annotations

import hashlib
import json

import pytest
from PIL import Image

from helpers import run_cli


def _assert_one_line_error(result, *words):
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("spectrocodec")
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0]


def test_help_is_instant_and_lists_commands():
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("encode", "decode", "info", "plugins", "report", "bench"):
        assert command in result.stdout


def test_encode_corpus_speech_q60_10bit(speech_files, tmp_path):
    source = speech_files[0]
    before = hashlib.sha256(source.read_bytes()).hexdigest()
    out = tmp_path / "speech.avif"
    result = run_cli("encode", source, "-o", out, "--quality", "60", "--bits", "10")
    assert result.returncode == 0, result.stderr
    assert "kbps" in result.stdout
    assert hashlib.sha256(source.read_bytes()).hexdigest() == before
    with Image.open(out) as image:
        assert image.format == "AVIF" and image.size[1] == 80
    info = run_cli("info", out)
    assert info.returncode == 0
    assert "10-bit" in info.stdout and "kbps" in info.stdout and "spectrocodec format version 2" in info.stdout and "container:   standard" in info.stdout
    details = json.loads(run_cli("info", out, "--json").stdout)
    assert details["bits"] == 10 and details["sample_rate"] == 16000 and details["kbps"] > 0


def test_encode_default_output_name(sample, tmp_path):
    source = tmp_path / "clip.flac"
    source.write_bytes(sample.read_bytes())
    assert run_cli("encode", source).returncode == 0
    assert (tmp_path / "clip.avif").exists()


def test_existing_output_is_not_overwritten_without_force(sample, tmp_path):
    out = tmp_path / "x.avif"
    out.write_bytes(b"precious")
    _assert_one_line_error(run_cli("encode", sample, "-o", out), "already exists", "--force")
    assert out.read_bytes() == b"precious"
    assert run_cli("encode", sample, "-o", out, "--force").returncode == 0
    assert out.read_bytes()[4:8] == b"ftyp"


def test_plugins_lists_every_kind():
    result = run_cli("plugins")
    assert result.returncode == 0
    assert "speecht5" in result.stdout and "avif" in result.stdout
    listing = json.loads(run_cli("plugins", "--json").stdout)
    assert {"feature", "codec", "broken"} <= set(listing)


@pytest.mark.parametrize("args, words", [
    (["encode", "missing.wav", "-o", "x.avif"], ["does not exist"]),
    (["encode", "{bad}", "-o", "x.avif"], ["cannot read"]),
    (["encode", "{sample}", "-o", "x.avif", "--codec", "nope"], ["no codec named 'nope'", "avif"]),
    (["encode", "{sample}", "-o", "x.avif", "--bits", "9"], ["9-bit"]),
    (["encode", "{sample}", "-o", "x.avif", "--quality", "101"], ["quality"]),
    (["encode", "{sample}", "-o", "x.avif", "--param", "colour"], ["KEY=VALUE"]),
    (["encode", "{sample}", "-o", "nofolder/x.avif"], ["does not exist"]),
    (["encode", "{sample}", "-o", "{sample}"], ["input"]),
    (["decode", "{sample}", "-o", "x.wav"], ["not an image format"]),
    (["decode", "missing.avif"], ["does not exist"]),
    (["info", "{sample}"], ["not an image format"]),
    (["encode", "{sample}", "--bogus"], ["unrecognized arguments"]),
])
def test_error_paths_are_one_line(args, words, sample, tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really a wave file")
    args = [a.format(sample=sample, bad=bad) for a in args]
    result = run_cli(*args, cwd=tmp_path)
    _assert_one_line_error(result, *words)
    assert not (tmp_path / "x.avif").exists() and not (tmp_path / "x.wav").exists()
    assert not list(tmp_path.glob(".spectrocodec-*"))
