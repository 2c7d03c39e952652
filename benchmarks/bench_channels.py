"""How to store several channels in one picture: the layouts measured on rate and distortion.

    python benchmarks/bench_channels.py            # writes docs/bench/channels.csv and channels.md
    python benchmarks/bench_channels.py --perceptual   # only part 3: linear vs floor + curve on stereo speech

Part 1, layouts: the R-D of each layout below on stereo inputs. Part 2, end to end through the
API (encode → decode with griffinlim, 64 iterations): the issue's criteria for the default
(``channels="keep"``): cost against the mono downmix, hard-pan crosstalk, relative levels of 6
and 8 channels, a silent channel.

Every stereo input's two channels are analysed separately (speecht5 log-mel, 16 kHz), then stored
in one 10-bit AVIF (libavif/libaom through imagecodecs, speed 6) at qualities 30, 50, 70, 90 in
each layout below. Distortion is metrics.mel_distortion_db of each channel's features read back
against its own original features (dB, averaged over the channels); size is the AV1 image alone
(the ~30-byte metadata is the same for all). The mono downmix (today's file: the features of the
averaged signal) is encoded at the same qualities for the issue's cost criteria.

Layouts (channels L, R; one value range [lo, hi] for the file):
  planar      strips: L's rows above R's, one grey (YUV 4:0:0) picture  (what 6/8 channels use)
  tiles       L then R side by side in time, one grey picture
  midside     strips: mid (L+R)/2 above side (L-R)/2 re-centred, grey   (core/channels.py)
  rgb-id444   colour planes without a colour transform (matrix identity, 4:4:4): G=L, B=R, R=grey
  rgb-ycc444  colour planes through the codec's YCbCr (BT.601): R=L, G=R, B=(L+R)/2, 4:4:4
  rgb-ycc420  the same with chroma subsampled 4:2:0
  ms-id444    colour planes, identity matrix, 4:4:4: G=mid, B=side, R=grey
  auto        what spectrocodec does (channels.choose): copies, midside or planar strips per file

Inputs: the corpus's real stereo (music/trumpet.ogg) and constructed pairs from the training
speech and the (mono) music: identical channels, a hard pan, two unrelated speakers, and a
"wide" mix (drums/bass on L, the same 12 ms later at 0.7 on R).
"""

from __future__ import annotations

import csv
import platform
import subprocess
import sys
from pathlib import Path

import imagecodecs
import numpy as np

from spectrocodec.apps.metrics import mel_distortion_db
from spectrocodec.core import channels as layouts
from spectrocodec.core import mapping
from spectrocodec.core.audio import read_audio, resample, to_mono
from spectrocodec.core.registry import Registry

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
OUT = ROOT / "docs" / "bench"
QUALITIES = (30, 50, 70, 90)
BITS = 10
YUV444, YUV420, YUV400 = 1, 3, 4
IDENTITY, BT601 = 0, 6


def inputs() -> dict[str, np.ndarray]:
    """name → float32 (samples, 2) at 16 kHz."""
    def load(path: Path, seconds: float = 8.0) -> np.ndarray:
        audio, rate = read_audio(path)
        return resample(to_mono(audio), rate, 16000)[: int(seconds * 16000)] if audio.shape[1] == 1 else \
            np.stack([resample(audio[:, c], rate, 16000) for c in range(audio.shape[1])], axis=1)[: int(seconds * 16000)]

    speech_a = load(CORPUS / "train" / "ljspeech" / "LJ001-0004.flac")
    speech_b = load(CORPUS / "train" / "vctk" / "p240_00000.mp3")
    n = min(len(speech_a), len(speech_b))
    drums = load(CORPUS / "music" / "choice_drum_bass.ogg")
    delay = int(0.012 * 16000)
    return {
        "trumpet (real stereo)": load(CORPUS / "music" / "trumpet.ogg"),
        "identical": np.stack([speech_a, speech_a], axis=1),
        "hard pan": np.stack([speech_a, np.zeros_like(speech_a)], axis=1),
        "unrelated": np.stack([speech_a[:n], speech_b[:n]], axis=1),
        "wide drums": np.stack([drums, 0.7 * np.concatenate([np.zeros(delay, np.float32), drums[:-delay]])], axis=1),
    }


