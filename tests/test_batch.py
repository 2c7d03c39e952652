"""Folders: encode/decode a tree, one bad file among good ones, resuming, an interrupted run; the progress bar."""

from __future__ import annotations

import io
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import soundfile as sf

from helpers import CORPUS, run_cli

from spectrocodec.core import api
from spectrocodec.apps.progress import Progress, format_duration

FRAME_S = 256 / 16000


def _clips(folder: Path, speech_files: list[Path], count: int, seconds: float) -> list[Path]:
    """``count`` clips of ``seconds`` cut from the corpus speech, some in a subfolder, as WAV and FLAC."""
    made = []
    for n in range(count):
        audio, rate = sf.read(speech_files[n % len(speech_files)], dtype="float32")
        start = int((n // len(speech_files)) * seconds * rate) + rate // 2
        path = folder / ("sub" if n % 2 else "") / f"clip{n}{'.flac' if n % 3 == 2 else '.wav'}"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, audio[start:start + int(seconds * rate)], rate)
        made.append(path)
    return made


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_encode_folder_with_a_bad_file_then_resume(speech_files, tmp_path):
    source, out = tmp_path / "in", tmp_path / "out"
    clips = _clips(source, speech_files, 3, 1.5)
    bad = source / "sub" / "broken.wav"
    bad.write_bytes((CORPUS / "bad" / "invalid.wav").read_bytes())
    (source / "notes.txt").write_text("not audio, ignored")
    result = run_cli("encode", source, "-o", out, "--quality", "40", "--jobs", "2")
    assert result.returncode != 0
    assert str(bad) in result.stderr and "1 of 4 file(s) failed" in result.stderr
    assert "Traceback" not in result.stderr
    outputs = sorted(out.rglob("*.avif"))
    assert [p.relative_to(out) for p in outputs] == sorted(c.relative_to(source).with_suffix(".avif") for c in clips)
    for path in outputs:
        details = api.info(path)
        assert details["codec"] == "avif" and abs(details["duration_s"] - 1.5) < 0.01
    assert not (out / "notes.avif").exists() and not list(out.rglob(".spectrocodec-*"))

    stamps = {p: p.stat().st_mtime_ns for p in outputs}
    again = run_cli("encode", source, "-o", out, "--quality", "40")
    assert again.returncode != 0 and "3 already done, skipped" in again.stderr
    assert {p: p.stat().st_mtime_ns for p in outputs} == stamps  # finished work is not redone
    bad.unlink()
    assert run_cli("encode", source, "-o", out, "-q").returncode == 0


def test_decode_folder_mirrors_the_tree(speech_files, tmp_path):
    source, images, out = tmp_path / "in", tmp_path / "images", tmp_path / "wav"
    _clips(source, speech_files, 2, 1.0)
    assert run_cli("encode", source, "-o", images, "-q").returncode == 0
    (images / "sub" / "junk.avif").write_bytes(b"\0" * 100)  # a codec's extension, not its bytes: a failure
    (images / "readme.md").write_text("ignored")
    result = run_cli("decode", images, "-o", out, "--vocoder", "auto", "--jobs", "1")
    assert result.returncode != 0 and "junk.avif" in result.stderr and "1 of 3 file(s) failed" in result.stderr
    wavs = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.wav"))
    assert wavs == ["clip0.wav", "sub/clip1.wav"]
    for wav in out.rglob("*.wav"):
        info = sf.info(wav)
        assert info.samplerate == 16000 and abs(info.duration - 1.0) <= FRAME_S


def test_output_folder_rules(speech_files, tmp_path):
    source = tmp_path / "in"
    _clips(source, speech_files, 2, 1.0)
    same = run_cli("encode", source, "-o", source)
    assert same.returncode == 2 and "is the input folder" in same.stderr
    assert run_cli("encode", source).returncode == 2  # a folder needs -o
    inside = source / "encoded"  # allowed: that subtree is left out of the scan
    for _ in range(2):
        result = run_cli("encode", source, "-o", inside, "-q")
        assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in inside.rglob("*")) == ["clip0.avif", "clip1.avif", "sub"]
    assert run_cli("encode", source, "-o", tmp_path / "x", "--jobs", "-1").returncode == 2


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="finds the worker processes through /proc (Linux)")
def test_killed_run_leaves_no_partial_output_and_resumes(speech_files, tmp_path):
    source, images, out = tmp_path / "in", tmp_path / "images", tmp_path / "wav"
    clips = _clips(source, speech_files, 6, 4.0)  # ~0.3 s of vocoding each: time to kill it mid-way
    assert run_cli("encode", source, "-o", images, "-q").returncode == 0
    command = [sys.executable, "-m", "spectrocodec", "decode", str(images), "-o", str(out), "--jobs", "2", "-q"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    workers: set[int] = set()
    while time.monotonic() < deadline and process.poll() is None:
        workers.update(_children(process.pid))
        if list(out.rglob("*.wav")):
            break
        time.sleep(0.02)
    workers.update(_children(process.pid))
    process.send_signal(signal.SIGKILL)  # the main process only: its workers must notice and stop
    process.wait()
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in workers), "worker processes outlived the killed run"
    done = sorted(out.rglob("*.wav"))
    assert done, "nothing was written before the kill"
    assert len(done) < len(clips), "the run finished before it could be killed; make it longer"
    for wav in done:  # every output there is complete
        audio, rate = sf.read(wav)
        assert rate == 16000 and abs(len(audio) / rate - 4.0) <= FRAME_S

    result = run_cli("decode", images, "-o", out, "--jobs", "2")
    assert result.returncode == 0, result.stderr
    assert f"{len(done)} already done, skipped" in result.stderr
    assert not [p for p in out.rglob("*") if p.name.startswith(".spectrocodec-")]
    assert len(list(out.rglob("*.wav"))) == len(clips)
    for wav in out.rglob("*.wav"):
        assert abs(sf.info(wav).duration - 4.0) <= FRAME_S


