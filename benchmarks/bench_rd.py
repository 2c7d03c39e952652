"""The committed benchmark figures: rate–distortion and speed against Opus, and container overhead.

    apt-get install opus-tools                 # the peer: opusenc/opusdec (skipped with a note if missing)
    python benchmarks/bench_rd.py              # resumes: rows already in docs/bench/rd.csv are kept
    python benchmarks/bench_rd.py --force      # measure everything again
    python benchmarks/bench_rd.py --music      # the corpus's music files instead, into music.*

Reads the corpus at ../shared/corpus (beside the repository root). Writes docs/bench/:
rd.csv (every input × configuration), rd.md (averages and the answers), rd.png (the plot),
rd-avif.png (the same, AVIF and Opus only), overhead.md (container and metadata bytes of a
3-second clip at 1, 2 and 4 kbps) and environment.md (the machine, load and library versions of
the run that measured); with --music, music.csv/.md/.png and music-environment.md.

Configurations: every installed image codec × its bit depths × a sweep of qualities spanning about
1–16 kbps on speech (AVIF's measured below; other codecs' found by calibrate()), adaptive range;
the seed's operating points (8-bit fixed-range AVIF, qualities 70–95); each through griffinlim, and
hifigan when its weights are present; each vocoder's copy synthesis; Opus at 6, 8, 12, 16, 24 kbps.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Vocoders and CLI processes run torch on one thread, like opusenc (single-threaded): comparable,
# and stable on a machine whose cores are shared (torch's default threads then slow down many times).
# Set before anything imports torch; the CLI processes inherit it.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

from spectrocodec.core import api
from spectrocodec.apps import bench  # noqa: E402
from spectrocodec.core.registry import Registry  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
OUT = ROOT / "docs" / "bench"

# Qualities per codec spanning ~1-16 kbps on the corpus speech (whole file, 15 s clips). AVIF,
# measured: q20 ≈ 0.8-1.0 kbps at 8/10/12 bits; q90 ≈ 12 / 14 / 14.5 kbps; q95 ≈ 16 / 20.5 / 22 kbps.
QUALITIES = {"avif": [20, 30, 40, 50, 60, 70, 80, 90, 95]}
SEED_QUALITIES = [70, 75, 80, 85, 90, 95]  # audio-avif: 8-bit, fixed range [-11, 4]
OPUS_KBPS = [6, 8, 12, 16, 24]
BITS = (8, 10, 12)  # the bit depths measured, where a codec stores them
SPAN_KBPS = (0.8, 20.0)  # what calibrate() keeps
POINTS = 9  # qualities per sweep at most
CLIP_SECONDS = 3.0  # the overhead experiment's clip
OVERHEAD_KBPS = (1, 2, 4)


def vocoders() -> list[str]:
    """griffinlim, and hifigan when it can run here (its weights present without a download)."""
    registry = Registry.default()
    names = []
    for name in ("griffinlim", "hifigan"):
        try:
            registry.get_class("vocoder", name)
        except Exception as exc:
            print(f"bench_rd: vocoder {name} left out: {exc}", file=sys.stderr)
            continue
        names.append(name)
    if not names:
        sys.exit("bench_rd: no vocoder installed (see 'spectrocodec plugins')")
    return names


def codecs() -> list[str]:
    """Every installed codec that can run here."""
    registry = Registry.default()
    names = []
    for name in registry.names("codec"):
        try:
            registry.get_class("codec", name)
        except Exception as exc:
            print(f"bench_rd: codec {name} left out: {exc}", file=sys.stderr)
            continue
        names.append(name)
    return names


def calibrate(codec: str, bits: int, wav: Path) -> list[float]:
    """Qualities whose files land in SPAN_KBPS on ``wav``: every 5 from 0 to 100 measured, at most
    POINTS kept, spread evenly in log-bitrate."""
    audio, rate = sf.read(str(wav), dtype="float32")
    seconds = len(audio) / rate
    measured = []
    for quality in range(0, 101, 5):
        kbps = len(api.encode(audio, rate, codec=codec, quality=quality, bits=bits)) * 8 / seconds / 1000
        if SPAN_KBPS[0] <= kbps <= SPAN_KBPS[1]:
            measured.append((math.log(kbps), quality))
    if len(measured) <= POINTS:
        return [q for _, q in measured]
    targets = np.linspace(measured[0][0], measured[-1][0], POINTS)
    return sorted({min(measured, key=lambda m: abs(m[0] - t))[1] for t in targets})


def configurations(speech: list[Path], names: list[str], voices: list[str]) -> list[bench.Config]:
    registry = Registry.default()
    configs: list[bench.Config] = []
    for codec in names:
        cls = registry.get_class("codec", codec)
        for bits in [b for b in BITS if b in cls.bit_depths]:
            qualities = []  # a lossless-only codec: one configuration
            if cls.lossy:
                qualities = QUALITIES.get(codec) or calibrate(codec, bits, speech[0])
                print(f"bench_rd: {codec} {bits}-bit qualities {qualities}", file=sys.stderr)
            configs += bench.image_configs([codec], [bits], qualities, voices)
    if "avif" in names:
        configs += bench.image_configs(["avif"], [8], SEED_QUALITIES, voices, ranges=["fixed"])
    configs += [bench.Config("copy", vocoder=v) for v in voices]
    return configs + bench.opus_configs(OPUS_KBPS)


def overhead(source: Path, names: list[str]) -> str:
    """Markdown: where the bytes of a file of the first CLIP_SECONDS of ``source`` go, at the
    qualities closest to 1, 2 and 4 kbps: AVIF at 8, 10 and 12 bits, the other lossy codecs at 10
    bits (or their nearest depth); and the same split of Opus files of the clip."""
    registry = Registry.default()
    audio, rate = sf.read(str(source), dtype="float32")
    clip = audio[: int(CLIP_SECONDS * rate)]
    lines = [f"# Container and metadata overhead on a {CLIP_SECONDS:g}-second clip", "",
             f"The first {CLIP_SECONDS:g} s of {source.name}. For each codec and bit depth, the quality (0–100, every 1) "
             "whose whole file comes closest to each target bitrate. payload: the codec bitstream (AVIF/HEIC: the "
             "`mdat` box contents; JPEG XL: `jxlc`; JPEG 2000: `jp2c`; WebP: the `VP8 `/`VP8L` chunk); metadata: the "
             "spectrocodec box or chunk, header included; container: all the rest (for AVIF: `ftyp`, `meta` with its "
             "`hdlr`/`pitm`/`iloc`/`iinf`/`iprp` boxes, the `mdat` header). AV1 headers: the part of the AVIF "
             "payload that is not picture data (temporal delimiter and sequence header OBUs, OBU headers).", "",
             "| codec | target kbps | quality | file bytes | kbps | payload | of which AV1 headers | metadata | container | container + metadata |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for codec in names:
        cls = registry.get_class("codec", codec)
        if not cls.lossy:
            continue
        depths = [b for b in BITS if b in cls.bit_depths] if codec == "avif" else \
            [min(cls.bit_depths, key=lambda b: abs(b - 10))]
        for bits in depths:
            sizes = {q: api.encode(clip, rate, codec=codec, quality=q, bits=bits) for q in range(0, 100)}
            for target in OVERHEAD_KBPS:
                quality, data = min(sizes.items(), key=lambda item: abs(len(item[1]) * 8 / CLIP_SECONDS / 1000 - target))
                lines.append(_overhead_row(f"{codec} {bits}-bit", target, quality, data))
    if shutil.which("opusenc"):
        with tempfile.TemporaryDirectory() as tmp:
            wav, opus = Path(tmp) / "clip.wav", Path(tmp) / "clip.opus"
            sf.write(str(wav), clip, rate, subtype="FLOAT")
            for kbps in (6, 8):
                for name, extra in (("opus", []), ("opus, no tags", ["--padding", "0", "--discard-comments"])):
                    subprocess.run(["opusenc", "--quiet", "--bitrate", str(kbps), *extra, str(wav), str(opus)],
                                   check=True, capture_output=True)
                    lines.append(_overhead_row(name, kbps, "–", opus.read_bytes()))
        lines += ["", "Opus (opusenc's defaults, as in rd.csv, and with `--padding 0 --discard-comments`): payload = "
                  "the audio packets; metadata = the OpusTags packet (opusenc's version string and, by default, "
                  "512 bytes of padding for later tag edits); container = the Ogg page headers and the OpusHead packet."]
    return "\n".join(lines) + "\n"


def _overhead_row(name: str, target: float, quality, data: bytes) -> str:
    split = bench.container_split(data)
    kbps = len(data) * 8 / CLIP_SECONDS / 1000
    extra = split["container_bytes"] + split["metadata_bytes"]
    av1 = _av1_headers(data) if name.startswith("avif") else None
    return (f"| {name} | {target:g} | {quality} | {len(data)} | {kbps:.2f} | {split['payload_bytes']} | "
            f"{'–' if av1 is None else av1} | {split['metadata_bytes']} | {split['container_bytes']} | "
            f"{extra} ({100 * extra / len(data):.0f}%) |")


def _av1_headers(data: bytes) -> int:
    """Bytes of the AVIF's ``mdat`` that are not frame data: the temporal delimiter and sequence
    header OBUs and every OBU's header (type byte, optional extension byte, LEB128 size)."""
    from spectrocodec.kit.isobmff import find_box

    mdat, pos, frames = find_box(data, b"mdat") or b"", 0, 0
    while pos < len(mdat):
        kind, start = (mdat[pos] >> 3) & 15, pos + 1 + ((mdat[pos] >> 2) & 1)
        size = shift = 0
        while True:
            byte, start = mdat[start], start + 1
            size, shift = size | (byte & 0x7F) << shift, shift + 7
            if not byte & 0x80:
                break
        frames += size if kind in (3, 4, 6) else 0  # frame header, tile group, frame
        pos = start + size
    return len(mdat) - frames