def avif(pixels: np.ndarray, quality: int, pixelformat: int, matrix: int | None = None) -> tuple[int, np.ndarray]:
    """uint16 (h, w) or (h, w, 3) → (bytes, decoded pixels)."""
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[:, :, None], 3, axis=2)
    kwargs = {} if matrix is None else {"matrix": matrix}
    data = imagecodecs.avif_encode(np.ascontiguousarray(pixels), level=quality, speed=6, bitspersample=BITS,
                                   pixelformat=pixelformat, numthreads=1, **kwargs)
    out = imagecodecs.avif_decode(data)
    return len(data), out if out.ndim == 3 else out[:, :, None]


def run_layout(name: str, feats: np.ndarray, lo: float, hi: float, quality: int) -> tuple[int, np.ndarray]:
    """feats (2, frames, bins) → (bytes, features read back (2, frames, bins))."""
    img = lambda f: mapping.to_image(f, lo, hi, BITS)  # noqa: E731
    back = lambda p: mapping.from_image(p, lo, hi, BITS)  # noqa: E731
    bins = feats.shape[2]
    if name == "auto":
        name = layouts.choose(feats, lo, hi, BITS)
    if name in ("planar", "midside", "copies"):
        planes = layouts.to_planes(feats, name, lo, hi)
        size, out = avif(np.concatenate([img(p) for p in planes]), quality, YUV400)
        out = out[:, :, 0]
        got = np.stack([back(out[i * bins : (i + 1) * bins]) for i in range(len(planes))])
        return size, np.broadcast_to(layouts.from_planes(got, name, lo, hi), feats.shape)
    if name == "tiles":
        size, out = avif(np.concatenate([img(f) for f in feats], axis=1), quality, YUV400)
        frames = feats.shape[1]
        return size, np.stack([back(out[:, i * frames : (i + 1) * frames, 0]) for i in range(2)])
    left, right = img(feats[0]), img(feats[1])
    grey = np.full_like(left, 1 << (BITS - 1))
    if name == "rgb-id444":
        size, out = avif(np.stack([grey, left, right], axis=2), quality, YUV444, IDENTITY)
        return size, np.stack([back(out[:, :, 1]), back(out[:, :, 2])])
    if name == "ms-id444":
        mid, side = (img(p) for p in layouts.to_planes(feats, "midside", lo, hi))
        size, out = avif(np.stack([grey, mid, side], axis=2), quality, YUV444, IDENTITY)
        return size, layouts.from_planes(np.stack([back(out[:, :, 1]), back(out[:, :, 2])]), "midside", lo, hi)
    if name.startswith("rgb-ycc"):
        mean = ((left.astype(np.uint32) + right + 1) // 2).astype(np.uint16)
        size, out = avif(np.stack([left, right, mean], axis=2), quality, YUV444 if name.endswith("444") else YUV420, BT601)
        return size, np.stack([back(out[:, :, 0]), back(out[:, :, 1])])
    raise ValueError(name)


LAYOUT_NAMES = ("planar", "tiles", "midside", "rgb-id444", "rgb-ycc444", "rgb-ycc420", "ms-id444", "auto")


def main() -> int:
    extractor = Registry.default().create("feature", "speecht5")
    OUT.mkdir(parents=True, exist_ok=True)
    rows = []
    for file, audio in inputs().items():
        feats = np.stack([extractor.extract(audio[:, c], 16000) for c in range(2)])
        lo, hi = mapping.feature_range(feats, "adaptive", extractor.fixed_range)
        mono_feats = extractor.extract(to_mono(audio), 16000)
        mlo, mhi = mapping.feature_range(mono_feats, "adaptive", extractor.fixed_range)
        chosen = layouts.choose(feats, lo, hi, BITS)
        for quality in QUALITIES:
            size, out = avif(mapping.to_image(mono_feats, mlo, mhi, BITS), quality, YUV400)
            mono_size = size
            mono_db = mel_distortion_db(mono_feats, mapping.from_image(out[:, :, 0], mlo, mhi, BITS))
            rows.append({"file": file, "chosen": chosen, "layout": "mono downmix", "quality": quality, "bytes": size,
                         "x_mono": 1.0, "dist_db": round(mono_db, 3), "dist_l_db": "", "dist_r_db": ""})
            for name in LAYOUT_NAMES:
                size, got = run_layout(name, feats, lo, hi, quality)
                dists = [mel_distortion_db(feats[c], got[c]) for c in range(2)]
                rows.append({"file": file, "chosen": chosen, "layout": name, "quality": quality, "bytes": size,
                             "x_mono": round(size / mono_size, 3), "dist_db": round(float(np.mean(dists)), 3),
                             "dist_l_db": round(dists[0], 3), "dist_r_db": round(dists[1], 3)})
            print(file, quality, "done", file=sys.stderr)
    with open(OUT / "channels.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    text = summary(rows) + "\n" + end_to_end()
    (OUT / "channels.md").write_text(text)
    print(text)
    return 0


def level_db(waveform: np.ndarray) -> np.ndarray:
    """RMS level of each channel of (samples, channels), dB full scale."""
    return 20 * np.log10(np.sqrt(np.mean(np.asarray(waveform, np.float64) ** 2, axis=0)) + 1e-12)


def end_to_end() -> str:
    """The issue's criteria through api.encode / api.decode (default layout choice, griffinlim)."""
    from spectrocodec.core import api

    pairs = inputs()
    voice = pairs["identical"][:, 0]
    out = ["## End to end: the default (`channels=\"keep\"`), decoded with griffinlim", "",
           "| case | quality 30 | quality 60 (default) | quality 90 | quality 95 | lossless |", "|---|---|---|---|---|---|"]
    for name, source in (("trumpet.ogg (real stereo, the file itself)", CORPUS / "music" / "trumpet.ogg"),
                         ("identical channels", pairs["identical"])):
        cells = []
        for quality in (30, 60, 90, 95, None):
            kwargs = {} if isinstance(source, Path) else {"sample_rate": 16000}
            kwargs.update(quality=quality) if quality else kwargs.update(lossless=True)
            stereo = api.encode(source, **kwargs)
            mono = api.encode(source, channels="mono", **kwargs)
            cells.append(f"{len(stereo)} / {len(mono)} B = {len(stereo) / len(mono):.2f}× mono ({api.info(stereo)['layout']})")
        out.append(f"| {name}: bytes, × the mono downmix | " + " | ".join(cells) + " |")
    for quality in (30, 60, 90):
        row = []
        for side in (0, 1):
            audio = np.zeros((len(voice), 2), np.float32)
            audio[:, side] = voice
            levels = level_db(api.decode(api.encode(audio, 16000, quality=quality), vocoder="griffinlim")[0])
            row.append(levels[side] - levels[1 - side])
        out.append(f"| hard pan q{quality}: other channel down by (L, R panned) | {row[0]:.0f} dB, {row[1]:.0f} dB | | | | |")
    for count in (6, 8):
        gains = np.array([0, -6, -12, -3, -20, -9, -15, -1][:count], np.float64)
        audio = voice[:, None] * (10 ** (gains / 20)).astype(np.float32)
        waveform, _ = api.decode(api.encode(audio, 16000), vocoder="griffinlim")
        error = level_db(waveform) - level_db(waveform)[0] - gains
        out.append(f"| {count} channels at {', '.join(f'{g:g}' for g in gains)} dB (q60): relative level error "
                   f"| max {np.abs(error).max():.2f} dB | {', '.join(f'{e:+.2f}' for e in error)} | | | |")
    audio = np.stack([voice, np.zeros_like(voice), 0.5 * voice], axis=1)
    levels = level_db(api.decode(api.encode(audio, 16000), vocoder="griffinlim")[0])
    out.append(f"| one silent channel of 3 (q60): levels | {', '.join(f'{v:.1f}' for v in levels)} dBFS | | | | |")
    return "\n".join(out) + "\n"


def bytes_at(rows: list[dict], dist: float) -> float:
    """Bytes a layout's R-D curve (log bytes linear in distortion) needs for ``dist`` dB."""
    points = sorted((r["dist_db"], np.log(r["bytes"])) for r in rows)
    d, b = zip(*points)
    return float(np.exp(np.interp(dist, d, b)))


def summary(rows: list[dict]) -> str:
    files = list(dict.fromkeys(r["file"] for r in rows))
    names = ("mono downmix",) + LAYOUT_NAMES
    cpu = next((line.split(":", 1)[1].strip() for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines()
                if line.startswith("Model name")), platform.processor())
    out = [f"# Channel layouts: rate and distortion (`python benchmarks/bench_channels.py`)", "",
           f"Machine: {cpu}, 2 cores shared with other jobs; AVIF 10-bit, speed 6, imagecodecs {imagecodecs.__version__}.", "",
           "## Bytes (× the mono downmix at the same quality) and distortion (dB, mean over channels)", ""]
    for file in files:
        chosen = next(r["chosen"] for r in rows if r["file"] == file)
        out += [f"### {file} (auto chooses {chosen})", "", "| layout | " + " | ".join(f"q{q}" for q in QUALITIES) + " |",
                "|---|" + "---|" * len(QUALITIES)]
        for name in names:
            cells = []
            for q in QUALITIES:
                r = next(r for r in rows if r["file"] == file and r["layout"] == name and r["quality"] == q)
                cells.append(f"{r['bytes']} B ({r['x_mono']:.2f}×), {r['dist_db']:.2f} dB")
            out.append(f"| {name} | " + " | ".join(cells) + " |")
        out.append("")
    out += ["## Equal distortion: bytes relative to planar at planar's distortion (geometric mean over q30-q90)", "",
            "| layout | " + " | ".join(files) + " |", "|---|" + "---|" * len(files)]
    for name in LAYOUT_NAMES:
        cells = []
        for file in files:
            ref = [r for r in rows if r["file"] == file and r["layout"] == "planar"]
            mine = [r for r in rows if r["file"] == file and r["layout"] == name]
            ratios = [bytes_at(mine, r["dist_db"]) / r["bytes"] for r in ref]
            cells.append(f"{np.exp(np.mean(np.log(ratios))):.2f}")
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def perceptual(kbps: float = 3.0) -> str:
    """Part 3: the floor and the curve (docs/quality.md) on kept channels. Stereo speech built from
    the two unseen corpus speech files (and two train/ files), encoded by rate control at ``kbps``
    per plane (a copies file holds one plane) with the linear map (curve 1, no floor: how kept
    channels were stored before) and with the floor + curve; decoded by griffinlim (64 iterations);
    PESQ-WB of each channel against its own original (a silent channel: its level instead)."""
    from pesq import pesq

    from spectrocodec.core import api
    from spectrocodec.core.audio import read_mono
    from spectrocodec.core.pipeline import Pipeline

    rate, registry = 16000, Registry.default()
    one, two = (read_mono(CORPUS / "speech" / n, rate)[0] for n in ("libri1_5703-47212-0000.ogg", "libri2_3436-172162-0000.ogg"))
    a, b = (read_mono(p, rate)[0] for p in sorted((CORPUS / "train" / "librispeech").glob("*"))[:2])
    pair = lambda x, y: np.stack([x[: min(len(x), len(y))], y[: min(len(x), len(y))]], axis=1)  # noqa: E731
    delay = int(0.012 * rate)
    cases = {
        "identical (libri2 on both)": pair(two, two),
        "hard pan (libri1 left)": pair(one, np.zeros_like(one)),
        "unrelated (libri1, libri2)": pair(one, two),
        "unrelated (train/ a, b)": pair(a, b),
        "wide (libri2, right 12 ms later x 0.7)": pair(two, 0.7 * np.concatenate([np.zeros(delay, np.float32), two[:-delay]])),
        "hard pan, midside forced": pair(one, np.zeros_like(one)),
    }
    out = ["| input | map | layout | kbps | PESQ-WB left | PESQ-WB right |", "|---|---|---|---|---|---|"]
    for name, audio in cases.items():
        for label, settings in (("linear", {"curve": 1.0, "floor_db": None}), ("floor + curve", {})):
            pipe = Pipeline(extractor=registry.create("feature", "speecht5"), codec=registry.create("codec", "avif"), bits=BITS,
                            registry=registry, bitrate=kbps * (1 if "identical" in name else 2),
                            channels="midside" if "forced" in name else "keep", **settings)
            data = pipe.encode(audio.astype(np.float32), rate)
            layout = pipe.read(data, features=False).header.layout
            wave = api.decode(data, vocoder="griffinlim", device="cpu").waveform
            cells = [f"{pesq(rate, audio[:, c], wave[: len(audio), c], 'wb'):.3f}" if np.abs(audio[:, c]).max() > 0
                     else f"silent: {level_db(wave[:, c:c + 1])[0]:.0f} dBFS" for c in range(2)]
            out.append(f"| {name} | {label} | {layout} | {len(data) * 8 / (len(audio) / rate) / 1000:.2f} | {cells[0]} | {cells[1]} |")
            print(out[-1], flush=True)
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    if sys.argv[1:] == ["--perceptual"]:  # only part 3 (a few minutes): prints its table
        perceptual()
        sys.exit(0)
    sys.exit(main())
