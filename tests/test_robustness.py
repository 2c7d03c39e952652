"""Robustness (issue 7): every bad input gets a clear one-line error, long audio stays in bounded
memory, nothing is lost. docs/robustness.md has the table of what each input gets.

Most cases run the real command (``python -m spectrocodec``) and check: exit status, stderr exactly
one line naming the problem, no traceback, a time bound, the input's bytes unchanged and no output or
partial output left behind. Decoding needs a vocoder: a tiny stub one is registered in-process (or,
for the CLI, by a wrapper script) so these tests do not depend on the vocoder plugins.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from helpers import CORPUS, SAMPLE, STUB_MAIN, StubVocoder, run_cli, tone
from spectrocodec.core import api, fileformat
from spectrocodec.errors import FormatError, InputError, SpectrocodecError
from spectrocodec.core.pipeline import Pipeline
from spectrocodec.core.registry import Registry

Stub = StubVocoder


# -- helpers ------------------------------------------------------------------------------------
def cli_stub(*args, timeout: float = 60) -> subprocess.CompletedProcess:
    """``spectrocodec ARGS`` with the stub vocoder registered (use ``--vocoder stub``)."""
    return subprocess.run([sys.executable, "-c", STUB_MAIN, *map(str, args)], capture_output=True,
                          text=True, timeout=timeout)


def peak_rss_mb(*args, timeout: float = 120, stub: bool = False) -> tuple[subprocess.CompletedProcess, float]:
    """Run the CLI in a fresh wrapper that reports getrusage(RUSAGE_CHILDREN).ru_maxrss."""
    inner = [sys.executable, "-c", STUB_MAIN] if stub else [sys.executable, "-m", "spectrocodec"]
    wrapper = ("import json, resource, subprocess, sys\n"
               "r = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
               "print(json.dumps([r.returncode, r.stdout, r.stderr, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss]))\n")
    out = subprocess.run([sys.executable, "-c", wrapper, *inner, *map(str, args)], capture_output=True, text=True, timeout=timeout)
    code, stdout, stderr, peak_kb = json.loads(out.stdout)
    return subprocess.CompletedProcess(args, code, stdout, stderr), peak_kb / 1024


def refused(result: subprocess.CompletedProcess, *words: str) -> str:
    """Non-zero exit, stderr exactly one 'spectrocodec[ COMMAND]: error: ...' line containing ``words``."""
    assert result.returncode != 0, f"accepted: {result.stdout} {result.stderr}"
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("spectrocodec") and ": error: " in lines[0], lines[0]  # usage errors: "spectrocodec encode: error:"
    for word in words:
        assert word.lower() in lines[0].lower(), (word, lines[0])
    return lines[0]


def snapshot(folder: Path) -> dict:
    """Every file under ``folder``: its hash (size and mtime for big sparse files)."""
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            stat = path.stat()
            out[str(path.relative_to(folder))] = (stat.st_size, stat.st_mtime_ns) if stat.st_size > 50 << 20 \
                else hashlib.sha256(path.read_bytes()).hexdigest()
    return out


@contextlib.contextmanager
def untouched(folder: Path):
    """The folder's files are unchanged and no file (output or temporary) appears."""
    before = snapshot(folder)
    yield
    assert snapshot(folder) == before


def write(path: Path, audio: np.ndarray, rate: int = 16000, **kwargs) -> Path:
    sf.write(path, audio, rate, **kwargs)
    return path


def stub_decode(data: bytes) -> tuple[np.ndarray, int]:
    return Pipeline(vocoder=Stub()).decode(data)


def codecs_available() -> list[type]:
    return [c for c in Registry.default().classes("codec") if c.unavailable() is None]


def codec_ids() -> list[str]:
    return [f"{c.name}-{c.backend}" for c in codecs_available()]


def speech(seconds: float = 1.0) -> np.ndarray:
    audio, rate = sf.read(SAMPLE, dtype="float32")
    assert rate == 16000
    return np.resize(audio, int(seconds * rate))


def avif_bytes(seconds: float = 0.5, bits: int = 10, **kwargs) -> bytes:
    return api.encode(speech(seconds), sample_rate=16000, codec="avif", bits=bits, **kwargs)


