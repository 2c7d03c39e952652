"""The image codecs: every codec x every bit depth round-trips, lossless is bit-exact, metadata
survives, other readers (Pillow, pillow-heif, headless Chromium, djxl) open the files, decoders
refuse garbage, truncation and decompression bombs, and the third-party TIFF plugin is found
through its entry point."""

from __future__ import annotations

import importlib.metadata
import io
import json
import shutil
import struct
import subprocess
import zlib

import numpy as np
import pytest
from PIL import Image, features as pil_features

import spectrocodec
from spectrocodec import FormatError, PluginError
from spectrocodec.core import mapping
from spectrocodec.core.api import make_codec
from spectrocodec.core.audio import check_audio
from spectrocodec.core.pipeline import Pipeline
from spectrocodec.core.registry import Registry

from helpers import run_cli, tone

REGISTRY = Registry.default()
CODECS = [cls for cls in REGISTRY.classes("codec") if cls.unavailable() is None]
AUDIO = tone(0.5)  # 32 frames: a small picture keeps ~80 round trips fast
FRAMES = 1 + len(AUDIO) // 256


def _id(cls) -> str:
    return f"{cls.name}-{cls.backend}"


def _cases():
    for cls in CODECS:
        for bits in cls.bit_depths:
            for lossless in ([False] if cls.lossy else []) + ([True] if cls.lossless else []):
                yield pytest.param(cls, bits, lossless, id=f"{_id(cls)}-{bits}bit-{'lossless' if lossless else 'lossy'}")


def _encode(cls, bits=8, lossless=False, audio=AUDIO, **params):
    return spectrocodec.encode(audio, sample_rate=16000, codec=cls.name, backend=cls.backend, bits=bits,
                               lossless=lossless, **params)


def _expected_pixels(data: bytes, audio=AUDIO) -> np.ndarray:
    """The picture the encoder was given, rebuilt from the audio and the file's own header."""
    header = Pipeline().read(data).header
    features = REGISTRY.create("feature", "speecht5").extract(check_audio(audio, 16000), 16000)
    return mapping.to_image(features, header.lo, header.hi, header.bits, header.curve)


def test_every_installed_codec_is_here():
    names = {(cls.name, cls.backend) for cls in CODECS}
    for expected in [("avif", "imagecodecs"), ("avif", "pillow"), ("webp", "imagecodecs"), ("jxl", "imagecodecs"),
                     ("heic", "pillow-heif"), ("jpeg2000", "imagecodecs"), ("png", "imagecodecs")]:
        assert expected in names, f"{expected} is missing; broken plugins: {REGISTRY.broken}"


@pytest.mark.parametrize("cls, bits, lossless", list(_cases()))
def test_round_trip_every_codec_and_bit_depth(cls, bits, lossless):
    data = _encode(cls, bits, lossless)
    assert cls.sniff(data[:64])
    info = spectrocodec.info(data)  # decoded with whatever backend the registry prefers
    assert info["codec"] == cls.name and info["bits"] == bits and not info["legacy"]
    assert (info["num_samples"], info["sample_rate"], info["channels"]) == (len(AUDIO), 16000, 1)
    assert (info["width"], info["height"]) == (FRAMES, 80)
    header = Pipeline().read(data).header
    assert info["range"] == [header.lo, header.hi] and header.lo < header.hi
    decoded = cls().decode(data)  # and with the class that wrote it
    expected = _expected_pixels(data)
    assert decoded.bits == bits and decoded.image.shape == expected.shape
    assert decoded.image.dtype == (np.uint8 if bits == 8 else np.uint16)
    features = spectrocodec.read_features(data).features
    if lossless:
        assert np.array_equal(decoded.image, expected), "lossless is not bit-exact"
        assert np.array_equal(features, mapping.from_image(expected, header.lo, header.hi, bits))
    else:
        error = np.abs(decoded.image.astype(np.int64) - expected).mean() / ((1 << bits) - 1)
        assert error < 0.05, f"mean error {error:.3f} of full scale"


