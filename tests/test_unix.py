"""Behaving like a Unix tool and a Python library (issue 15), end to end from the CLI and the API:
stdin/stdout, FIFOs, device nodes, links, umask, -o extensions, per-codec defaults, parameter
validation at parse time, clipping, long WebP, memory of ``info`` on a hostile file, the API cases."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import spectrocodec
from helpers import run_cli, tone
from spectrocodec.core import api
from spectrocodec.core.errors import SpectrocodecError

CLI = [sys.executable, "-m", "spectrocodec"]


def one_line_error(result, *words):
    assert result.returncode != 0, result.stdout
    stderr = result.stderr.decode("utf-8", "replace") if isinstance(result.stderr, bytes) else result.stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("spectrocodec: error:"), lines[0]
    for word in words:
        assert word in lines[0], lines[0]


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """A folder with talk.wav (1.5 s tone) and talk.avif encoded from it."""
    folder = tmp_path_factory.mktemp("unix")
    sf.write(folder / "talk.wav", tone(1.5), 16000)
    (folder / "talk.avif").write_bytes(api.encode(folder / "talk.wav", speed=9))
    return folder


def bytes_run(args, stdin=None, cwd=None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *map(str, args)], input=stdin, capture_output=True, timeout=120, cwd=cwd, **kwargs)


# -- standard input and output, FIFOs -------------------------------------------------------------
def test_stdin_to_stdout_is_byte_identical_to_file_output(work, tmp_path):
    out = tmp_path / "file.avif"
    assert run_cli("encode", work / "talk.wav", "-o", out, "--speed", "9").returncode == 0
    piped = bytes_run(["encode", "-", "-o", "-", "--speed", "9"], stdin=(work / "talk.wav").read_bytes())
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout == out.read_bytes()  # nothing but the image on stdout
    assert b"bytes" in piped.stderr  # the summary went to stderr
    dec_file = tmp_path / "file.wav"
    assert run_cli("decode", out, "-o", dec_file, "--param", "iterations=4").returncode == 0
    dec_pipe = bytes_run(["decode", "-", "-o", "-", "--param", "iterations=4"], stdin=out.read_bytes())
    assert dec_pipe.returncode == 0, dec_pipe.stderr
    assert dec_pipe.stdout == dec_file.read_bytes()


def test_bad_audio_on_stdin_is_named_as_such():
    result = bytes_run(["encode", "-", "-o", "-"], stdin=b"RIFF this is not a wave file at all")
    one_line_error(result, "standard input")
    assert b".spectrocodec-" not in result.stderr and result.stdout == b""


def test_stdin_needs_an_output(work):
    one_line_error(bytes_run(["encode", "-"], stdin=(work / "talk.wav").read_bytes()), "-o")


@pytest.mark.parametrize("command", ["encode", "decode"])
def test_fifo_input_is_read_as_a_stream(work, tmp_path, command):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    source = work / ("talk.wav" if command == "encode" else "talk.avif")
    writer = threading.Thread(target=lambda: fifo.write_bytes(source.read_bytes()))
    writer.start()
    out = tmp_path / ("out.avif" if command == "encode" else "out.wav")
    result = run_cli(command, fifo, "-o", out, *(["--param", "iterations=4"] if command == "decode" else []))
    writer.join(10)
    assert result.returncode == 0, result.stderr
    assert out.stat().st_size > 100


# -- device nodes, links, permissions -------------------------------------------------------------
def test_dev_null_is_written_into_never_replaced(work):
    before = os.stat("/dev/null")
    one_line_error(run_cli("encode", work / "talk.wav", "-o", "/dev/null"), "already exists")
    assert run_cli("encode", work / "talk.wav", "-o", "/dev/null", "--force", "--speed", "9").returncode == 0
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and (after.st_ino, after.st_rdev) == (before.st_ino, before.st_rdev)


def test_dev_stdout_gets_exactly_the_file(work, tmp_path):
    out = tmp_path / "x.avif"
    assert run_cli("encode", work / "talk.wav", "-o", out, "--speed", "9").returncode == 0
    piped = bytes_run(["encode", work / "talk.wav", "-o", "/dev/stdout", "--force", "--speed", "9"])
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout == out.read_bytes()


def test_force_on_a_symlink_writes_its_target_and_keeps_the_link(work, tmp_path):
    target, link = tmp_path / "real.avif", tmp_path / "link.avif"
    target.write_bytes(b"old")
    link.symlink_to(target)
    assert run_cli("encode", work / "talk.wav", "-o", link, "--force", "--speed", "9").returncode == 0
    assert link.is_symlink() and target.read_bytes()[4:8] == b"ftyp"


def test_links_to_the_input_are_refused(work, tmp_path):
    source = tmp_path / "in.wav"
    source.write_bytes((work / "talk.wav").read_bytes())
    hard = tmp_path / "hard.avif"
    os.link(source, hard)
    one_line_error(run_cli("encode", source, "-o", hard, "--force"), "is the input")
    assert source.read_bytes() == (work / "talk.wav").read_bytes()
    soft = tmp_path / "soft.avif"
    soft.symlink_to(source)
    one_line_error(run_cli("encode", source, "-o", soft, "--force"), "is the input")


def test_symlink_loop_output_is_one_line(work, tmp_path):
    loop = tmp_path / "loop.avif"
    loop.symlink_to(loop)
    one_line_error(run_cli("encode", work / "talk.wav", "-o", loop, "--force"), "loop")


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_outputs_follow_the_umask(work, tmp_path, umask, mode):
    out = tmp_path / "x.avif"
    result = subprocess.run([*CLI, "encode", str(work / "talk.wav"), "-o", str(out), "--speed", "9"],
                            capture_output=True, preexec_fn=lambda: os.umask(umask), timeout=60)
    assert result.returncode == 0
    assert stat.S_IMODE(out.stat().st_mode) == mode


def test_too_long_default_name_is_one_line(work, tmp_path):
    source = tmp_path / ("a" * 250 + ".avif")
    source.write_bytes((work / "talk.avif").read_bytes())
    one_line_error(run_cli("decode", source), "bytes", "shorter")


def test_non_utf8_and_control_character_names(work, tmp_path):
    name = os.fsencode(tmp_path) + b"/caf\xe9\x1b[31m.wav"
    with open(name, "wb") as handle:
        handle.write((work / "talk.wav").read_bytes())
    result = subprocess.run([*CLI, "encode", name, "--speed", "9"], capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert b"\x1b" not in result.stdout and b"\\xe9\\x1b[31m.avif" in result.stdout
    assert os.path.exists(os.fsencode(tmp_path) + b"/caf\xe9\x1b[31m.avif")
    missing = subprocess.run([*CLI, "info", os.fsencode(tmp_path) + b"/n\x1bo.avif"], capture_output=True, timeout=60)
    assert b"\x1b" not in missing.stderr and b"n\\x1bo.avif" in missing.stderr


# -- the output format follows -o; defaults ---------------------------------------------------------
@pytest.mark.parametrize("extension, magic", [(".webp", b"WEBP"), (".jxl", None), (".png", b"PNG"), (".avif", b"ftyp")])
def test_extension_chooses_the_codec(work, tmp_path, extension, magic):
    out = tmp_path / f"x{extension}"
    result = run_cli("encode", work / "talk.wav", "-o", out)
    assert result.returncode == 0, result.stderr
    assert api.info(out)["codec"] == extension[1:]
    if magic:
        assert magic in out.read_bytes()[:16]


def test_extension_contradicting_codec_is_an_error(work, tmp_path):
    one_line_error(run_cli("encode", work / "talk.wav", "-o", tmp_path / "x.webp", "--codec", "avif"), "webp", "--codec")
    assert not (tmp_path / "x.webp").exists()


@pytest.mark.parametrize("extension, fmt", [(".flac", "FLAC"), (".ogg", "OGG"), (".wav", "WAV"), (".aiff", "AIFF")])
def test_decode_extension_chooses_the_audio_format(work, tmp_path, extension, fmt):
    out = tmp_path / f"y{extension}"
    result = run_cli("decode", work / "talk.avif", "-o", out, "--param", "iterations=4")
    assert result.returncode == 0, result.stderr
    assert sf.info(str(out)).format == fmt


def test_decode_to_an_unknown_extension_is_refused_before_work(work, tmp_path):
    one_line_error(run_cli("decode", work / "talk.avif", "-o", tmp_path / "y.avif"), "extension")


def test_bits_default_per_codec(work, tmp_path):
    out = tmp_path / "talk.webp"
    result = run_cli("encode", work / "talk.wav", "-o", out, "--codec", "webp", "--lossless")
    assert result.returncode == 0, result.stderr
    assert api.info(out)["bits"] == 8
    assert api.info(work / "talk.avif")["bits"] == 10


def test_default_decode_name_does_not_collide_with_the_source(work, tmp_path):
    source, image = tmp_path / "talk.wav", tmp_path / "talk.avif"
    source.write_bytes((work / "talk.wav").read_bytes())
    assert run_cli("encode", source, "--speed", "9").returncode == 0
    result = run_cli("decode", image, "--param", "iterations=4")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "talk.decoded.wav").exists() and "talk.decoded.wav" in result.stdout
    assert source.read_bytes() == (work / "talk.wav").read_bytes()


# -- validation at parse time ------------------------------------------------------------------------
@pytest.mark.parametrize("args, words", [
    (["--speed", "99"], ["speed", "to 10", "99"]),
    (["--quality", "150"], ["quality", "150"]),
    (["--param", "threads=abc"], ["threads", "whole number"]),
    (["--param", "threads=100000"], ["threads", "1 to 64"]),
    (["--speed", "3", "--param", "speed=5"], ["--speed", "once"]),
    (["--param", "a=1", "--param", "a=2"], ["twice"]),
    (["--param", "colour=red"], ["no parameter colour"]),
    (["--codec", "png", "--quality", "50"], ["lossless only"]),
    (["--codec", "webp", "--param", "method=2.5"], ["method"]),
])
def test_bad_encode_options_are_one_line_before_work(work, tmp_path, args, words):
    out = tmp_path / "x.img"
    one_line_error(run_cli("encode", work / "talk.wav", "-o", out, *args), *words)
    assert not out.exists()


@pytest.mark.parametrize("param, words", [("iterations=1e9", ["iterations", "10000"]), ("threads=abc", ["threads"]),
                                          ("momentum=2", ["momentum"])])
def test_bad_vocoder_params_are_one_line(work, tmp_path, param, words):
    one_line_error(run_cli("decode", work / "talk.avif", "-o", tmp_path / "y.wav", "--vocoder", "griffinlim", "--param", param), *words)


def test_no_arguments_prints_usage_on_stderr_and_exits_2():
    result = run_cli()
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("usage:")


@pytest.mark.parametrize("command", ["encode", "decode", "info", "report", "bench", "plugins"])
def test_every_subcommand_has_quiet_and_verbose(command):
    text = run_cli(command, "--help").stdout
    assert "-q, --quiet" in text and "-v, --verbose" in text
    if command in ("encode", "decode", "report", "bench"):
        assert "-f, --force" in text


def test_quiet_and_verbose(work, tmp_path):
    quiet = run_cli("encode", work / "talk.wav", "-o", tmp_path / "q.avif", "-q", "--speed", "9")
    assert quiet.returncode == 0 and quiet.stdout == quiet.stderr == ""
    loud = run_cli("encode", work / "talk.wav", "-o", tmp_path / "v.avif", "-v", "--speed", "9")
    assert loud.returncode == 0 and '"speed": 9' in loud.stderr


def test_bench_quiet_prints_nothing_on_success(tmp_path):
    sf.write(tmp_path / "one.wav", tone(0.3), 16000)
    result = run_cli("bench", tmp_path / "one.wav", "-o", tmp_path / "b", "--quality", "50", "--opus", "none", "--no-cli", "-q", "-f")
    assert result.returncode == 0 and result.stderr == "" and (tmp_path / "b" / "rd.csv").exists()


def test_plugins_table_stays_a_table():
    result = run_cli("plugins", env={**os.environ, "COLUMNS": "100"})
    assert result.returncode == 0
    assert max(len(line) for line in result.stdout.splitlines()) <= 110


# -- reliability ----------------------------------------------------------------------------------
def test_decode_never_hard_clips(tmp_path):
    rng = np.random.default_rng(1)
    t = np.arange(48000) / 16000
    loud = np.clip(3 * np.sin(2 * np.pi * 220 * t) * np.sin(2 * np.pi * 3 * t) + 0.5 * rng.standard_normal(len(t)), -1, 1)
    sf.write(tmp_path / "loud.wav", loud.astype(np.float32), 16000)
    assert run_cli("encode", tmp_path / "loud.wav", "--speed", "9").returncode == 0
    result = run_cli("decode", tmp_path / "loud.avif", "--vocoder", "griffinlim")
    assert result.returncode == 0, result.stderr
    assert "instead of clipping" in result.stderr
    pcm, _ = sf.read(tmp_path / "loud.decoded.wav", dtype="int16")
    assert np.mean(np.abs(pcm.astype(np.int32)) >= 32767) <= 1e-4
    decoded = spectrocodec.decode(tmp_path / "loud.avif", vocoder="griffinlim")
    assert decoded.gain < 1 and np.max(np.abs(decoded.waveform)) < 1


def test_webp_holds_300_seconds(tmp_path):
    sf.write(tmp_path / "long.wav", tone(300.0), 16000)
    result = run_cli("encode", tmp_path / "long.wav", "-o", tmp_path / "long.webp")
    assert result.returncode == 0, result.stderr
    details = api.info(tmp_path / "long.webp")
    assert details["height"] == 160 and details["width"] <= 16382 and abs(details["duration_s"] - 300) < 0.1
    assert api.read_features(tmp_path / "long.webp").features.shape == (300 * 16000 // 256 + 1, 80)


@pytest.mark.parametrize("fmt", ["png", "jxl"])
def test_info_on_a_hostile_file_stays_small(tmp_path, fmt):
    import imagecodecs

    bomb = tmp_path / f"bomb.{fmt}"  # legacy files: PNG 80 x 1 000 000 (78 KB), JPEG XL 80 x 3 350 000 (88 KB)
    if fmt == "png":
        bomb.write_bytes(imagecodecs.png_encode(np.zeros((80, 1_000_000), np.uint8), level=9))
    else:
        bomb.write_bytes(imagecodecs.jpegxl_encode(np.zeros((80, 3_350_000), np.uint8), lossless=True, effort=1))
    assert bomb.stat().st_size < 1 << 20
    # VmHWM: this process's peak resident memory (ru_maxrss would include the forked pytest's)
    code = ("import re, sys; from spectrocodec.apps.cli import main; rc = main(['info', sys.argv[1]]); "
            "hwm = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1); "
            "print(int(hwm) // 1024, file=sys.stderr); sys.exit(rc)")
    result = subprocess.run([sys.executable, "-c", code, str(bomb)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert int(result.stderr.strip().splitlines()[-1]) < 300  # MB, imports included


def test_info_on_an_avif_claiming_many_strips_reads_no_pixels(work, tmp_path):
    import struct

    data = bytearray((work / "talk.avif").read_bytes())
    at = data.index(b"ispe") + 8  # version/flags, then width and height
    struct.pack_into(">II", data, at, 16384, 80 * 186)  # 2 KB claiming 186 strips of 16384 frames
    (tmp_path / "strips.avif").write_bytes(bytes(data))
    code = ("import re, sys; from spectrocodec.apps.cli import main; rc = main(['info', sys.argv[1]]); "
            "hwm = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1); "
            "print(int(hwm) // 1024, file=sys.stderr); sys.exit(rc)")
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "strips.avif")], capture_output=True, text=True, timeout=60)
    lines = result.stderr.strip().splitlines()
    assert int(lines[-1]) < 300 and "Traceback" not in result.stderr
    assert result.returncode == 0 or lines[0].startswith("spectrocodec: error:")


def test_animated_avif_is_refused_before_decoding(tmp_path):
    import imagecodecs

    (tmp_path / "anim.avif").write_bytes(imagecodecs.avif_encode(np.zeros((3, 80, 100), np.uint8), level=60, speed=9))
    for command in ("info", "decode"):
        one_line_error(run_cli(command, tmp_path / "anim.avif"), "animation")


def test_length_limits():
    assert abs(spectrocodec.Pipeline(codec="avif").max_seconds() / 3600 - 14.85) < 0.01  # grids: libaom sees one band at a time
    assert abs(spectrocodec.Pipeline(codec="webp").max_seconds() / 3600 - 14.85) < 0.01


def test_random_picture_warns_it_has_no_metadata(tmp_path):
    from PIL import Image

    Image.fromarray(np.random.default_rng(0).integers(0, 255, (80, 60), dtype=np.uint8)).save(tmp_path / "photo.png")
    result = run_cli("decode", tmp_path / "photo.png", "--param", "iterations=2")
    assert result.returncode == 0 and "no spectrocodec metadata" in result.stderr


def test_library_warnings_do_not_leak(tmp_path):
    import struct
    import zlib

    import imagecodecs

    data = imagecodecs.png_encode(np.zeros((80, 50), np.uint8))
    body = b"x\x00\x00garbage"
    iccp = struct.pack(">I", len(body)) + b"iCCP" + body + struct.pack(">I", zlib.crc32(b"iCCP" + body))
    (tmp_path / "warn.png").write_bytes(data[:33] + iccp + data[33:])
    result = run_cli("decode", tmp_path / "warn.png", "-q", "--param", "iterations=2")
    assert result.returncode == 0 and result.stderr == ""


def test_huge_float_wav_is_handled(tmp_path):
    samples = np.random.default_rng(0).uniform(-3e38, 3e38, 8000).astype(np.float32)
    sf.write(tmp_path / "huge.wav", samples, 16000, subtype="FLOAT")
    result = run_cli("encode", tmp_path / "huge.wav", "--speed", "9")
    assert "Warning" not in result.stderr and "Traceback" not in result.stderr
    if result.returncode:
        one_line_error(result)
    else:
        decoded = run_cli("decode", tmp_path / "huge.avif", "--param", "iterations=2")
        assert decoded.returncode == 0 and "Warning" not in decoded.stderr, decoded.stderr


def test_high_output_rate_is_resampled_in_blocks(work, tmp_path):
    from spectrocodec.core import writer

    waveform = tone(3.0)
    writer.write_audio(tmp_path / "hi.wav", waveform, 16000, rate_out=384000)
    out, rate = sf.read(tmp_path / "hi.wav", dtype="float32")
    assert rate == 384000 and len(out) == 3 * 384000
    import soxr

    once = soxr.resample(waveform, 16000, 384000, quality="HQ")
    assert np.max(np.abs(out - np.clip(once, -1, 1))) < 2e-4  # 16-bit rounding
    result = run_cli("decode", work / "talk.avif", "-o", tmp_path / "r.flac", "--rate", "384000", "--param", "iterations=2")
    assert result.returncode == 0, result.stderr and sf.info(str(tmp_path / "r.flac")).samplerate == 384000


def test_report_and_bench_on_empty_audio(tmp_path):
    sf.write(tmp_path / "zero.wav", np.zeros(0, np.float32), 16000)
    report = run_cli("report", tmp_path / "zero.wav", "-o", tmp_path / "rep", "--quality", "50", "-q")
    assert report.returncode == 2 and "holds no samples" in report.stderr and "Traceback" not in report.stderr
    bench = run_cli("bench", tmp_path / "zero.wav", "-o", tmp_path / "b", "--quality", "50", "--opus", "none", "--no-cli", "-q")
    assert bench.returncode == 1 and "holds no samples" in bench.stderr and "internal error" not in bench.stderr


def test_report_with_negative_jobs_writes_nothing(work, tmp_path):
    one_line_error(run_cli("report", work / "talk.wav", "-o", tmp_path / "rep", "-j", "-3"), "--jobs")
    assert not (tmp_path / "rep").exists()


def test_batch_says_what_it_skips(work, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.wav").write_bytes((work / "talk.wav").read_bytes())
    os.mkfifo(folder / "fifo.wav")
    (folder / "loop.wav").symlink_to(folder / "loop.wav")
    (folder / "linked").symlink_to(tmp_path)
    result = run_cli("encode", folder, "-o", tmp_path / "out", "--speed", "9")
    assert result.returncode == 0, result.stderr
    assert "skipping" in result.stderr and "fifo.wav" in result.stderr and "loop.wav" in result.stderr
    assert "linked" in result.stderr


def test_out_of_memory_in_the_vocoder_is_one_line(work, tmp_path, monkeypatch, capsys):
    from spectrocodec.apps import cli
    from spectrocodec.core.pipeline import Pipeline

    def boom(self, decoded, spool=False):
        raise RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(Pipeline, "vocode", boom)
    assert cli.main(["decode", str(work / "talk.avif"), "-o", str(tmp_path / "x.wav"), "-q"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "out of memory" in err[0] and err[0].startswith("spectrocodec: error:")


# -- the Python API ---------------------------------------------------------------------------------
def test_api_names_are_listed():
    for name in ("encode", "decode", "info", "read_features"):
        assert name in dir(spectrocodec) and name in spectrocodec.__all__


def test_decode_result_unpacks_and_says_which_vocoder(work):
    result = spectrocodec.decode(work / "talk.avif", vocoder="griffinlim", iterations=4)
    waveform, rate = result
    assert rate == 16000 and result.vocoder == "griffinlim" and result.device == "cpu" and result.gain == 1.0
    high = spectrocodec.decode(work / "talk.avif", vocoder="griffinlim", rate=44100, iterations=4)
    assert high.rate == 44100 and abs(len(high.waveform) - 1.5 * 44100) <= 1
    assert spectrocodec.decode(work / "talk.avif", rate="original", iterations=4)[1] == 16000


def test_pipeline_takes_names_and_configs():
    pipe = spectrocodec.Pipeline(codec="webp", vocoder={"name": "griffinlim", "iterations": 4})
    assert pipe.bits == 8 and pipe.codec.name == "webp"
    waveform, rate = pipe.decode(pipe.encode(tone(0.5), 16000))
    assert rate == 16000 and len(waveform) == 8000


@pytest.mark.parametrize("kwargs", [
    dict(sample_rate=True), dict(sample_rate=-16000), dict(sample_rate=16000.0), dict(sample_rate=16000, quality="high"),
    dict(sample_rate=16000, bits="10"), dict(sample_rate=16000, range="wide"), dict(sample_rate=16000, speed="fast"),
    dict(sample_rate=16000, threads=10 ** 5),
])
def test_bad_api_arguments_raise_our_errors(kwargs):
    with pytest.raises(SpectrocodecError):
        spectrocodec.encode(tone(0.2), **kwargs)


@pytest.mark.parametrize("rate", [-1, 0, True, "high", 44100.5, 10 ** 6])
def test_bad_decode_rates_raise_our_errors(work, rate):
    with pytest.raises(SpectrocodecError, match="rate"):
        spectrocodec.decode(work / "talk.avif", rate=rate)


def test_decode_of_a_non_path_raises_our_error():
    with pytest.raises(SpectrocodecError):
        spectrocodec.decode(12345)