# -- audio that must encode ----------------------------------------------------------------------
@pytest.mark.parametrize("n", [0, 1, 10, 100, 1000])
def test_shorter_than_one_window_encodes_and_decodes_to_its_length(tmp_path, n):
    source = write(tmp_path / "short.wav", (0.1 * np.random.default_rng(n).standard_normal(n)).astype(np.float32))
    result = run_cli("encode", source, "-o", tmp_path / "short.avif", timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    out = tmp_path / "short.wav.out.wav"
    result = cli_stub("decode", tmp_path / "short.avif", "-o", out, "--vocoder", "stub", "-q")
    assert result.returncode == 0, result.stderr
    decoded, rate = sf.read(out)
    assert rate == 16000 and len(decoded) == n


def test_pure_silence_encodes_without_dividing_by_zero_and_decodes_to_silence(tmp_path):
    source = write(tmp_path / "silence.wav", np.zeros(16000, np.float32))
    result = run_cli("encode", source, "-o", tmp_path / "silence.avif")
    assert result.returncode == 0, result.stderr
    data = (tmp_path / "silence.avif").read_bytes()
    details = api.info(data)
    lo, hi = details["range"]
    assert math.isfinite(lo) and math.isfinite(hi) and hi > lo and lo == pytest.approx(-10.0)
    features = api.read_features(data).features
    assert np.all(np.isfinite(features)) and np.allclose(features, -10.0, atol=1e-3)
    waveform, rate = stub_decode(data)
    assert len(waveform) == 16000 and np.abs(waveform).max() < 1e-6
    real = [c for c in Registry.default().classes("vocoder") if "speecht5" in c.accepts and c.unavailable() is None]
    if real:  # a real vocoder (griffinlim is weights-free): silence in, near-silence out
        waveform, _ = api.decode(data, vocoder=real[-1].name, device="cpu")
        assert len(waveform) == 16000 and np.abs(waveform).max() < 1e-3


@pytest.mark.parametrize("kind", ["dc", "full-scale-square", "beyond-full-scale-float"])
def test_dc_and_clipping_encode(tmp_path, kind):
    t = np.arange(16000)
    audio = {"dc": np.full(16000, 0.5), "full-scale-square": np.where((t // 40) % 2, 1.0, -1.0),
             "beyond-full-scale-float": 3.0 * np.sin(t / 7)}[kind].astype(np.float32)
    source = write(tmp_path / f"{kind}.wav", audio, subtype="FLOAT")
    result = run_cli("encode", source, "-o", tmp_path / "out.avif", "-q")
    assert result.returncode == 0, result.stderr
    waveform, _ = stub_decode((tmp_path / "out.avif").read_bytes())
    assert len(waveform) == 16000 and np.all(np.isfinite(waveform))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("subtype", ["FLOAT", "DOUBLE"])
def test_nan_and_inf_samples_in_a_float_wav_are_refused(tmp_path, bad, subtype):
    audio = tone(0.5)
    audio[1234] = bad
    source = write(tmp_path / "bad.wav", audio, subtype=subtype)
    with untouched(tmp_path):
        refused(run_cli("encode", source, "-o", tmp_path / "bad.avif"), "bad.wav", "NaN or infinite")
    with pytest.raises(InputError, match="NaN or infinite"):
        api.encode(audio, sample_rate=16000)


def test_arrays_without_channels_or_with_bad_rates_are_refused():
    with pytest.raises(InputError, match="no channels"):
        api.encode(np.zeros((100, 0), np.float32), sample_rate=16000)
    for rate in (0, -1, 16000.5, 2_000_000):
        with pytest.raises(InputError, match="sample rate"):
            api.encode(np.zeros(100, np.float32), sample_rate=rate)
    with pytest.raises(InputError, match="shape"):
        api.encode(np.zeros((2, 2, 2), np.float32), sample_rate=16000)


@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"])
def test_integer_and_float_wav_sample_formats(tmp_path, subtype):
    audio = speech(1.0)
    reference = api.read_features(api.encode(audio, sample_rate=16000, codec="png" if _has("png") else "avif",
                                             **({"lossless": True} if not _has("png") else {}))).features
    source = write(tmp_path / "x.wav", audio, subtype=subtype)
    data = api.encode(source, codec="png" if _has("png") else "avif", **({"lossless": True} if not _has("png") else {}))
    features = api.read_features(data).features
    assert features.shape == reference.shape
    tolerance = 0.5 if subtype == "PCM_U8" else 0.05  # 8-bit audio is noisy in quiet bands
    assert np.median(np.abs(features - reference)) < tolerance


@pytest.mark.parametrize("rate", [8000, 11025, 16000, 22050, 44100, 48000, 96000, 192000])
def test_sample_rates_from_8_to_192_khz(tmp_path, rate):
    source = write(tmp_path / "x.wav", tone(0.7, rate), rate)
    data = api.encode(source, speed=9)
    details = api.info(data)
    assert details["sample_rate"] == rate and details["num_samples"] == int(0.7 * rate)
    assert details["duration_s"] == pytest.approx(0.7, abs=1e-3)
    waveform, out_rate = stub_decode(data)
    assert out_rate == 16000 and len(waveform) == round(int(0.7 * rate) * 16000 / rate)


@pytest.mark.parametrize("channels", [1, 2, 6])
def test_channels_are_downmixed_with_a_note(tmp_path, channels):
    audio = np.stack([tone(0.5, freq=200 + 100 * c) for c in range(channels)], axis=1)
    source = write(tmp_path / "multi.wav", audio)
    result = run_cli("encode", source, "-o", tmp_path / "multi.avif", "--channels", "mono")
    assert result.returncode == 0, result.stderr
    notes = result.stderr.strip().splitlines()
    if channels == 1:
        assert notes == []
    else:
        assert len(notes) == 1 and notes[0].startswith("spectrocodec: note:")
        assert f"{channels} channels" in notes[0] and "mono" in notes[0]
    assert api.info(tmp_path / "multi.avif")["channels"] == channels
    if channels > 1:
        assert run_cli("encode", source, "-o", tmp_path / "q.avif", "-q", "--channels", "mono").stderr == ""


@pytest.mark.parametrize("fmt,subtype,ext", [("FLAC", "PCM_16", "flac"), ("OGG", "VORBIS", "ogg"),
                                             ("OGG", "OPUS", "opus"), ("MP3", "MPEG_LAYER_III", "mp3")])
def test_compressed_audio_formats_soundfile_reads(tmp_path, fmt, subtype, ext):
    rate = 48000 if subtype == "OPUS" else 16000
    source = tmp_path / f"x.{ext}"
    try:
        sf.write(source, tone(1.0, rate), rate, format=fmt, subtype=subtype)
    except Exception as exc:  # this libsndfile was built without it
        pytest.skip(f"soundfile cannot write {fmt}/{subtype} here: {exc}")
    details = api.info(api.encode(source))
    assert details["sample_rate"] == rate and details["duration_s"] == pytest.approx(1.0, abs=0.06)


@pytest.mark.parametrize("fmt,subtype,ext", [("WAV", "PCM_16", "wav"), ("FLAC", "PCM_16", "flac"),
                                             ("OGG", "VORBIS", "ogg"), ("MP3", "MPEG_LAYER_III", "mp3")])
def test_damaged_audio_files_encode_or_get_a_project_error(tmp_path, fmt, subtype, ext):
    """Truncated and bit-flipped audio: soundfile may read what is left, or we refuse in one line
    (a decoder error mid-file included: the file is read in blocks)."""
    source = tmp_path / f"src.{ext}"
    try:
        sf.write(source, tone(2.0), 16000, format=fmt, subtype=subtype)
    except Exception as exc:
        pytest.skip(f"soundfile cannot write {fmt}/{subtype} here: {exc}")
    data = source.read_bytes()
    rng = random.Random(ext)
    damaged = tmp_path / f"damaged.{ext}"
    for i in range(40):
        mutated = bytearray(data)
        if i % 2:
            mutated = mutated[: rng.randrange(len(mutated))]
        else:
            for _ in range(rng.choice([1, 4, 16])):
                mutated[rng.randrange(len(mutated))] ^= 1 << rng.randrange(8)
        damaged.write_bytes(bytes(mutated))
        try:
            api.info(api.encode(damaged, speed=9))
        except SpectrocodecError as exc:
            assert "\n" not in str(exc)


def test_a_flac_named_wav_works_and_a_text_named_wav_is_refused(tmp_path):
    lying = tmp_path / "really-flac.wav"
    lying.write_bytes(SAMPLE.read_bytes())
    result = run_cli("encode", lying, "-o", tmp_path / "ok.avif", "-q")
    assert result.returncode == 0, result.stderr
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio\n" * 20)
    with untouched(tmp_path):
        refused(run_cli("encode", text, "-o", tmp_path / "no.avif"), "notes.wav", "cannot read", "as audio")


def test_empty_and_corpus_invalid_audio_files_are_refused(tmp_path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with untouched(tmp_path):
        refused(run_cli("encode", empty, "-o", tmp_path / "out.avif"), "empty.wav is empty (0 bytes)")
        refused(run_cli("info", empty), "empty.wav is empty (0 bytes)")
    invalid = CORPUS / "bad" / "invalid.wav"
    if invalid.exists():  # 30 bytes of text from Lyra's test data that claim to be a WAV
        before = invalid.read_bytes()
        with untouched(tmp_path):
            refused(run_cli("encode", invalid, "-o", tmp_path / "out.avif"), "invalid.wav", "cannot read")
        assert invalid.read_bytes() == before


def test_bad_options_are_refused_before_any_work(tmp_path):
    source = write(tmp_path / "in.wav", tone(0.5))
    encoded = tmp_path / "in.avif"
    assert run_cli("encode", source, "-o", encoded, "-q").returncode == 0
    with untouched(tmp_path):
        started = time.monotonic()
        refused(cli_stub("decode", encoded, "-o", tmp_path / "o.wav", "--rate", "5"), "--rate")
        refused(run_cli("encode", source, "-o", tmp_path / "o.avif", "--bits", "9"), "9-bit")
        refused(run_cli("encode", source, "-o", tmp_path / "o.avif", "--quality", "300"), "--quality")
        refused(run_cli("encode", source, "-o", tmp_path / "o.avif", "--range", "wide"), "--range")
        assert time.monotonic() - started < 20


def test_missing_paths_and_folders(tmp_path):
    missing = tmp_path / "nope.wav"
    with untouched(tmp_path):
        refused(run_cli("encode", missing, "-o", tmp_path / "x.avif"), "nope.wav", "does not exist")
        refused(run_cli("decode", tmp_path / "nope.avif", "-o", tmp_path / "x.wav"), "nope.avif", "does not exist")
        refused(run_cli("info", tmp_path / "nope.avif"), "does not exist")
        refused(run_cli("info", tmp_path), "is a folder")
    with pytest.raises(InputError, match="folder"):
        api.decode(tmp_path)
    with pytest.raises(InputError, match="folder"):
        api.encode(tmp_path)
    with pytest.raises(InputError, match="not a regular file"):
        api.info("/dev/null")


# -- outputs that cannot be written ----------------------------------------------------------------
@contextlib.contextmanager
def read_only_folder(folder: Path):
    """Make ``folder`` unwritable for real: chmod for a normal user; as root (which ignores
    permissions) the immutable attribute (chattr +i). Yields how, or skips if neither works."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield "chmod 555"
        finally:
            folder.chmod(0o755)
        return
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode:
        pytest.skip("running as root without chattr +i: the in-process test covers the read-only case")
    try:
        yield "chattr +i"
    finally:
        subprocess.run(["chattr", "-i", str(folder)], capture_output=True)


def test_read_only_output_folder(tmp_path):
    source = write(tmp_path / "in.wav", tone(0.5))
    encoded = tmp_path / "in.avif"
    assert run_cli("encode", source, "-o", encoded, "-q").returncode == 0
    locked = tmp_path / "locked"
    locked.mkdir()
    with read_only_folder(locked):
        with untouched(tmp_path):
            refused(run_cli("encode", source, "-o", locked / "out.avif"), "permission denied")
            refused(cli_stub("decode", encoded, "-o", locked / "out.wav", "--vocoder", "stub"), "permission denied")


def test_read_only_output_folder_in_process(tmp_path, monkeypatch, capsys):
    """The same through a simulated EACCES on creating the temporary file (works for any user)."""
    import errno
    import tempfile

    from spectrocodec.apps import cli

    source = write(tmp_path / "in.wav", tone(0.5))

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    with untouched(tmp_path):
        assert cli.main(["encode", str(source), "-o", str(tmp_path / "out.avif")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "permission denied" in err[0]


@contextlib.contextmanager
def full_disk(tmp_path: Path):
    """A 256 KiB tmpfs, filled to the last few KB (needs root with CAP_SYS_ADMIN), else skip."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    if shutil.which("mount") is None or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
                                                     capture_output=True).returncode:
        pytest.skip("cannot mount a tiny tmpfs here: the in-process test covers the full disk")
    try:
        filler = mount / "filler"
        with open(filler, "wb") as handle:
            with contextlib.suppress(OSError):
                handle.write(b"\0" * (256 << 10))
        with open(filler, "r+b") as handle:  # leave 2 KB free
            handle.truncate(max(0, filler.stat().st_size - 2048))
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)


def test_full_disk(tmp_path):
    source = write(tmp_path / "in.wav", speech(3.0))
    encoded = tmp_path / "in.avif"
    assert run_cli("encode", source, "-o", encoded, "-q", "--quality", "90").returncode == 0
    assert encoded.stat().st_size > 4096
    with full_disk(tmp_path) as disk:
        with untouched(disk):
            refused(run_cli("encode", source, "-o", disk / "out.avif", "--quality", "90"), "disk is full")
            refused(cli_stub("decode", encoded, "-o", disk / "out.wav", "--vocoder", "stub"), "disk is full")


def test_full_disk_in_process(tmp_path, monkeypatch, capsys):
    """ENOSPC simulated where the bytes hit the disk (works for any user)."""
    import errno

    from spectrocodec.core import files
    from spectrocodec.apps import cli

    source = write(tmp_path / "in.wav", tone(0.5))

    def no_space(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", no_space)
    with untouched(tmp_path):
        assert cli.main(["encode", str(source), "-o", str(tmp_path / "out.avif")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "the disk is full" in err[0]


# -- encoded files that lie or are damaged -------------------------------------------------------
def _decodes_or_refuses(data: bytes) -> str:
    try:
        decoded = api.read_features(data)
    except SpectrocodecError as exc:
        assert "\n" not in str(exc)
        return "refused"
    assert decoded.features.ndim == 2 and decoded.features.shape[1] == 80 and np.isfinite(decoded.features).all()
    return "decoded"


def test_avif_truncated_at_every_length():
    data = avif_bytes(0.3)
    outcomes = [_decodes_or_refuses(data[:n]) for n in range(len(data))]
    assert outcomes.count("refused") == len(data)  # 10-bit: without its metadata box it cannot decode


@pytest.mark.parametrize("codec", codec_ids())
def test_every_codec_truncated_at_many_lengths(codec):
    name, backend = codec.split("-", 1)
    data = api.encode(speech(0.5), sample_rate=16000, codec=name, backend=backend, bits=8)
    lengths = sorted(set(np.linspace(0, len(data) - 1, 120).astype(int)) | set(range(0, min(64, len(data)))))
    for n in lengths:
        _decodes_or_refuses(data[:n])


def test_truncated_files_through_the_cli(tmp_path):
    data = avif_bytes(1.0)
    for n in (0, 12, len(data) // 2, len(data) - 3):
        path = tmp_path / f"cut{n}.avif"
        path.write_bytes(data[:n])
        with untouched(tmp_path):
            message = refused(cli_stub("decode", path, "-o", tmp_path / "out.wav", "--vocoder", "stub"))
            assert any(word in message for word in ("truncated", "damaged", "not an image format")), message


def test_random_bytes(tmp_path):
    rng = random.Random(7)
    magics = [b"", b"\x00\x00\x00\x1cftypavif", b"\x89PNG\r\n\x1a\n", b"RIFF\x00\x10\x00\x00WEBPVP8 ", b"\xff\x0a",
              b"\x00\x00\x00\x0cJXL \r\n\x87\n", b"\x00\x00\x00\x0cjP  \r\n\x87\n", b"\x00\x00\x00\x18ftypheic", b"II*\x00"]
    for i in range(300):
        data = rng.choice(magics) + rng.randbytes(rng.choice([0, 1, 10, 100, 1000, 5000]))
        _decodes_or_refuses(data)
    path = tmp_path / "random.avif"
    path.write_bytes(b"\x00\x00\x00\x1cftypavif" + random.Random(1).randbytes(3000))
    with untouched(tmp_path):
        refused(run_cli("info", path), "damaged")
        refused(cli_stub("decode", path, "-o", tmp_path / "o.wav", "--vocoder", "stub"))
    path.write_bytes(random.Random(2).randbytes(3000))
    with untouched(tmp_path):
        refused(run_cli("decode", path, "-o", tmp_path / "o.wav"), "not an image format")


def _has(codec: str) -> bool:
    return any(c.name == codec for c in codecs_available())


def _pillow_image(array: np.ndarray, fmt: str) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt, **({"quality": 90} if fmt == "AVIF" else {}))
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ["AVIF", "PNG"])
def test_images_of_another_program_without_metadata(tmp_path, fmt):
    if fmt == "PNG" and not _has("png"):
        pytest.skip("no png codec installed")
    rng = np.random.default_rng(3)
    photo = (np.linspace(0, 255, 200)[None, :, None] * rng.uniform(0.5, 1, (80, 1, 3))).astype(np.uint8)
    cases = {
        "gray80": (photo[:, :, 0], "decodes"),        # 8-bit, 80 rows: a legacy audio-avif file
        "rgb80": (photo, "decodes"),                  # colour is read as its gray value
        "gray64": (photo[:64, :, 0], "pixels high"),  # not 80 rows
    }
    if fmt == "PNG":
        cases["gray16bit80"] = ((photo[:, :, 0].astype(np.uint16) * 257), "no spectrocodec metadata")
    for label, (array, expect) in cases.items():
        path = tmp_path / f"{label}.{fmt.lower()}"
        path.write_bytes(_pillow_image(array, fmt))
        if expect == "decodes":
            result = run_cli("info", path, "--json")
            assert result.returncode == 0, result.stderr
            assert json.loads(result.stdout)["legacy"] is True
            waveform, _ = stub_decode(path.read_bytes())
            assert len(waveform) == (array.shape[1] - 1) * 256
        else:
            with untouched(tmp_path):
                refused(run_cli("info", path), expect)


def raw_payload(version=1, flags=1, bits=10, lo=-10.0, hi=1.0, rate=16000, num=8000, channels=1,
                name=b"speecht5", params=b"", cut=None) -> bytes:
    """A payload packed without validation (fileformat.pack refuses lies), optionally cut short."""
    varint = fileformat._varint
    payload = (struct.pack("<BBBff", version, flags, bits, lo, hi) + varint(rate) + varint(num) + varint(channels)
               + bytes([len(name)]) + name + varint(len(params)) + params)
    return payload[:cut]


LIES = {
    "range NaN": (dict(lo=math.nan), "value range"),
    "range inf": (dict(hi=math.inf), "value range"),
    "lo > hi": (dict(lo=2.0, hi=1.0), "value range"),
    "lo = hi": (dict(lo=1.0, hi=1.0), "value range"),
    "range 3e38": (dict(lo=-3e38, hi=3e38), "value range"),
    "10^15 samples": (dict(num=10 ** 15), "samples"),
    "10^12 samples (under the cap, but not what the image holds)": (dict(num=10 ** 12), "frames"),
    "version 3": (dict(version=3), "version 3 is not supported"),
    "version 0": (dict(version=0), "version 0"),
    "unknown extractor": (dict(name=b"mfcc9000"), "no feature named 'mfcc9000'"),
    "non-ascii extractor": (dict(name=b"\xff\xfe"), "unreadable"),
    "unknown extractor parameter": (dict(params=b'{"n_mels":40}'), "no parameter n_mels"),
    "name among the parameters": (dict(params=b'{"name":[1]}'), "unreadable"),
    "deeply nested parameters": (dict(params=b"[" * 100000 + b"]" * 100000), "unreadable"),
    "bit depth 7": (dict(bits=7), "7-bit"),
    "bit depth 12 in a 10-bit image": (dict(bits=12), "12-bit"),
    "0 channels": (dict(channels=0), "0 channels"),
    "sample rate 0": (dict(rate=0), "sample rate of 0"),
    "truncated payload": (dict(cut=14), "truncated"),
    "payload cut inside the name": (dict(cut=20), "truncated"),
}


@pytest.mark.parametrize("lie", list(LIES))
def test_metadata_that_lies(lie):
    from spectrocodec_plugins.avif import AvifCodec
    from spectrocodec.core import mapping

    fields, words = LIES[lie]
    features = Registry.default().create("feature", "speecht5").extract(speech(0.5), 16000)
    image = mapping.to_image(features, -10.0, 1.0, 10)
    data = AvifCodec(speed=9).encode(image, 10, raw_payload(**fields))
    with pytest.raises(SpectrocodecError) as info:
        stub_decode(data)
    message = str(info.value)
    assert "\n" not in message and words.lower() in message.lower(), message
    with pytest.raises(SpectrocodecError):
        api.info(data)


def test_metadata_lies_through_the_cli(tmp_path):
    from spectrocodec_plugins.avif import AvifCodec
    from spectrocodec.core import mapping

    features = Registry.default().create("feature", "speecht5").extract(speech(0.5), 16000)
    image = mapping.to_image(features, -10.0, 1.0, 10)
    for lie in ("range NaN", "10^15 samples", "version 3", "unknown extractor"):
        fields, words = LIES[lie]
        path = tmp_path / "lie.avif"
        path.write_bytes(AvifCodec(speed=9).encode(image, 10, raw_payload(**fields)))
        with untouched(tmp_path):
            refused(cli_stub("decode", path, "-o", tmp_path / "o.wav", "--vocoder", "stub"), words)
            refused(run_cli("info", path), words)


def test_unknown_codec_id(tmp_path):
    data = bytearray(avif_bytes(0.3))
    data[8:12] = b"qwer"  # an ISOBMFF brand no codec claims
    path = tmp_path / "odd.avif"
    path.write_bytes(bytes(data))
    with untouched(tmp_path):
        refused(run_cli("info", path), "not an image format any installed codec reads")


def _set_ispe(data: bytes, width: int, height: int) -> bytes:
    out = bytearray(data)
    pos = out.find(b"ispe")
    assert pos > 0
    struct.pack_into(">II", out, pos + 8, width, height)
    return bytes(out)


def _set_png_size(data: bytes, width: int, height: int) -> bytes:
    out = bytearray(data)
    assert out[12:16] == b"IHDR"
    struct.pack_into(">II", out, 16, width, height)
    struct.pack_into(">I", out, 29, zlib.crc32(bytes(out[12:29])))
    return bytes(out)


@pytest.mark.parametrize("codec", ["avif", "heic", "png"])
def test_an_image_claiming_100000_x_100000_pixels_is_refused_before_allocating(tmp_path, codec):
    if not _has(codec):
        pytest.skip(f"no {codec} codec installed")
    data = api.encode(speech(0.5), sample_rate=16000, codec=codec, bits=8)
    bomb = _set_png_size(data, 100000, 100000) if codec == "png" else _set_ispe(data, 100000, 100000)
    path = tmp_path / f"bomb.{codec}"
    path.write_bytes(bomb)
    with untouched(tmp_path):
        started = time.monotonic()
        result, peak_mb = peak_rss_mb("decode", path, "-o", tmp_path / "o.wav", "--vocoder", "stub", stub=True)
        refused(result, "100000 x 100000")
        assert time.monotonic() - started < 20 and peak_mb < 300, peak_mb


def test_a_1_gb_sparse_file_is_refused_quickly_without_reading_it(tmp_path):
    big = tmp_path / "big.avif"
    with open(big, "wb") as handle:
        handle.write(avif_bytes(0.3))
        handle.truncate(1 << 30)  # sparse: no disk used
    with untouched(tmp_path):
        for command in (["info", big], ["decode", big, "-o", tmp_path / "o.wav"]):
            result, peak_mb = peak_rss_mb(*command)
            refused(result, "1024 MB", "256 MB")
            assert peak_mb < 200, peak_mb
    wav = tmp_path / "big.wav"
    with open(wav, "wb") as handle:
        handle.truncate(1 << 30)
    with untouched(tmp_path):
        refused(run_cli("encode", wav, "-o", tmp_path / "o.avif"), "cannot read")


def test_audio_longer_than_a_file_can_hold_is_refused_from_its_header(tmp_path):
    n = 20 * 3600 * 16000 * 2  # 20 hours of 16-bit mono at 16 kHz: a header, then a sparse hole
    header = (b"RIFF" + struct.pack("<I", 36 + n) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, 16000, 32000, 2, 16)
              + b"data" + struct.pack("<I", n))
    wav = tmp_path / "long.wav"
    with open(wav, "wb") as handle:
        handle.write(header)
        handle.truncate(44 + n)
    with untouched(tmp_path):
        result, peak_mb = peak_rss_mb("encode", wav, "-o", tmp_path / "o.avif")
        refused(result, "20.00 h", "split it")
        assert peak_mb < 200, peak_mb


# -- faults: killed mid-write, determinism -------------------------------------------------------
def test_killed_encoder_leaves_the_old_output_or_the_new_one_never_a_partial_one(tmp_path):
    source = write(tmp_path / "long.wav", speech(300.0) + np.float32(1e-4) * np.random.default_rng(0).standard_normal(300 * 16000).astype(np.float32))
    out = tmp_path / "out.avif"
    old = avif_bytes(0.3)
    command = [sys.executable, "-m", "spectrocodec", "encode", str(source), "-o", str(out), "--force", "-q", "--speed", "9"]
    started = time.monotonic()
    assert subprocess.run(command, capture_output=True, timeout=120).returncode == 0
    full = time.monotonic() - started
    new = out.read_bytes()
    assert api.info(new)["height"] == 160  # 300 s = 18751 frames: folded into two strips
    rng = random.Random(4)
    seen = set()
    for attempt in range(6):
        out.write_bytes(old)
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.25, full * 1.05))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        data = out.read_bytes()
        assert data in (old, new), f"partial output after a kill at attempt {attempt}"
        seen.add("new" if data == new else "old")
        names = {p.name for p in tmp_path.iterdir()} - {"long.wav", "out.avif"}
        assert all(name.startswith(".spectrocodec-") and name.endswith(".tmp") for name in names), names
    out.unlink()
    for leftover in tmp_path.glob(".spectrocodec-*.tmp"):  # SIGKILL leaves a hidden temporary, never the output
        leftover.unlink()


def test_killed_decoder_never_leaves_a_partial_wav(tmp_path):
    encoded = tmp_path / "in.avif"
    encoded.write_bytes(api.encode(speech(120.0), sample_rate=16000, speed=9))
    out = tmp_path / "out.wav"
    command = [sys.executable, "-c", STUB_MAIN, "decode", str(encoded), "-o", str(out), "-q", "--vocoder", "stub"]
    started = time.monotonic()
    assert subprocess.run(command, capture_output=True, timeout=120).returncode == 0
    full = time.monotonic() - started
    new = out.read_bytes()
    rng = random.Random(5)
    for _ in range(4):
        out.unlink(missing_ok=True)
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.2, full * 1.05))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert not out.exists() or out.read_bytes() == new