@pytest.mark.parametrize("cls", [c for c in CODECS if c.lossy], ids=_id)
def test_quality_changes_size_and_100_is_lossless(cls):
    sizes = [len(_encode(cls, 8, quality=q, audio=tone(2.0))) for q in (10, cls.defaults["quality"], 95)]
    assert sizes[0] < sizes[1] < sizes[2], sizes
    top = _encode(cls, 8, quality=100)
    assert np.array_equal(cls().decode(top).image, _expected_pixels(top))


def test_lossless_only_codecs_stay_lossless():
    for cls in CODECS:
        if not cls.lossy:
            assert cls(quality=10).params["lossless"] is True


# -- the files are ordinary images -------------------------------------------------------------
def _pillow_can_open(cls) -> str | None:
    if cls.name == "jxl":
        return "Pillow has no JPEG XL support (djxl and imagecodecs check it)"
    if cls.name == "jpeg2000" and not pil_features.check("jpg_2000"):
        return "this Pillow has no OpenJPEG"
    if cls.name == "avif" and not pil_features.check("avif"):
        return "this Pillow has no AVIF"
    return None


@pytest.mark.parametrize("cls", CODECS, ids=_id)
def test_pillow_opens_every_file(cls):
    reason = _pillow_can_open(cls)
    if reason:
        pytest.skip(reason)
    if cls.name == "heic":
        import pillow_heif

        pillow_heif.register_heif_opener()
    for bits in sorted({min(cls.bit_depths), max(cls.bit_depths)}):
        if cls.name == "avif" and bits > 8:
            continue  # Pillow decodes AVIF to 8 bits: nothing to compare
        data = _encode(cls, bits, lossless=cls.lossless)
        with Image.open(io.BytesIO(data)) as picture:
            picture.load()
            assert picture.size == (FRAMES, 80), (bits, picture.size)
            pixels = np.asarray(picture).astype(np.int64)
        if pixels.ndim == 3:
            pixels = pixels[:, :, 0]
        expected = _expected_pixels(data).astype(np.int64)
        if cls.name == "heic" and bits > 8:
            pixels >>= 16 - bits  # pillow-heif gives 16-bit range
        if cls.name in ("png", "tiff") and 8 < bits < 16:
            pixels >>= 16 - bits  # scaled up to 16 bits, as the sBIT / private tag says
        assert np.array_equal(pixels, expected), f"{bits}-bit: Pillow sees other pixel values"


def test_png_chunks():
    cls = REGISTRY.get_class("codec", "png")
    data = _encode(cls, 10)
    chunks, pos = [], 8
    while pos < len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        body = data[pos + 8 : pos + 8 + length]
        assert struct.unpack_from(">I", data, pos + 8 + length)[0] == zlib.crc32(kind + body)
        chunks.append((kind, body))
        pos += 12 + length
    kinds = [k for k, _ in chunks]
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND" and kinds.index(b"scDc") < kinds.index(b"IDAT")
    assert dict(chunks)[b"sBIT"] == bytes([10]) and dict(chunks)[b"IHDR"][8] == 16
    assert b"scDc"[0] & 0x20 and not b"scDc"[2] & 0x20  # ancillary, reserved bit clear


def test_webp_is_a_valid_extended_file():
    cls = REGISTRY.get_class("codec", "webp")
    for lossless in (False, True):
        data = _encode(cls, 8, lossless)
        assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
        assert struct.unpack_from("<I", data, 4)[0] == len(data) - 8
        pos, kinds = 12, []
        while pos < len(data):
            kind, size = struct.unpack_from("<4sI", data, pos)
            kinds.append(kind)
            if kind == b"VP8X":
                body = data[pos + 8 : pos + 18]
                assert body[0] == 0  # no ICC, alpha, EXIF, XMP or animation flags
                assert 1 + int.from_bytes(body[4:7], "little") == FRAMES and 1 + int.from_bytes(body[7:10], "little") == 80
            pos += 8 + size + (size & 1)
        assert pos == len(data)
        assert kinds == [b"VP8X", b"VP8L" if lossless else b"VP8 ", b"SCDC"]


