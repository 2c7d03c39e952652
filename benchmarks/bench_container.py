"""Bytes beyond the AV1 payload in an AVIF file, before and after the compact container (issue 12).

    python benchmarks/bench_container.py [--quality 30] [--seconds 3] [--speech ../shared/corpus/speech]

Every speech file is cut into non-overlapping 3-s pieces; each piece is encoded once (avif,
imagecodecs backend, 10-bit) and the same AV1 payload is wrapped three ways:

- before: libavif's own file + a top-level scdc box holding a version-1 payload (what spectrocodec
  wrote before metadata version 2),
- standard: the default now (smallest standard AVIF, version-2 payload at the end of idat),
- compact: ``--container compact`` (AVIF 1.2 mini box + scdc box).

It also checks that storing the range as float16 (storable_range) costs nothing: the same cuts
encoded with the float32 range the mapping used before, compared on file bytes and on the RMS error
of the decoded log-mel (log10 units) against the encoder's features.
Prints a Markdown table (docs/codecs.md has the figures).
"""

from __future__ import annotations

import argparse
import platform
import statistics
from pathlib import Path

import numpy as np
import soundfile as sf

from spectrocodec.core import fileformat, mapping
from spectrocodec.core.api import make_codec
from spectrocodec.core.audio import read_mono
from spectrocodec.core.pipeline import Pipeline
from spectrocodec.core.registry import Registry
from spectrocodec.kit import avifbox

ROOT = Path(__file__).resolve().parents[1]


def cuts(folder: Path, seconds: float) -> list[tuple[str, np.ndarray]]:
    """(name, float32 mono 16 kHz samples) of every whole ``seconds`` piece of every file."""
    out = []
    for path in sorted(folder.glob("*")):
        if path.suffix.lower() not in (".ogg", ".flac", ".wav"):
            continue
        audio, _, _, _ = read_mono(path, 16000, 1e9)
        step = int(seconds * 16000)
        for i in range(len(audio) // step):
            out.append((f"{path.stem}@{i * seconds:g}s", audio[i * step : (i + 1) * step]))
    return out


def encode_cut(audio: np.ndarray, quality: float, range_fn) -> tuple[bytes, bytes, fileformat.Header]:
    """libavif's file (with a version-1 scdc box), the version-2 payload and the header."""
    extractor = Registry.default().create("feature", "speecht5")
    features = extractor.extract(audio, 16000)
    lo, hi = range_fn(*mapping.feature_range(features, "adaptive", extractor.fixed_range))
    header = fileformat.Header(bits=10, lo=lo, hi=hi, num_samples=len(audio))
    codec = make_codec("avif", quality, container="libavif")
    old = codec.encode(mapping.to_image(features, lo, hi, 10), 10, fileformat.pack(header, version=1))
    return old, fileformat.pack(header), header


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quality", type=float, default=30)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--speech", type=Path, default=ROOT.parent / "shared" / "corpus" / "speech")
    args = parser.parse_args(argv)
    pieces = cuts(args.speech, args.seconds)
    if not pieces:
        raise SystemExit(f"no audio in {args.speech}")
    rows = {"before": [], "standard": [], "compact": []}
    totals = {"before": [], "standard": [], "compact": []}
    payloads = {"v1": [], "v2": []}
    f16_cost = {"bytes32": [], "bytes16": [], "rms32": [], "rms16": []}
    extractor = Registry.default().create("feature", "speecht5")
    float32_range = lambda lo, hi: fileformat._outward(lo, hi, np.float32)  # noqa: E731  (the old behaviour)
    for name, audio in pieces:
        old, v2, header = encode_cut(audio, args.quality, fileformat.storable_range)
        av1 = len(avifbox.parse(old).payload)
        files = {"before": old, "standard": avifbox.wrap(old, v2, "standard"), "compact": avifbox.wrap(old, v2, "compact")}
        for kind, data in files.items():
            back = Pipeline().read(data)
            assert back.features.shape[0] == extractor.num_frames(len(audio)), (name, kind)
            rows[kind].append(len(data) - av1)
            totals[kind].append(len(data) * 8 / args.seconds / 1000)
        payloads["v1"].append(len(fileformat.pack(header, version=1)))
        payloads["v2"].append(len(v2))
        features = extractor.extract(audio, 16000)
        for tag, fn in (("32", float32_range), ("16", fileformat.storable_range)):
            old, v2, _ = encode_cut(audio, args.quality, fn)
            data = avifbox.wrap(old, v2, "standard")
            decoded = Pipeline().read(data).features
            f16_cost["bytes" + tag].append(len(data))
            f16_cost["rms" + tag].append(float(np.sqrt(np.mean((decoded - features) ** 2))))
    mean = statistics.fmean
    print(f"{len(pieces)} cuts of {args.seconds:g} s from {args.speech}, avif 10-bit quality {args.quality:g}; "
          f"machine: {platform.machine()} {platform.processor() or ''}".rstrip())
    print()
    print("| file layout | bytes beyond the AV1 payload (mean, min-max) | whole-file kbps (mean) |")
    print("|---|---|---|")
    labels = {"before": "before: libavif layout + scdc box, metadata v1",
              "standard": "standard (default): minimal boxes, metadata v2 in idat",
              "compact": "compact: mif3 + mini + scdc box, metadata v2"}
    for kind, values in rows.items():
        print(f"| {labels[kind]} | {mean(values):.1f} ({min(values)}-{max(values)}) | {mean(totals[kind]):.3f} |")
    print()
    print(f"metadata payload: v1 {mean(payloads['v1']):.1f} B, v2 {mean(payloads['v2']):.1f} B (mean)")
    print(f"float16 vs float32 range: file {mean(f16_cost['bytes16']):.1f} vs {mean(f16_cost['bytes32']):.1f} B, "
          f"log-mel RMS error {mean(f16_cost['rms16']):.5f} vs {mean(f16_cost['rms32']):.5f} (log10 units)")


if __name__ == "__main__":
    main()
