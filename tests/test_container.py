"""The compact file: metadata version 2 (small, extensible, version 1 still read) and the AVIF
containers of spectrocodec.kit.avifbox (the smallest standard file by default, the AVIF 1.2 mini
box with container="compact"): sizes, pixel identity with libavif's own file, other readers
(Pillow, avifdec, headless Chromium), old files, and hostile mini boxes."""

from __future__ import annotations

import dataclasses
import io
import re
import shutil
import struct
import subprocess

import imagecodecs
import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from spectrocodec.core import api, fileformat, mapping
from spectrocodec.core.pipeline import Pipeline
from spectrocodec.core.registry import Registry
from spectrocodec.errors import FormatError, SpectrocodecError
from spectrocodec.kit import avifbox, isobmff

from helpers import SAMPLE, SPEECH, StubVocoder as Stub, run_cli

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def clip(seconds: float = 3.0) -> np.ndarray:
    """The first ``seconds`` of a corpus speech file (the shipped sample without the corpus), 16 kHz."""
    audio, rate = sf.read(SPEECH[0] if SPEECH else SAMPLE, dtype="float32")
    assert rate == 16000
    return audio[: int(seconds * rate)]


def av1_bytes(data: bytes) -> int:
    image = avifbox.read_compact(data)[0] if avifbox.is_compact(data) else avifbox.parse(data)
    return len(image.payload)


# -- metadata version 2 -----------------------------------------------------------------------
def test_speech_payload_is_ten_bytes():
    header = fileformat.Header(bits=10, lo=-11.25, hi=1.5, num_samples=48000)
    payload = fileformat.pack(header)
    assert len(payload) == 10 and payload[0] == 2
    assert fileformat.unpack(payload) == header
    assert len(fileformat.pack(header, version=1)) == 27  # what version 1 took


def test_non_default_fields_round_trip():
    header = fileformat.Header(bits=16, lo=0.1, hi=3e20, range_mode="fixed", sample_rate=44100, num_samples=5,
                               channels=6, feature={"name": "other", "n_mels": 128})
    back = fileformat.unpack(fileformat.pack(header))
    assert back.feature == header.feature and (back.sample_rate, back.channels, back.bits) == (44100, 6, 16)
    assert back.range_mode == "fixed" and back.lo == float(np.float32(0.1))  # float32: not float16-exact


def test_version_1_payloads_are_still_read():
    header = fileformat.Header(bits=12, lo=-9.5, hi=1.25, sample_rate=22050, num_samples=7, channels=2,
                               feature={"name": "speecht5", "x": 1})
    back = fileformat.unpack(fileformat.pack(header, version=1))
    assert back == dataclasses.replace(header, version=1)


@pytest.mark.parametrize("lo, hi", [(-11.2345, 1.3456), (-4.0, 4.0), (-1e-3, 7e-4), (-70000.0, 3.0), (0.1, 0.1000001)])
def test_storable_range_is_stored_exactly_and_only_widens(lo, hi):
    slo, shi = fileformat.storable_range(lo, hi)
    assert slo <= lo and shi >= hi
    header = fileformat.Header(bits=10, lo=slo, hi=shi)
    back = fileformat.unpack(fileformat.pack(header))
    assert (back.lo, back.hi) == (slo, shi)  # what the mapping quantised with
    if abs(lo) < 6e4 and hi - lo > 1:
        assert (shi - slo) - (hi - lo) <= fileformat.FLOAT16_SLACK * (hi - lo)
        assert len(fileformat.pack(header)) == 7 + len(fileformat._varint(0))  # float16


def test_encoder_quantises_with_the_stored_range():
    features = Registry.default().create("feature", "speecht5").extract(clip(1.0), 16000)
    data = Pipeline(vocoder=Stub(), codec=Registry.default().create("codec", "avif", lossless=True)).encode(clip(1.0), 16000)
    decoded = Pipeline(vocoder=Stub()).read(data)
    lo, hi = decoded.header.lo, decoded.header.hi
    assert np.array_equal(mapping.to_image(features, lo, hi, 10), mapping.to_image(decoded.features, lo, hi, 10))


@dataclasses.dataclass
class HeaderWithRoom(fileformat.Header):
    room: str = ""  # a hypothetical future field (tag 1 is the real channel layout)


