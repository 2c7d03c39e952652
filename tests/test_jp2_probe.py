"""JPEG 2000 ``probe`` (issue 15): ``info`` reads size, bits and metadata from the SIZ marker and
the uuid box without decoding pixels; a small hostile JP2 claiming a huge picture costs nothing."""

from __future__ import annotations

import struct
import subprocess
import sys

import pytest

from spectrocodec.core import api
from spectrocodec.core.pipeline import Pipeline
from spectrocodec.errors import FormatError
from spectrocodec_plugins.jpeg2000 import Jpeg2000Codec, codestream

from helpers import tone

PEAK = ("import re, sys; from spectrocodec.apps.cli import main; rc = main(['info', sys.argv[1]]); "
        "hwm = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1); "
        "print(int(hwm) // 1024, file=sys.stderr); sys.exit(rc)")


@pytest.fixture
def jp2() -> bytes:
    return Pipeline(codec="jpeg2000").encode(tone(1.0), 16000)


def _claiming(data: bytes, width: int, height: int) -> bytes:
    data = bytearray(data)
    at = data.index(codestream(bytes(data))) + 8  # SIZ: Xsiz, Ysiz after SOC, SIZ marker, Lsiz, Rsiz
    struct.pack_into(">II", data, at, width, height)
    return bytes(data)


def test_probe_reads_the_headers_without_decoding(jp2, tmp_path, monkeypatch):
    import imagecodecs

    probed = Jpeg2000Codec().probe(jp2)
    assert probed.image.shape == (80, 63) and probed.bits == 10 and probed.metadata
    monkeypatch.setattr(imagecodecs, "jpeg2k_decode", lambda *a, **k: pytest.fail("decoded pixels"))
    (tmp_path / "t.jp2").write_bytes(jp2)
    assert api.info(tmp_path / "t.jp2")["height"] == 80


@pytest.mark.parametrize("size", [(16000, 16000), (20000, 20000)])
def test_info_on_a_hostile_jp2_stays_small_with_a_one_line_error(jp2, tmp_path, size):
    bomb = tmp_path / "bomb.jp2"
    bomb.write_bytes(_claiming(jp2, *size))  # 256 M pixels (under max_pixels), 400 M (over)
    if size[0] * size[1] > Jpeg2000Codec.max_pixels:
        with pytest.raises(FormatError, match="more than spectrocodec decodes"):
            Jpeg2000Codec().probe(bomb.read_bytes())
    result = subprocess.run([sys.executable, "-c", PEAK, str(bomb)], capture_output=True, text=True, timeout=60)
    lines = result.stderr.strip().splitlines()
    assert int(lines[-1]) < 300  # MB, imports included
    assert result.returncode != 0 and len(lines) == 2 and lines[0].startswith("spectrocodec: error:"), result.stderr