DETERMINISM = r'''
import hashlib, json, sys
import numpy as np, soundfile as sf
from spectrocodec.core import api
from spectrocodec.core.registry import Registry
audio, rate = sf.read(sys.argv[1], dtype="float32")
out = {}
for cls in Registry.default().classes("codec"):
    if cls.unavailable() is None:
        for lossless in ([False, True] if cls.lossy and cls.lossless else [cls.lossless]):
            data = api.encode(sys.argv[1], codec=cls.name, backend=cls.backend, lossless=lossless, bits=max(b for b in cls.bit_depths if b <= 12))
            out[f"{cls.name}-{cls.backend}-{'lossless' if lossless else 'lossy'}"] = hashlib.sha256(data).hexdigest()
print(json.dumps(out))
'''


def test_encoding_is_deterministic_for_every_codec(tmp_path):
    source = write(tmp_path / "x.wav", speech(2.0))
    runs = [json.loads(subprocess.run([sys.executable, "-c", DETERMINISM, str(source)], capture_output=True,
                                      text=True, timeout=120, check=True).stdout) for _ in range(2)]
    assert runs[0] == runs[1]
    assert any(key.startswith("avif-") for key in runs[0])
    assert run_cli("encode", source, "-o", tmp_path / "a.avif", "-q").returncode == 0
    assert run_cli("encode", source, "-o", tmp_path / "b.avif", "-q").returncode == 0
    assert (tmp_path / "a.avif").read_bytes() == (tmp_path / "b.avif").read_bytes()