def test_extension_fields(monkeypatch):
    monkeypatch.setattr(fileformat, "Header", HeaderWithRoom)
    monkeypatch.setattr(fileformat, "EXTENSIONS", [fileformat.json_extension(2, "room", "")])
    plain = HeaderWithRoom(bits=10, lo=-5, hi=1)
    assert len(fileformat.pack(plain)) == 8  # a field at its default costs nothing
    hall = HeaderWithRoom(bits=10, lo=-5, hi=1, room="5.1")
    payload = fileformat.pack(hall)
    assert fileformat.unpack(payload).room == "5.1"
    # a reader that does not know tag 2 refuses (required); an optional tag (>= 128) is skipped
    monkeypatch.setattr(fileformat, "EXTENSIONS", [])
    with pytest.raises(FormatError, match="tag 2.*upgrade"):
        fileformat.unpack(payload)
    optional = payload[:-7] + bytes([129]) + payload[-6:]
    assert fileformat.unpack(optional).lo == -5


V2 = fileformat.pack(fileformat.Header(bits=10, lo=-5, hi=1, num_samples=8000))


@pytest.mark.parametrize("payload, words", [
    (V2[:1] + struct.pack("<H", 0x8432) + V2[3:], "unknown flags"),
    (V2[:1] + struct.pack("<H", 0x0132) + V2[3:] + b"\x09", "feature config id 9"),
    (V2 + b"\x00", "trailing bytes"),
    (V2[:1] + struct.pack("<H", 0x0232) + V2[3:], "truncated"),
    (V2[:1] + struct.pack("<H", 0x0232) + V2[3:] + b"\x85\x09ab", "truncated"),
    (V2[:1] + struct.pack("<H", 0x0039) + V2[3:], "17-bit"),
    (V2[:1] + struct.pack("<H", 0x0132) + V2[3:] + b"\x00\x02\xff\xfe\x00", "unreadable"),
    (V2[:3] + struct.pack("<ee", 1.0, -1.0) + V2[7:], "value range"),
    (V2[:3] + struct.pack("<ee", float("nan"), 1.0) + V2[7:], "value range"),
])
def test_version_2_lies_are_refused(payload, words):
    with pytest.raises(FormatError, match=words) as info:
        fileformat.unpack(payload)
    assert "\n" not in str(info.value)


def test_every_truncation_of_version_2_is_refused():
    payload = fileformat.pack(fileformat.Header(bits=10, lo=0.1, hi=2, sample_rate=44100, channels=2,
                                                num_samples=10 ** 6, feature={"name": "x", "a": [1]}))
    for n in range(len(payload)):
        with pytest.raises(FormatError):
            fileformat.unpack(payload[:n])


# -- the containers ---------------------------------------------------------------------------
@pytest.mark.parametrize("container, budget", [("standard", 250), ("compact", 64)])
def test_three_second_clip_at_quality_30(container, budget):
    """Done-when of issue 12: bytes beyond the AV1 payload, and the decoded length."""
    audio = clip(3.0)
    data = api.encode(audio, 16000, quality=30, container=container)
    overhead = len(data) - av1_bytes(data)
    assert overhead <= budget, overhead
    payload, metadata, rest = Registry.default().get_class("codec", "avif").split_container(data)  # what bench reports
    assert payload == av1_bytes(data) and metadata + rest == overhead
    assert metadata == 10 + 3 + (8 if container == "compact" else 0)  # 3: the curve extension field of lossy files
    if container == "standard":
        assert overhead == 230 + len(fileformat.pack(Pipeline().read(data).header))
    waveform, rate = Pipeline(vocoder=Stub()).decode(data)
    assert rate == 16000 and len(waveform) == len(audio)
    assert api.info(data)["container"] == container


def _libavif_file(bits: int = 10, quality: int = 30, seed: int = 0) -> tuple[bytes, np.ndarray]:
    rng = np.random.default_rng(seed)
    image = (np.cumsum(rng.normal(0, 20, (80, 150)), axis=1) % (1 << bits)).astype(np.uint8 if bits == 8 else np.uint16)
    data = imagecodecs.avif_encode(np.repeat(image[:, :, None], 3, axis=2), level=quality, pixelformat=4, bitspersample=bits)
    return data, imagecodecs.avif_decode(data)