def environment() -> str:
    """Markdown: the machine and the versions this run used."""
    import imagecodecs

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else platform.processor()
    opus = subprocess.run(["opusenc", "--version"], capture_output=True, text=True).stdout.splitlines()[0] \
        if shutil.which("opusenc") else "not installed"
    try:
        import torch

        torch_version = torch.__version__
    except ImportError:
        torch_version = "not installed"
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return "\n".join([
        "# Environment of the benchmark run", "",
        f"- date: {time.strftime('%Y-%m-%d %H:%M %Z')}",
        f"- machine: {cpu}, {os.cpu_count()} CPU cores, {platform.system()} {platform.release()}; no GPU used",
        f"- load average at the start (1, 5, 15 min): {load} (other work shared the cores: speed figures are indicative)",
        f"- Python {platform.python_version()}, numpy {np.__version__}, imagecodecs {imagecodecs.__version__} "
        f"({imagecodecs.avif_version()}), torch {torch_version}",
        f"- {opus}",
        f"- OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '')} (torch threads, in-process and in the CLI processes); "
        "AVIF/HEIC/JPEG XL encoders at their plugins' default threads", "",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--force", action="store_true", help="measure again rows already in the CSV")
    parser.add_argument("--music", action="store_true", help="the corpus's music files instead of its speech (into music.*)")
    parser.add_argument("--codec", help="comma-separated codecs (default: every installed one)")
    parser.add_argument("--no-cli", action="store_true", help="skip timing whole CLI processes")
    parser.add_argument("--out", type=Path, default=OUT, help=f"output folder (default {OUT.relative_to(ROOT)})")
    args = parser.parse_args(argv)
    if not CORPUS.exists():
        sys.exit(f"bench_rd: the corpus is not at {CORPUS}")
    speech = sorted((CORPUS / "speech").glob("*.ogg"))
    inputs, title = (sorted((CORPUS / "music").glob("*.ogg")), "music") if args.music else (speech, "rd")
    args.out.mkdir(parents=True, exist_ok=True)
    csv_path = args.out / f"{title}.csv"
    before = csv_path.stat().st_mtime if csv_path.exists() else None
    machine = environment()  # at the start: the load average the measurements ran under
    names = args.codec.split(",") if args.codec else codecs()
    configs = configurations(speech, names, vocoders())
    if not args.music:
        (args.out / "overhead.md").write_text(overhead(speech[0], names))
    failures = bench.run_bench(inputs, configs, args.out, device="cpu", force=args.force,
                               cli_timing=not args.no_cli, title=title)
    if not csv_path.exists() or csv_path.stat().st_mtime != before:  # something was measured
        (args.out / ("music-environment.md" if args.music else "environment.md")).write_text(machine)
    summary = bench.summarise(bench.read_csv(csv_path))
    if any(s["kind"] == "image" and s["codec"] != "avif" for s in summary):  # the AVIF lines alone, readable
        bench.plot([s for s in summary if s["kind"] != "image" or s["codec"] == "avif"], args.out / f"{title}-avif.png")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