def test_jxl_jp2_heic_boxes():
    from spectrocodec.kit import isobmff

    jxl = _encode(REGISTRY.get_class("codec", "jxl"), 10)
    assert [k for k, *_ in isobmff.boxes(jxl)] == [b"JXL ", b"ftyp", b"jxlc", b"scdc"]
    jxl16 = _encode(REGISTRY.get_class("codec", "jxl"), 16, lossless=True)
    assert [k for k, *_ in isobmff.boxes(jxl16)][-1] == b"scdc"
    jp2 = _encode(REGISTRY.get_class("codec", "jpeg2000"), 12)
    assert [k for k, *_ in isobmff.boxes(jp2)] == [b"jP  ", b"ftyp", b"jp2h", b"jp2c", b"uuid"]
    heic = _encode(REGISTRY.get_class("codec", "heic"), 10)
    assert [k for k, *_ in isobmff.boxes(heic)][-1] == b"scdc"


def test_jxl_with_djxl(tmp_path):
    import imagecodecs

    djxl = shutil.which("djxl")
    if djxl is None:
        pytest.skip("djxl is not installed (apt-get install libjxl-tools): JPEG XL is checked with imagecodecs only")
    cls = REGISTRY.get_class("codec", "jxl")
    for bits in (8, 10, 12, 16):
        for lossless in (False, True):
            data = _encode(cls, bits, lossless)
            (tmp_path / "in.jxl").write_bytes(data)
            # djxl 0.7 writes wrong values for 9-15-bit PNG/PGM output; asked for 16-bit it is right
            # (and it refuses --bits_per_sample=16 for an 8-bit image)
            wide = ["--bits_per_sample=16"] if bits > 8 else []
            result = subprocess.run([djxl, str(tmp_path / "in.jxl"), str(tmp_path / "out.png"), *wide],
                                    capture_output=True, text=True, timeout=60)
            assert result.returncode == 0, result.stderr
            png = imagecodecs.png_decode((tmp_path / "out.png").read_bytes()).astype(np.float64)
            theirs = np.rint(png * ((1 << bits) - 1) / (65535 if wide else 255))
            ours = cls().decode(data).image
            assert np.abs(theirs - ours).max() <= (0 if lossless else 1), (bits, lossless)


CHROMIUM_PAGE = """<!doctype html><html><body><pre id="out">pending</pre><script>
const names = %s; const result = {}; let left = names.length;
for (const name of names) {
  const img = new Image();
  img.onload = () => {
    const canvas = document.createElement("canvas");
    canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
    const context = canvas.getContext("2d");
    context.drawImage(img, 0, 0);
    const rgba = context.getImageData(0, 0, canvas.width, canvas.height).data;
    result[name] = {width: img.naturalWidth, height: img.naturalHeight, red: Array.from(rgba.filter((v, i) => i %% 4 === 0))};
    if (--left === 0) done();
  };
  img.onerror = () => { result[name] = "error"; if (--left === 0) done(); };
  img.src = name;
}
function done() { document.getElementById("out").textContent = JSON.stringify(result); }
</script></body></html>"""


def show_in_chromium(chromium: str, folder, names: list[str]) -> dict:
    """Load the image files ``names`` (in ``folder``) in headless Chromium: {name: "error" or
    {"width", "height", "red": [row-major red channel]}}."""
    page = folder / "page.html"
    page.write_text(CHROMIUM_PAGE % json.dumps(names))
    result = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--allow-file-access-from-files", f"--user-data-dir={folder / 'profile'}",
         "--virtual-time-budget=10000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120)
    start = result.stdout.find('<pre id="out">')
    assert start >= 0, result.stderr[-2000:]
    text = result.stdout[start + len('<pre id="out">') : result.stdout.find("</pre>", start)]
    assert text != "pending", "Chromium did not finish loading the images"
    return json.loads(text)