# -- reading in blocks is exact ------------------------------------------------------------------
@pytest.mark.parametrize("rate,channels,subtype", [(44100, 2, "PCM_16"), (48000, 6, "PCM_24"), (16000, 1, "FLOAT"), (22050, 1, "PCM_U8")])
def test_block_reading_gives_the_same_file_as_reading_whole(tmp_path, monkeypatch, rate, channels, subtype):
    from spectrocodec.core import audio as audio_module

    samples = (0.3 * np.random.default_rng(rate).standard_normal((int(1.3 * rate), channels))).astype(np.float32)
    source = write(tmp_path / "x.wav", samples, rate, subtype=subtype)
    whole, whole_rate = audio_module.read_audio(source)
    expected = api.encode(whole, sample_rate=whole_rate, speed=9)
    for block in (1 << 16, 4096, 7):
        monkeypatch.setattr(audio_module, "READ_BLOCK", block)
        assert api.encode(source, speed=9) == expected


def test_too_long_for_the_codec_is_refused_at_encode_not_at_decode(tmp_path):
    """Never write a file our own decoder would refuse: the codec's pixel limit bounds the length."""
    codec = Registry.default().create("codec", "avif", speed=9)
    codec.max_pixels = 80 * 100  # pretend the decoder takes 8000 pixels at most,
    codec.max_width = 50  # and folds at 50 frames: two strips of 50 fit, three do not
    pipe = Pipeline(codec=codec)
    assert pipe.max_seconds() == pytest.approx(99 * 256 / 16000)
    assert api.read_features(pipe.encode(speech(1.0), 16000)).features.shape == (63, 80)  # 2 strips
    with pytest.raises(InputError, match="too long for one avif file"):
        pipe.encode(speech(2.0), 16000)  # 126 frames: three strips
    with pytest.raises(InputError, match="split it"):
        pipe.encode_file(write(tmp_path / "x.wav", speech(2.0)))  # refused from the header


# -- bugs found by the fuzzer in other modules, fixed there ---------------------------------------
def _tiff_with_bits_tag(kind: str) -> bytes | None:
    if not _has("tiff"):
        return None
    data = bytearray(api.encode(speech(0.3), sample_rate=16000, codec="tiff", bits=10))
    assert data[:2] == b"II"
    entry = data.find(struct.pack("<HH", 65001, 3))  # the BitsPerSample-in-use tag, type SHORT
    assert entry > 0
    if kind == "type":
        struct.pack_into("<H", data, entry + 2, 2)  # ASCII: Pillow returns a str
    else:
        struct.pack_into("<I", data, entry + 4, 2)  # count 2: Pillow returns a tuple
    return bytes(data)


@pytest.mark.parametrize("kind", ["type", "count"])
def test_tiff_with_a_damaged_bits_tag_is_a_format_error(kind):
    """Pillow gives the damaged tag back as a str or a tuple: refused in one line, not a TypeError."""
    data = _tiff_with_bits_tag(kind)
    if data is None:
        pytest.skip("no tiff codec installed")
    with pytest.raises(FormatError, match="damaged") as err:
        api.read_features(data)
    assert "\n" not in str(err.value)