@pytest.mark.parametrize("bits", [8, 10, 12])
@pytest.mark.parametrize("container", avifbox.CONTAINERS)
def test_rewritten_file_decodes_to_the_same_pixels(bits, container):
    source, pixels = _libavif_file(bits)
    data = avifbox.wrap(source, b"payload", container)
    standard, metadata = avifbox.unwrap(data, "AVIF", 1 << 24)
    assert metadata == b"payload" and avifbox.layout(data) == container
    assert np.array_equal(imagecodecs.avif_decode(standard), pixels)
    if container == "standard":
        assert standard == data and len(data) == len(avifbox.parse(source).payload) + 230 + 7
        with Image.open(io.BytesIO(data)) as picture:  # Pillow's own libavif
            assert picture.size == (150, 80)


def test_old_files_still_decode():
    """What spectrocodec wrote before: libavif's layout, a version-1 payload in a trailing scdc box."""
    audio = clip(1.0)
    new = api.encode(audio, 16000, quality=50)
    header = Pipeline().read(new).header
    source, _ = _libavif_file()
    features = Registry.default().create("feature", "speecht5").extract(audio, 16000)
    image = mapping.to_image(features, header.lo, header.hi, 10)
    old = imagecodecs.avif_encode(np.repeat(image[:, :, None], 3, axis=2), level=50, pixelformat=4, bitspersample=10)
    old = isobmff.append_box(old, isobmff.BOX, fileformat.pack(header, version=1))
    assert api.info(old)["container"] == "libavif" and api.info(old)["format_version"] == 1
    waveform, _ = Pipeline(vocoder=Stub()).decode(old)
    assert len(waveform) == len(audio)


def test_pillow_backend_reads_and_writes_both_containers():
    if Registry.default().get_class("codec", "avif", "pillow").unavailable():
        pytest.skip("Pillow has no AVIF support")
    for container in avifbox.CONTAINERS:
        data = api.encode(clip(1.0), 16000, backend="pillow", bits=8, container=container)
        assert avifbox.layout(data) == container
        for backend in ("pillow", "imagecodecs"):
            codec = Registry.default().create("codec", {"name": "avif", "backend": backend})
            assert Pipeline(codec=codec, vocoder=Stub()).read(data).header.num_samples == 16000


def test_cli_container_flag_and_info(tmp_path):
    source = tmp_path / "clip.wav"
    sf.write(source, clip(1.0), 16000)
    out = tmp_path / "clip.avif"
    assert run_cli("encode", source, "-o", out, "--container", "compact").returncode == 0
    assert out.read_bytes()[8:16] == b"mif3avif"
    info = run_cli("info", out)
    assert "container:   compact" in info.stdout
    assert run_cli("decode", out, "-o", tmp_path / "clip.wav", "-f", "--vocoder", "griffinlim", "--param", "iterations=2").returncode == 0
    bad = run_cli("encode", source, "-o", tmp_path / "x.webp", "--codec", "webp", "--container", "compact")
    assert bad.returncode != 0 and bad.stderr.count("\n") == 1 and "container" in bad.stderr
    with pytest.raises(SpectrocodecError, match="unknown AVIF container 'tiny'"):
        api.encode(clip(0.2), 16000, container="tiny")


