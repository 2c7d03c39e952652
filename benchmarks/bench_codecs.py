"""Benchmark every installed image codec (and backend) on the speech corpus → docs/codecs.md tables.

For each codec/backend, at its default quality and in its lossless mode, at each bit depth it
supports (of 8, 10, 12, 16 unless --all-bits), on every ``*.ogg`` of the corpus:

- bytes: mean file size per corpus file (metadata payload included);
- kbps: total bytes x 8 / total duration;
- dB: feature distortion, the RMS over all frames and bins of 20 x (log10 mel decoded - original),
  both clamped to [-11, 4] (the speecht5 fixed range); includes the 8/10/12-bit quantisation;
- enc / dec ms: the codec alone (image → bytes, bytes → image), median of --reps runs, mean per file.
  Feature extraction (~35 ms per file) and vocoding are not included.

Then a rate-distortion table (each lossy codec at several qualities), and the AVIF grayscale workaround: imagecodecs' avif_encode makes a 2-D array lossless whatever the
quality, so the avif codec encodes three identical channels with pixelformat YUV400; this compares
it with YUV444 and YUV420 from the same channels, the 2-D (lossless) path and Pillow's mode L.

    python benchmarks/bench_codecs.py                            # print the tables
    python benchmarks/bench_codecs.py --write-docs docs/codecs.md  # and replace them in the doc

Timings are indicative: other processes may share the CPU.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from spectrocodec.core import fileformat, mapping
from spectrocodec.core.audio import read_audio
from spectrocodec.core.pipeline import Pipeline
from spectrocodec.core.registry import Registry

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "speech"
BEGIN, END = "<!-- bench_codecs:{} begin -->", "<!-- bench_codecs:{} end -->"
CLAMP = (-11.0, 4.0)


def load_corpus(folder: Path, extractor) -> list[dict]:
    items = []
    for path in sorted(folder.glob("*.ogg")):
        audio, rate = read_audio(path)
        start = time.perf_counter()
        features = extractor.extract(audio, rate)
        items.append({"name": path.name, "audio": audio, "rate": rate, "features": features,
                      "duration": audio.shape[0] / rate, "extract_ms": (time.perf_counter() - start) * 1e3})
    if not items:
        sys.exit(f"no *.ogg files in {folder}")
    return items


def feature_db(decoded: np.ndarray, original: np.ndarray) -> tuple[float, int]:
    """(sum of squared dB errors, count) between clamped feature arrays."""
    diff = 20.0 * (np.clip(decoded, *CLAMP) - np.clip(original, *CLAMP))
    return float(np.sum(diff.astype(np.float64) ** 2)), diff.size


def median_ms(fn, reps: int) -> float:
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def measure(codec, extractor, corpus: list[dict], bits: int, reps: int) -> dict:
    total_bytes = total_dur = sq = n = enc_ms = dec_ms = 0.0
    for item in corpus:
        pipe = Pipeline(extractor=extractor, codec=codec, bits=bits)
        data = pipe.encode_features(item["features"], item["rate"], item["audio"].shape[0], item["audio"].shape[1])
        decoded = pipe.read(data)
        s, c = feature_db(decoded.features, item["features"])
        sq, n = sq + s, n + c
        total_bytes += len(data)
        total_dur += item["duration"]
        # the codec alone, on the same image and payload
        lo, hi = mapping.feature_range(item["features"], "adaptive", extractor.fixed_range)
        image = mapping.fold(mapping.to_image(item["features"], lo, hi, bits), codec.max_width)
        payload = fileformat.pack(decoded.header)
        enc_ms += median_ms(lambda: codec.encode(image, bits, payload), reps)
        dec_ms += median_ms(lambda: codec.decode(data), reps)
    k = len(corpus)
    return {"bytes": total_bytes / k, "kbps": total_bytes * 8 / total_dur / 1000, "db": (sq / n) ** 0.5,
            "enc": enc_ms / k, "dec": dec_ms / k}


def codec_tables(registry: Registry, extractor, corpus, reps: int, all_bits: bool) -> tuple[str, str]:
    lossy_rows, lossless_rows = [], []
    for cls in registry.classes("codec"):
        if cls.unavailable():
            print(f"skipping {cls.name} ({cls.backend}): {cls.unavailable()}", file=sys.stderr)
            continue
        depths = [b for b in cls.bit_depths if all_bits or b in (8, 10, 12, 16)]
        modes = ([False] if cls.lossy else []) + ([True] if cls.lossless else [])
        for lossless in modes:
            for bits in depths:
                codec = cls(lossless=lossless) if lossless else cls()
                row = measure(codec, extractor, corpus, bits, reps)
                quality = "lossless" if lossless else f"q {cls.defaults.get('quality')}"
                line = (f"| {cls.name} | {cls.backend} | {bits} | {quality} | {row['bytes']:.0f} | {row['kbps']:.2f} | "
                        f"{row['db']:.2f} | {row['enc']:.0f} | {row['dec']:.0f} |")
                (lossless_rows if lossless else lossy_rows).append(line)
                print(line, file=sys.stderr, flush=True)
    head = ("| codec | backend | bits | quality | bytes / file | kbps | feature error dB | encode ms | decode ms |\n"
            "|---|---|---|---|---|---|---|---|---|")
    return head + "\n" + "\n".join(lossy_rows), head + "\n" + "\n".join(lossless_rows)


def rd_table(registry: Registry, extractor, corpus, qualities: list[int]) -> str:
    """kbps and feature error of each lossy codec/backend at several qualities, at 10 bits (8 where
    that is all the codec stores): how the quality scales compare."""
    classes = [c for c in registry.classes("codec") if c.lossy and c.unavailable() is None]
    rows = ["| codec | backend | bits | " + " | ".join(f"q {q}" for q in qualities) + " |",
            "|---|---|---|" + "---|" * len(qualities)]
    for cls in classes:
        bits = 10 if 10 in cls.bit_depths else max(cls.bit_depths)
        cells = []
        for q in qualities:
            total = total_dur = sq = n = 0.0
            for item in corpus:
                pipe = Pipeline(extractor=extractor, codec=cls(quality=q), bits=bits)
                data = pipe.encode_features(item["features"], item["rate"], item["audio"].shape[0], item["audio"].shape[1])
                s, c = feature_db(pipe.read(data).features, item["features"])
                total, total_dur, sq, n = total + len(data), total_dur + item["duration"], sq + s, n + c
            cells.append(f"{total * 8 / total_dur / 1000:.2f} kbps, {(sq / n) ** 0.5:.2f} dB")
        rows.append(f"| {cls.name} | {cls.backend} | {bits} | " + " | ".join(cells) + " |")
        print(rows[-1], file=sys.stderr, flush=True)
    return "\n".join(rows)


def avif_table(corpus, qualities: list[int], bits_list: list[int]) -> str:
    """Bytes and feature error of the AVIF grayscale options (imagecodecs, speed 6, 2 threads)."""
    import imagecodecs

    pf = imagecodecs.AVIF.PIXEL_FORMAT
    try:
        import io

        from PIL import Image, features as pil_features
        has_pillow = pil_features.check("avif")
    except Exception:
        has_pillow = False
    rows = ["| bits | quality | 3 x gray, YUV400 (used) | 3 x gray, YUV444 | 3 x gray, YUV420 | 2-D array (always lossless) | Pillow mode L (4:0:0) |",
            "|---|---|---|---|---|---|---|"]
    for bits in bits_list:
        for q in qualities:
            cells = {}
            for label, how in (("400", pf.YUV400), ("444", pf.YUV444), ("420", pf.YUV420), ("2d", None), ("pil", "pil")):
                if how == "pil" and (bits != 8 or not has_pillow):
                    cells[label] = "n/a"
                    continue
                total = sq = n = 0
                for item in corpus:
                    feats = item["features"]
                    lo, hi = mapping.feature_range(feats, "adaptive", (-11.0, 4.0))
                    image = np.ascontiguousarray(mapping.to_image(feats, lo, hi, bits))
                    kw = dict(bitspersample=bits, speed=6, numthreads=2)
                    if how is None:
                        data = imagecodecs.avif_encode(image, level=q, **kw)
                        out = imagecodecs.avif_decode(data)
                    elif how == "pil":
                        buf = io.BytesIO()
                        Image.fromarray(image, "L").save(buf, format="AVIF", quality=q, speed=6, max_threads=2)
                        data = buf.getvalue()
                        out = np.asarray(Image.open(io.BytesIO(data)).convert("L"))
                    else:
                        rgb = np.repeat(image[:, :, None], 3, axis=2)
                        data = imagecodecs.avif_encode(rgb, level=q, pixelformat=how, **kw)
                        out = imagecodecs.avif_decode(data)
                    if out.ndim == 3:
                        out = np.rint(out[:, :, :3].astype(np.float64).mean(axis=2)).astype(image.dtype)
                    s, c = feature_db(mapping.from_image(out, lo, hi, bits), feats)
                    total, sq, n = total + len(data), sq + s, n + c
                cells[label] = f"{total / len(corpus):.0f} B, {(sq / n) ** 0.5:.2f} dB"
            rows.append(f"| {bits} | {q} | {cells['400']} | {cells['444']} | {cells['420']} | {cells['2d']} | {cells['pil']} |")
            print(rows[-1], file=sys.stderr, flush=True)
    return "\n".join(rows)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"


def versions() -> str:
    import imagecodecs
    import PIL

    parts = [f"imagecodecs {imagecodecs.__version__}", f"Pillow {PIL.__version__}"]
    try:
        import pillow_heif

        parts.append(f"pillow-heif {pillow_heif.__version__} (libheif {pillow_heif.libheif_version()})")
    except Exception:
        pass
    return ", ".join(parts)


def replace_section(text: str, name: str, body: str) -> str:
    begin, end = BEGIN.format(name), END.format(name)
    if begin not in text or end not in text:
        raise SystemExit(f"markers {begin} ... {end} not found")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{body}\n{end}{tail}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS, help=f"folder of *.ogg speech files (default {CORPUS})")
    parser.add_argument("--reps", type=int, default=5, help="timing repetitions (median), default 5")
    parser.add_argument("--all-bits", action="store_true", help="every supported bit depth, not just 8/10/12/16")
    parser.add_argument("--avif-qualities", default="30,60,90", help="qualities of the AVIF grayscale table")
    parser.add_argument("--rd-qualities", default="20,40,60,80,95", help="qualities of the rate-distortion table")
    parser.add_argument("--write-docs", type=Path, help="replace the tables between the bench_codecs markers of this file")
    args = parser.parse_args(argv)

    registry = Registry.default()
    extractor = registry.create("feature", "speecht5")
    corpus = load_corpus(args.corpus, extractor)
    lossy, lossless = codec_tables(registry, extractor, corpus, args.reps, args.all_bits)
    rd = rd_table(registry, extractor, corpus, [int(q) for q in args.rd_qualities.split(",")])
    avif = avif_table(corpus, [int(q) for q in args.avif_qualities.split(",")], [8, 10])
    files = ", ".join(f"{c['name']} ({c['duration']:.1f} s)" for c in corpus)
    about = (f"Measured with `python benchmarks/bench_codecs.py --write-docs docs/codecs.md` on {machine()}; "
             f"{versions()}. Corpus: {files}. Encode/decode times are the codec alone, median of {args.reps} runs, "
             "mean per file; other work shared the CPU, so timings are indicative.")
    print(about, lossy, lossless, rd, avif, sep="\n\n")
    if args.write_docs:
        text = args.write_docs.read_text()
        for name, body in (("about", about), ("lossy", lossy), ("lossless", lossless), ("rd", rd), ("avif", avif)):
            text = replace_section(text, name, body)
        args.write_docs.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
