"""Every example of README.md, run exactly as written.

The ``bash`` block of "Command line" runs line by line in a folder holding what the examples name
(talk.wav, recordings/, music/, corpus/: short tones), the ``python`` block of "Python" is executed
there, and the set-up block's spectrocodec commands (everything after the ``pip install``, which
needs the network) run in a folder holding the shipped sample at its repository path.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from helpers import ROOT, SAMPLE, tone

README = (ROOT / "README.md").read_text()
BIN = str(Path(sys.executable).parent)


def section(title: str) -> str:
    start = README.index(f"## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end > 0 else None]


def blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, re.S)


def run_bash(line: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": BIN + os.pathsep + os.environ.get("PATH", "")}
    return subprocess.run(["bash", "-o", "pipefail", "-c", line], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    here = tmp_path_factory.mktemp("readme")
    sf.write(here / "talk.wav", tone(0.5), 16000)  # short: the examples' report and bench vocode every configuration
    sf.write(here / "band.flac", np.stack([tone(0.5), tone(0.5, freq=550.0)], axis=1), 44100)
    for name, seconds in (("recordings/a.wav", 0.3), ("recordings/sub/b.flac", 0.3), ("music/m.wav", 0.3), ("corpus/c.wav", 0.5)):
        (here / name).parent.mkdir(parents=True, exist_ok=True)
        sf.write(here / name, tone(seconds, freq=330.0), 16000)
    return here


COMMAND_LINES = [line for block in blocks(section("Command line"), "bash") for line in block.splitlines() if line.strip()]


@pytest.mark.parametrize("line", COMMAND_LINES)
def test_command_line_examples(folder, line):
    result = run_bash(line, folder)
    assert result.returncode == 0, f"{line}\n{result.stderr}"
    assert "Traceback" not in result.stderr


def test_python_examples(folder):
    code = blocks(section("Python"), "python")
    assert code
    result = subprocess.run([sys.executable, "-c", "\n".join(code)], cwd=folder, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr


def test_setup_example_after_its_pip_install(tmp_path):
    line = blocks(section("Set-up"), "bash")[0].strip()
    parts = line.split(" && ")
    commands = [p for p in parts if p.startswith("spectrocodec ")]
    assert commands and parts[-len(commands):] == commands  # the spectrocodec commands end the line
    sample = tmp_path / "spectrocodec" / "samples" / SAMPLE.name
    sample.parent.mkdir(parents=True)
    sample.write_bytes(SAMPLE.read_bytes())
    result = run_bash(" && ".join(commands), tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "speech.avif").exists() and (tmp_path / "speech.wav").exists()