def test_stale_temp_files_are_removed(speech_files, tmp_path):
    source, out = tmp_path / "in", tmp_path / "out"
    _clips(source, speech_files, 1, 1.0)
    (out / "sub").mkdir(parents=True)
    stale = out / "sub" / ".spectrocodec-abc123.tmp"
    stale.write_bytes(b"half a file")
    result = run_cli("encode", source, "-o", out)
    assert result.returncode == 0 and "removed 1 temporary file" in result.stderr
    assert not stale.exists()


# -- the progress bar ---------------------------------------------------------------------------
class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_silent_without_a_terminal_except_the_summary():
    stream = io.StringIO()
    bar = Progress(3, "encode", stream=stream)
    for _ in range(3):
        bar.advance()
    bar.write("failed: x.wav: broken")
    bar.close("encoded 2 files")
    assert stream.getvalue() == "failed: x.wav: broken\nencoded 2 files\n"
    quiet = io.StringIO()
    bar = Progress(3, "encode", stream=quiet, quiet=True)
    bar.advance()
    bar.close("encoded 1 file")
    assert quiet.getvalue() == ""


def test_progress_bar_on_a_terminal():
    stream = _Tty()
    bar = Progress(4, "decode", stream=stream)
    bar.start -= 2.0  # as if 2 s had passed
    bar.advance(2)
    text = bar.line(80)
    assert text.startswith("decode  2/4 [") and "files/s" in text and "0:02 left" in text and len(text) <= 80
    bar.close("decoded 4 files")
    assert "\r" in stream.getvalue() and stream.getvalue().endswith("\r\x1b[Kdecoded 4 files\n")
    assert format_duration(3725) == "1:02:05" and format_duration(65) == "1:05" and format_duration(0.4) == "0:00"