@pytest.mark.skipif(shutil.which("avifdec") is None, reason="avifdec is not installed (apt-get install libavif-bin)")
def test_strict_avifdec_reads_the_standard_file(tmp_path):
    path = tmp_path / "clip.avif"
    path.write_bytes(api.encode(clip(1.0), 16000, quality=30))
    result = subprocess.run(["avifdec", path, tmp_path / "clip.png"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr  # avifdec is strict by default


def test_chromium_shows_both_containers(tmp_path):
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (apt-get install chromium): the containers are not checked in a browser")
    version = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True, timeout=60).stdout
    major = int((re.search(r"(\d+)\.", version) or [0, "0"])[1])
    if major < 150:
        pytest.skip(f"{version.strip()}: Chromium 150 is the first version checked to show AVIF 1.2 mini files")
    from test_codecs import show_in_chromium

    files = {}
    for bits in (8, 10):
        source, pixels = _libavif_file(bits, seed=bits)
        for container in avifbox.CONTAINERS:
            name = f"{container}-{bits}.avif"
            (tmp_path / name).write_bytes(avifbox.wrap(source, fileformat.pack(fileformat.Header(bits=bits, lo=-5, hi=1)), container))
            files[name] = (pixels, bits)
    shown = show_in_chromium(CHROMIUM, tmp_path, sorted(files))
    for name, (pixels, bits) in files.items():
        assert shown[name] != "error", f"Chromium cannot open {name}"
        assert (shown[name]["width"], shown[name]["height"]) == (150, 80), name
        red = np.array(shown[name]["red"], np.float64).reshape(80, 150)
        assert np.abs(red - np.rint(pixels.astype(np.float64) * 255 / ((1 << bits) - 1))).max() <= (0 if bits == 8 else 1), name


# -- hostile compact files --------------------------------------------------------------------
def _compact() -> bytes:
    return api.encode(clip(0.5), 16000, container="compact")


def _mini_at(data: bytes) -> int:
    return next(start for kind, start, _ in isobmff.boxes(data) if kind == b"mini")


def _refused(data: bytes) -> str:
    with pytest.raises(SpectrocodecError) as info:
        Pipeline(vocoder=Stub()).decode(data)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_every_truncation_of_a_compact_file_is_refused():
    data = _compact()
    for n in range(len(data)):
        if n < 16:
            continue  # shorter than ftyp: not recognised as AVIF at all (tested with garbage elsewhere)
        _refused(data[:n])


def test_every_bit_of_the_mini_header_flipped():
    data = _compact()
    start = _mini_at(data)
    for bit in range(8 * 14):  # the bit-packed header and av1C
        mutated = bytearray(data)
        mutated[start + bit // 8] ^= 0x80 >> bit % 8
        try:
            Pipeline(vocoder=Stub()).decode(bytes(mutated))
        except SpectrocodecError as exc:
            assert "\n" not in str(exc)


@pytest.mark.parametrize("flag, words", [(5, "alpha"), (7, "HDR"), (3, "float"), (1, "version")])
def test_unsupported_mini_features_are_refused(flag, words):
    data = bytearray(_compact())
    start = _mini_at(data)
    data[start + flag // 8] |= 0x80 >> flag % 8
    assert words.lower() in _refused(bytes(data)).lower()


def test_mini_claiming_a_huge_image_is_refused_before_decoding():
    image, metadata = avifbox.read_compact(_compact())
    image.width, image.height = 32768, 32768
    data = avifbox.compact(image, metadata or b"")
    assert "pixels" in _refused(data)


def test_mini_without_av1_or_with_a_lying_av1c():
    image, metadata = avifbox.read_compact(_compact())
    data = bytearray(avifbox.compact(image, metadata or b""))
    at = data.find(image.av1c, _mini_at(data))
    data[at + 2] ^= 0x40  # av1C says 8-bit, the mini header 10-bit
    assert "disagree" in _refused(bytes(data))
    no_mini = avifbox.compact(image, metadata or b"").replace(b"mini", b"free")
    assert "no mini box" in _refused(no_mini)


def test_iloc_with_endless_empty_extents_is_refused_quickly():
    """0-byte offset and length fields make extents take no room: the count alone must be bounded."""
    import time

    data = bytearray(api.encode(clip(0.5), 16000))
    at = data.find(b"iloc") + 4
    body = struct.pack(">BBBBBBHHHHH", 1, 0, 0, 0, 0x00, 0x00, 1, 1, 1, 0, 0xFFFF)
    data[at : at + len(body)] = body  # one item with 65535 extents of 0-byte fields, the rest left as is
    started = time.perf_counter()
    message = _refused(bytes(data))
    assert time.perf_counter() - started < 5 and "damaged" in message
    iloc = struct.pack(">BBBBBBH", 1, 0, 0, 0, 0x00, 0x00, 3) + struct.pack(">HHHH", 2, 0, 0, 0xFFFF) * 3
    with pytest.raises(FormatError, match="more than 4096 extents"):
        avifbox._locate(iloc, 1)
