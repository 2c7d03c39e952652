"""Quality per bit at fixed bitrates: AVIF with rate control against Opus and Codec2 (issue 12).

    apt-get install opus-tools            # Opus peer (skipped with a note if missing)
    pip install pycodec2                  # Codec2 peer (skipped with a note if missing)
    python benchmarks/bench_quality.py    # resumes: rows already in docs/bench/quality*.csv are kept
    python benchmarks/bench_quality.py --force

Inputs: the corpus's speech/ (2 files, validation) and held-out read speech from train/ (4
LibriSpeech, 2 VCTK, 4 LJ Speech files; never used to tune anything here). Every codec at fixed
whole-file bitrates, decoded with Griffin-Lim at its defaults:

- ``avif`` at 1, 1.5, 2, 3, 4, 6 kbps through ``--bitrate`` (spectrocodec apps.bench's
  machinery: docs/bench/quality.csv/.md/.png), plus copy synthesis (Griffin-Lim's ceiling) and
  Opus 6, 8, 10, 12 kbps (opusenc cannot go lower at 16 kHz);
- ``avif-before``: what the encoder did before this work (linear map, no floor, speed 6), at 2
  and 3 kbps through the same rate control, for the before/after comparison;
- ``codec2`` (pycodec2) at 700C, 1200, 1300, 1600, 2400, 3200 bit/s: 8 kHz, resampled to 16 kHz
  for the metrics; the raw bitstream is the whole file (no container).

The extra rows go to docs/bench/quality-extra.csv; docs/bench/quality-table.md and
quality-plot.png combine everything: mean kbps, PESQ-WB, STOI and mel distortion (dB, the output
re-analysed) per configuration, over speech/ and train/ separately, and the rate control's
accuracy (mean and worst error of each file's kbps against the target).
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # as bench_rd.py: torch on one thread, comparable and stable

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_rd import environment  # noqa: E402

from spectrocodec.apps import bench  # noqa: E402
from spectrocodec.core.audio import resample  # noqa: E402
from spectrocodec.core.registry import Registry  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
OUT = ROOT / "docs" / "bench"
BITRATES = [1, 1.5, 2, 3, 4, 6]
BEFORE_BITRATES = [2, 3]
OPUS_KBPS = [6, 8, 10, 12]
CODEC2_MODES = ["700C", "1200", "1300", "1600", "2400", "3200"]
TRAIN = ["librispeech/1320_00000.mp3", "librispeech/3575_00000.mp3", "librispeech/6829_00000.mp3",
         "librispeech/8230_00000.mp3", "vctk/p240_00000.mp3", "vctk/p260_00000.mp3",
         "ljspeech/LJ001-0001.flac", "ljspeech/LJ001-0005.flac", "ljspeech/LJ001-0010.flac", "ljspeech/LJ001-0020.flac"]
# the files the lab runs that chose the defaults (docs/quality.md) were averaged over, besides speech/
TUNING_SET = {"1320_00000", "6829_00000", "p260_00000", "LJ001-0003", "LJ001-0012"}
EXTRA_COLUMNS = ["input", "config", "target_kbps", "duration_s", "bytes", "kbps", "quality", "pesq_wb", "stoi", "output_mel_db"]


def inputs() -> tuple[list[Path], list[Path]]:
    speech = sorted((CORPUS / "speech").glob("*.ogg"))
    train = [CORPUS / "train" / name for name in TRAIN if (CORPUS / "train" / name).exists()]
    return speech, train


def measure_before(ref: bench.Reference, kbps: float, extractor, vocoder) -> dict:
    """The encoder as it was: linear map, no floor, AVIF speed 6; the same rate control."""
    from spectrocodec.core.pipeline import Pipeline
    from spectrocodec_plugins.avif import AvifCodec

    pipe = Pipeline(extractor=extractor, codec=AvifCodec(speed=6), bits=10, bitrate=kbps, curve=1.0, floor_db=None)
    data = pipe.encode(ref.samples, bench.RATE)
    decoded = pipe.read(data)
    output = vocoder.vocode(decoded.features)
    return {"bytes": len(data), "quality": decoded.header.quality, **bench.end_to_end(ref, output, extractor)}


def measure_codec2(ref: bench.Reference, mode: str, extractor) -> dict:
    """Codec2 (8 kHz): the reference resampled to 8 kHz, encoded, decoded, back to 16 kHz."""
    import pycodec2

    codec = pycodec2.Codec2(int(mode.rstrip("C")) if mode != "700C" else 700)
    n = codec.samples_per_frame()
    pcm = np.clip(resample(ref.samples, bench.RATE, 8000) * 32767, -32768, 32767).astype(np.int16)
    pcm = np.pad(pcm, (0, -len(pcm) % n))
    frames = [codec.encode(pcm[i : i + n]) for i in range(0, len(pcm), n)]
    out = np.concatenate([codec.decode(f) for f in frames]).astype(np.float32) / 32768
    return {"bytes": sum(len(f) for f in frames), **bench.end_to_end(ref, resample(out, 8000, bench.RATE), extractor)}


def codec2_modes() -> list[str]:
    try:
        import pycodec2  # noqa: F401
    except ImportError:
        print("bench_quality: pycodec2 not installed (pip install pycodec2): Codec2 is skipped", file=sys.stderr)
        return []
    return CODEC2_MODES


def run_extra(files: list[Path], path: Path, force: bool) -> list[dict]:
    """The rows apps.bench has no configuration kind for: the encoder before, and Codec2."""
    from spectrocodec.core import api

    rows = {} if force or not path.exists() else {(r["input"], r["config"]): r for r in csv.DictReader(open(path))}
    extractor = Registry.default().create("feature", "speecht5")
    vocoder, _ = api.make_vocoder("griffinlim", "speecht5", "cpu")
    todo = [(f, f"avif-before/{k:g}k", k) for f in files for k in BEFORE_BITRATES]
    todo += [(f, f"codec2/{m}", m) for f in files for m in codec2_modes()]
    with tempfile.TemporaryDirectory() as tmp:
        refs: dict[Path, bench.Reference] = {}
        for i, (source, config, setting) in enumerate(todo):
            if (source.stem, config) in rows:
                continue
            print(f"[{i + 1}/{len(todo)}] {config} · {source.stem}", file=sys.stderr, flush=True)
            if source not in refs:
                refs[source] = bench.make_reference(source, Path(tmp), extractor)
            ref = refs[source]
            values = measure_before(ref, setting, extractor, vocoder) if config.startswith("avif") else measure_codec2(ref, setting, extractor)
            rows[(source.stem, config)] = {"input": source.stem, "config": config,
                                           "target_kbps": setting if config.startswith("avif") else "",
                                           "duration_s": ref.duration, "kbps": values["bytes"] * 8 / ref.duration / 1000, **values}
            with open(path, "w", newline="") as handle:
                writer = csv.DictWriter(handle, EXTRA_COLUMNS, extrasaction="ignore")
                writer.writeheader()
                writer.writerows(rows.values())
    return list(rows.values())


def combine(rows: list[dict], groups: dict[str, set[str]]) -> tuple[str, dict]:
    """Markdown table per input group and the series for the plot."""
    def num(value):
        return None if value in (None, "") else float(value)

    configs = sorted({r["config"] for r in rows}, key=_order)
    lines, series = [], {}
    for group, names in groups.items():
        lines += [f"### {group} ({len(names)} files)", "",
                  "| configuration | target kbps | kbps (mean) | rate error mean / worst | PESQ-WB | STOI | mel dB |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for config in configs:
            chosen = [r for r in rows if r["config"] == config and r["input"] in names]
            if not chosen:
                continue
            mean = lambda key: float(np.mean([num(r[key]) for r in chosen if num(r.get(key)) is not None])) if any(num(r.get(key)) is not None for r in chosen) else None  # noqa: E731
            target = num(chosen[0].get("target_kbps"))
            errors = [num(r["kbps"]) / target - 1 for r in chosen] if target else []
            rate = f"{np.mean(errors) * 100:+.1f} % / {max(errors, key=abs) * 100:+.1f} %" if errors else "–"
            kbps, pesq, stoi, mel = mean("kbps"), mean("pesq_wb"), mean("stoi"), mean("output_mel_db")
            fmt = lambda v, d=2: "–" if v is None else f"{v:.{d}f}"  # noqa: E731
            lines.append(f"| {config} | {fmt(target, 1) if target else '–'} | {fmt(kbps)} | {rate} | {fmt(pesq)} | {fmt(stoi, 3)} | {fmt(mel)} |")
            series.setdefault(group, {}).setdefault(_family(config), []).append((kbps, pesq, stoi))
        lines.append("")
    return "\n".join(lines), series


def _family(config: str) -> str:
    return config.split("/")[0] if "/" in config else config


def _order(config: str) -> tuple:
    family = _family(config)
    rank = {"copy": 0, "avif": 1, "avif-before": 2, "opus": 3, "codec2": 4}.get(family, 5)
    rate = config.split("/")[-1].rstrip("kC") if "/" in config else "0"
    rate_kbps = float(rate) / (1000 if family == "codec2" else 1)
    return rank, rate_kbps


def plot(series: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    styles = {"avif": dict(color="C0", marker="o"), "avif-before": dict(color="C0", marker="x", linestyle="--"),
              "opus": dict(color="black", marker="s"), "codec2": dict(color="C3", marker="^")}
    for ax, index, title in ((axes[0], 1, "PESQ-WB"), (axes[1], 2, "STOI")):
        for group, families in series.items():
            if group.startswith("train/ files never"):
                continue
            for family, points in families.items():
                if family == "copy":
                    ax.axhline(points[0][index], color="grey", linestyle=":" if group.startswith("speech") else "-.",
                               label=f"Griffin-Lim ceiling ({group})")
                    continue
                points = sorted(p for p in points if p[0] is not None and p[index] is not None)
                style = dict(styles.get(family, {}))
                style["alpha"] = 1.0 if group.startswith("speech") else 0.5
                ax.plot([p[0] for p in points], [p[index] for p in points], label=f"{family} ({group})", **style)
        ax.set_xscale("log")
        ax.set_xticks([1, 1.5, 2, 3, 4, 6, 8, 12])
        ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.set_xlabel("kbps (whole file)")
        ax.set_title(f"{title} against bitrate (Griffin-Lim for the image codecs)", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--force", action="store_true", help="measure again rows already in the CSVs")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--quick", action="store_true", help="one file of each set (a smoke test)")
    args = parser.parse_args(argv)
    speech, train = inputs()
    if args.quick:
        speech, train = speech[:1], train[:1]
    if not speech:
        print(f"bench_quality: no corpus at {CORPUS}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    machine = environment()
    configs = bench.image_configs(["avif"], [10], None, ["griffinlim"], bitrates=BITRATES)
    configs += [bench.Config("copy", vocoder="griffinlim")] + bench.opus_configs(OPUS_KBPS)
    failures = bench.run_bench(speech + train, configs, args.out, device="cpu", force=args.force,
                               cli_timing=False, title="quality")
    rows = bench.read_csv(args.out / "quality.csv")
    rows = [{**r, "config": r["config"].replace("/10bit/adaptive", "").replace("/griffinlim", "")} for r in rows]
    rows += run_extra(speech + train, args.out / "quality-extra.csv", args.force)
    unseen = {p.stem for p in train} - TUNING_SET
    table, series = combine(rows, {"speech/ (validation)": {p.stem for p in speech}, "train/ (held out)": {p.stem for p in train},
                                   "train/ files never used while tuning": unseen})
    (args.out / "quality-table.md").write_text(machine + "\n" + table)
    plot(series, args.out / "quality-plot.png")
    print(table)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