def test_avif_and_webp_open_in_chromium(tmp_path):
    """Chromium shows every AVIF and WebP variant at its size, with the pixels spectrocodec decodes."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if chromium is None:
        pytest.skip("Chromium is not installed (apt-get install chromium): AVIF/WebP are not checked in a browser")
    audio = tone(1.0)
    frames = 1 + len(audio) // 256
    files = {}
    for cls in CODECS:
        if cls.name not in ("avif", "webp"):
            continue
        for bits in cls.bit_depths:
            for lossless in (False, True):
                name = f"{cls.name}-{cls.backend}-{bits}-{'lossless' if lossless else 'lossy'}{cls.extension}"
                data = _encode(cls, bits, lossless, audio=audio)
                (tmp_path / name).write_bytes(data)
                files[name] = (cls().decode(data).image, bits)
    assert any(n.startswith("webp") for n in files) and any("pillow" in n for n in files)
    shown = show_in_chromium(chromium, tmp_path, sorted(files))
    for name, (pixels, bits) in files.items():
        assert shown[name] != "error", f"Chromium cannot open {name}"
        assert (shown[name]["width"], shown[name]["height"]) == (frames, 80), name
        red = np.array(shown[name]["red"], np.float64).reshape(80, frames)
        ours = np.rint(pixels.astype(np.float64) * 255 / ((1 << bits) - 1))  # the browser shows 8 bits
        assert np.abs(red - ours).max() <= (0 if bits == 8 else 1), f"{name}: Chromium shows other pixels"


# -- wrong names, garbage, truncation, bombs ---------------------------------------------------
@pytest.mark.parametrize("cls", CODECS, ids=_id)
def test_format_is_recognised_from_the_bytes(cls, tmp_path):
    data = _encode(cls, 8, cls.lossless)
    recognised = REGISTRY.codec_for_bytes(data)
    assert recognised.name == cls.name
    path = tmp_path / "misnamed.png"  # a wrong extension (a PNG name for every format but png)
    if cls.name == "png":
        path = tmp_path / "misnamed.webp"
    path.write_bytes(data)
    assert spectrocodec.info(path)["codec"] == cls.name


def test_cli_misnamed_file(tmp_path, sample):
    out = tmp_path / "speech.img"  # an extension no codec has (one naming another codec is refused: test_unix.py)
    result = run_cli("encode", sample, "-o", out, "--codec", "webp", "--bits", "8", "-q")
    assert result.returncode == 0, result.stderr
    info = run_cli("info", out, "--json")
    assert info.returncode == 0, info.stderr
    assert json.loads(info.stdout)["codec"] == "webp"


@pytest.mark.parametrize("cls", CODECS, ids=_id)
def test_garbage_and_truncation_are_one_line_format_errors(cls):
    data = _encode(cls, 8, audio=tone(1.0))
    codec = cls()
    bad = [data[:cut] for cut in (0, 8, 16, 40, 100, len(data) // 2, len(data) - 1)]
    bad += [data[:16] + bytes(300), data[:32] + bytes(range(256)) * 2, b"\x00" * 64]
    for blob in bad:
        with pytest.raises(FormatError) as caught:
            codec.decode(blob)
        assert "\n" not in str(caught.value)


_LIBRARY_DECODERS = {
    "avif-imagecodecs": ("imagecodecs", "avif_decode"), "webp-imagecodecs": ("imagecodecs", "webp_decode"),
    "jxl-imagecodecs": ("imagecodecs", "jpegxl_decode"), "jpeg2000-imagecodecs": ("imagecodecs", "jpeg2k_decode"),
    "png-imagecodecs": ("imagecodecs", "png_decode"), "heic-pillow-heif": ("pillow_heif", "open_heif"),
}


@pytest.mark.parametrize("cls", CODECS, ids=_id)
def test_bombs_are_refused_before_decoding(cls, monkeypatch):
    data = _encode(cls, 8)
    small = type("Small", (cls,), {"max_pixels": 80 * FRAMES - 1})
    target = _LIBRARY_DECODERS.get(_id(cls))
    if target:
        module = __import__(target[0])
        monkeypatch.setattr(module, target[1], lambda *a, **k: pytest.fail("the decoder ran before the size check"))
    with pytest.raises(FormatError, match="refusing|more than"):
        small().decode(data)


def _lie_png(data: bytes) -> bytes:
    body = struct.pack(">II", 60000, 60000) + data[24:29]
    return data[:8] + struct.pack(">I4s", 13, b"IHDR") + body + struct.pack(">I", zlib.crc32(b"IHDR" + body)) + data[33:]


def _lie_jp2(data: bytes) -> bytes:
    at = data.index(b"\xff\x4f\xff\x51") + 8
    return data[:at] + struct.pack(">II", 60000, 60000) + data[at + 8 :]


def _lie_ispe(data: bytes) -> bytes:
    at = data.index(b"ispe") + 8
    return data[:at] + struct.pack(">II", 60000, 60000) + data[at + 8 :]


@pytest.mark.parametrize("name, lie", [("png", _lie_png), ("jpeg2000", _lie_jp2), ("heic", _lie_ispe), ("avif", _lie_ispe)])
def test_lying_headers_are_refused(name, lie):
    for cls in REGISTRY.components["codec"].get(name, []):
        if cls.unavailable() is None:
            with pytest.raises(FormatError, match="60000 x 60000"):
                cls().decode(lie(_encode(cls, 8)))


# -- refusals before any work ------------------------------------------------------------------
@pytest.mark.parametrize("config, bits, message", [
    ({"name": "webp"}, 12, "stores 8-bit"),
    ({"name": "webp"}, 10, "pick --bits 8"),
    ({"name": "heic"}, 16, "8, 10, 12-bit"),
    ({"name": "avif", "backend": "pillow"}, 10, "stores 8-bit"),
    ({"name": "png"}, 7, "8, 9, 10"),
])
def test_unsupported_bit_depths_are_refused_before_work(config, bits, message, monkeypatch):
    codec = REGISTRY.create("codec", dict(config))
    monkeypatch.setattr(type(codec), "encode", lambda *a: pytest.fail("encode ran"))
    with pytest.raises(PluginError, match=message):
        spectrocodec.encode(AUDIO, sample_rate=16000, codec=dict(config), bits=bits)


@pytest.mark.parametrize("name, params, message", [
    ("webp", {"quality": 101}, "quality from 0 to 100"),
    ("jxl", {"quality": -1}, "quality from 0 to 100"),
    ("webp", {"method": 7}, "method from 0"),
    ("jxl", {"effort": 0}, "effort from 1"),
    ("png", {"level": 10}, "level from 0"),
    ("heic", {"speed": 3}, "has no parameter speed"),
])
def test_bad_parameters_are_refused(name, params, message):
    with pytest.raises(PluginError, match=message):
        make_codec(name, **params)


def test_webp_width_limit_folds_long_spectrograms():
    cls = REGISTRY.get_class("codec", "webp")
    assert cls.max_width == 16382  # WebP's 14-bit sizes, less imagecodecs' off-by-one; the pipeline folds wider
    cls().encode(np.zeros((8, 16382), np.uint8), 8, b"")
    with pytest.raises(PluginError, match="at most 16382"):
        cls().encode(np.zeros((80, 16383), np.uint8), 8, b"")
    narrow = type("NarrowWebp", (cls,), {"max_width": 20})
    pipe = Pipeline(codec=narrow(lossless=True), bits=8)
    data = pipe.encode(AUDIO, 16000)
    decoded = pipe.read(data)
    assert (decoded.height, decoded.width) == (160, 20) and decoded.features.shape == (FRAMES, 80)


def test_cli_refuses_12_bit_webp_in_one_line(sample, tmp_path):
    result = run_cli("encode", sample, "-o", tmp_path / "x.webp", "--codec", "webp", "--bits", "12")
    assert result.returncode == 2 and not (tmp_path / "x.webp").exists()
    assert result.stderr.strip().count("\n") == 0 and "8-bit" in result.stderr and "Traceback" not in result.stderr


# -- the command line ------------------------------------------------------------------------
@pytest.mark.parametrize("args, codec, bits", [
    (["--codec", "webp", "--bits", "8", "--lossless"], "webp", 8),
    (["--codec", "jxl", "--bits", "16", "--lossless"], "jxl", 16),
    (["--codec", "heic", "--bits", "12", "--quality", "60"], "heic", 12),
    (["--codec", "jpeg2000", "--bits", "12"], "jpeg2000", 12),
    (["--codec", "png", "--bits", "10"], "png", 10),
    (["--codec", "avif", "--backend", "pillow", "--bits", "8", "--quality", "50"], "avif", 8),
])
def test_cli_round_trip(args, codec, bits, sample, tmp_path):
    out = tmp_path / "out.img"
    result = run_cli("encode", sample, "-o", out, *args)
    assert result.returncode == 0, result.stderr
    assert f"({codec}, {bits}-bit" in result.stdout
    info = json.loads(run_cli("info", out, "--json").stdout)
    assert (info["codec"], info["bits"]) == (codec, bits)
    assert info["num_samples"] > 0 and info["duration_s"] > 4
    if "--lossless" in args or codec == "png":
        from spectrocodec.core.audio import read_audio

        audio, rate = read_audio(sample)
        decoded = Pipeline().read(out.read_bytes())
        features = REGISTRY.create("feature", "speecht5").extract(audio, rate)
        expected = mapping.to_image(features, decoded.header.lo, decoded.header.hi, bits)
        assert np.array_equal(mapping.to_image(decoded.features, decoded.header.lo, decoded.header.hi, bits), expected)


def test_pillow_backend_is_chosen_by_name():
    assert type(make_codec("avif")).__name__ == "AvifCodec"
    assert type(make_codec("avif", backend="pillow")).backend == "pillow"
    data = spectrocodec.encode(AUDIO, sample_rate=16000, codec="avif", backend="pillow", bits=8)
    assert spectrocodec.info(data)["codec"] == "avif"
    pillow = REGISTRY.get_class("codec", "avif", "pillow")
    ten_bit = spectrocodec.encode(AUDIO, sample_rate=16000, codec="avif", bits=10)
    with pytest.raises(FormatError, match="imagecodecs backend"):
        pillow().decode(ten_bit)


def test_plugins_command_shows_capabilities():
    result = run_cli("plugins")
    assert result.returncode == 0, result.stderr
    lines = {(line.split()[0], line.split("backend ")[-1]): line for line in result.stdout.splitlines() if "backend " in line}
    assert "8-bit, lossy/lossless" in lines[("webp", "imagecodecs")]
    assert "8-16-bit, lossy/lossless" in lines[("jxl", "imagecodecs")]
    assert "8,10,12-bit" in lines[("heic", "pillow-heif")]
    assert "lossless, no quality" in lines[("png", "imagecodecs")]
    assert "8-bit" in lines[("avif", "pillow")]
    rows = json.loads(run_cli("plugins", "--json").stdout)["codec"]
    webp = next(r for r in rows if r["name"] == "webp")
    assert webp["bits"] == [8] and webp["lossy"] and webp["lossless"] and webp["defaults"]["quality"] == 80


# -- the third-party plugin ------------------------------------------------------------------
def _tiff_distribution():
    try:
        return importlib.metadata.distribution("spectrocodec-tiff")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("spectrocodec-tiff is not installed (pip install -e examples/spectrocodec-tiff)")


def test_third_party_tiff_plugin_via_entry_point(sample, tmp_path):
    dist = _tiff_distribution()
    entry = [ep for ep in dist.entry_points if ep.group == "spectrocodec"]
    assert [(ep.name, ep.value) for ep in entry] == [("tiff", "spectrocodec_tiff")]
    cls = REGISTRY.get_class("codec", "tiff")  # found by Registry.default() through the entry point
    assert cls.__module__ == "spectrocodec_tiff" and REGISTRY.plugin_of[cls] == "tiff"
    listed = json.loads(run_cli("plugins", "--json").stdout)["codec"]
    assert any(row["name"] == "tiff" and row["plugin"] == "tiff" and row["status"] == "ok" for row in listed)
    out = tmp_path / "speech.tiff"
    result = run_cli("encode", sample, "-o", out, "--codec", "tiff", "--bits", "16")
    assert result.returncode == 0, result.stderr
    info = json.loads(run_cli("info", out, "--json").stdout)
    assert info["codec"] == "tiff" and info["bits"] == 16 and info["backend"] == "pillow"
    assert Image.open(out).mode.startswith("I;16")
