"""Peak memory (RSS) of encoding and decoding against duration: 10 s, 10 min, 1 h.

    python benchmarks/bench_memory.py                          # 10 s, 10 min, 1 h; griffinlim decode
    python benchmarks/bench_memory.py --durations 10,600 --vocoder griffinlim --stereo44k

Each measurement is one ``python -m spectrocodec ...`` process started by a fresh wrapper process
that waits for it and reports ``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`` (the peak resident
set of that one command, imports included), with its wall time and exit status.

Inputs are speech: spectrocodec/samples/speech.flac repeated (with a little noise so no two
repetitions are identical) to the duration, written as 16 kHz mono 16-bit WAV in blocks (the
generator itself stays small). ``--stereo44k`` adds a 44.1 kHz stereo WAV of the longest duration,
to show that reading and resampling are streamed. Steps per duration:

- encode: ``spectrocodec encode in.wav -o out.avif -q`` (AVIF, quality 60, 10-bit: the defaults);
- info: ``spectrocodec info out.avif`` (the image decoded and unfolded back to features);
- decode (stub): the same decode with a stub vocoder that returns silence of the right length
  (registered by a wrapper script): the pipeline's own decode memory (image, unfolding, features,
  a waveform-sized output, the WAV writer), without any vocoder's working memory;
- decode: ``spectrocodec decode out.avif -o out.wav --vocoder VOCODER -q`` (skipped, with the
  reason, when that vocoder is not installed).

``--steps`` picks steps (encode, info, stub, vocoder; default all). ``--tile-sweep PIXELS,...``
measures the AVIF grid instead: the longest duration encoded at ``--bitrate`` (default 2.8 kbps)
with ``--param tile_pixels=N`` for each N (peak RSS, file size, tiles), the cost of tiling.

Writes a Markdown table to stdout and JSON to ``--out`` (default bench-out/memory.json).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "spectrocodec" / "samples" / "speech.flac"


STUB_MAIN = r'''
import sys
import numpy as np
from spectrocodec.interfaces import Vocoder
from spectrocodec.core.registry import Registry

class Stub(Vocoder):
    name = "stub"
    accepts = ("speecht5",)
    defaults = {"device": "auto"}

    def vocode(self, features):
        return np.zeros(len(features) * 256, np.float32)

Registry.default().add("vocoder", Stub, "bench-stub")
from spectrocodec.apps.cli import main
sys.exit(main(sys.argv[1:]))
'''


def measure(command: list[str], timeout: float) -> dict:
    """Run ``command`` in a fresh wrapper process; its peak RSS, wall time and status."""
    wrapper = [sys.executable, __file__, "--measure", "--timeout", str(timeout), "--", *command]
    result = subprocess.run(wrapper, capture_output=True, text=True)
    try:
        return json.loads(result.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return {"rc": result.returncode, "seconds": None, "peak_mb": None, "stderr": result.stderr[-500:]}


def _measure_here(command: list[str], timeout: float) -> None:
    started = time.perf_counter()
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        rc, stderr = proc.returncode, proc.stderr
    except subprocess.TimeoutExpired:
        rc, stderr = "timeout", f"killed after {timeout} s"
    seconds = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # kilobytes on Linux
    print(json.dumps({"rc": rc, "seconds": round(seconds, 2), "peak_mb": round(peak_kb / 1024, 1),
                      "stderr": stderr.strip()[-500:]}))


def make_wav(path: Path, seconds: float, rate: int = 16000, channels: int = 1) -> None:
    """Speech repeated to ``seconds``, written block by block (16-bit PCM)."""
    import numpy as np
    import soundfile as sf

    speech, speech_rate = sf.read(SAMPLE, dtype="float32")
    if speech_rate != rate:
        import soxr

        speech = soxr.resample(speech, speech_rate, rate).astype(np.float32)
    rng = np.random.default_rng(0)
    total = int(seconds * rate)
    with sf.SoundFile(path, "w", samplerate=rate, channels=channels, subtype="PCM_16", format="WAV") as out:
        written = 0
        while written < total:
            block = speech[: total - written] * rng.uniform(0.5, 1.0)
            block = block + rng.normal(0, 0.002, len(block)).astype(np.float32)
            if channels > 1:
                block = np.stack([block * (1 - 0.1 * c) for c in range(channels)], axis=1)
            out.write(np.clip(block, -1, 1))
            written += len(block)


def label(seconds: float) -> str:
    return f"{seconds:g} s" if seconds < 60 else f"{seconds / 60:g} min" if seconds < 3600 else f"{seconds / 3600:g} h"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--durations", default="10,600,3600", help="comma-separated seconds")
    parser.add_argument("--vocoder", default="griffinlim", help="vocoder for the decode step ('none' to skip)")
    parser.add_argument("--stereo44k", action="store_true", help="also a 44.1 kHz stereo file of the longest duration")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds one step may take")
    parser.add_argument("--out", default=str(ROOT / "bench-out" / "memory.json"))
    parser.add_argument("--stereo-only", action="store_true", help="with --stereo44k: skip the 16 kHz mono inputs")
    parser.add_argument("--steps", default="encode,info,stub,vocoder", help="comma-separated: encode, info, stub, vocoder")
    parser.add_argument("--tile-sweep", default="", help="comma-separated AVIF tile_pixels budgets to compare (see above)")
    parser.add_argument("--bitrate", default="2.8", help="kbps for --tile-sweep")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("command", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        _measure_here(args.command, args.timeout)
        return 0

    from spectrocodec.core.registry import Registry

    vocoder_reason = None
    if args.vocoder != "none":
        try:
            Registry.default().get_class("vocoder", args.vocoder)
        except Exception as exc:  # not installed or cannot run here
            vocoder_reason = " ".join(str(exc).split())
    cli = [sys.executable, "-m", "spectrocodec"]
    if args.tile_sweep:
        return tile_sweep(args, cli)
    inputs = [(float(s), 16000, 1) for s in args.durations.split(",")]
    if args.stereo44k:
        inputs = ([] if args.stereo_only else inputs) + [(max(s for s, _, _ in inputs), 44100, 2)]
    rows = []
    with tempfile.TemporaryDirectory(prefix="spectrocodec-mem-") as tmp:
        for seconds, rate, channels in inputs:
            wav, avif, out = Path(tmp) / "in.wav", Path(tmp) / "out.avif", Path(tmp) / "out.wav"
            make_wav(wav, seconds, rate, channels)
            what = f"{label(seconds)}, {rate / 1000:g} kHz {'mono' if channels == 1 else 'stereo'}"
            steps = [("encode", cli + ["encode", str(wav), "-o", str(avif), "--force", "-q"]),
                     ("info", cli + ["info", str(avif)]),
                     ("decode (stub vocoder)", [sys.executable, "-c", STUB_MAIN, "decode", str(avif), "-o", str(out),
                                                "--force", "-q", "--vocoder", "stub"])]
            if args.vocoder != "none":
                steps.append((f"decode ({args.vocoder})", cli + ["decode", str(avif), "-o", str(out), "--force", "-q",
                                                               "--vocoder", args.vocoder, "--device", "cpu"]))
            wanted = {"encode": "encode", "info": "info", "decode (stub vocoder)": "stub"}
            steps = [(step, command) for step, command in steps if wanted.get(step, "vocoder") in args.steps.split(",")]
            for step, command in steps:
                if step == f"decode ({args.vocoder})" and vocoder_reason:
                    row = {"rc": None, "seconds": None, "peak_mb": None, "stderr": f"skipped: {vocoder_reason}"}
                else:
                    row = measure(command, args.timeout)
                row.update(input=what, seconds_audio=seconds, step=step,
                           wav_mb=round(wav.stat().st_size / 2**20, 1),
                           avif_bytes=avif.stat().st_size if avif.exists() else None)
                rows.append(row)
                print(f"{what:28} {step:20} peak {row['peak_mb']} MB, {row['seconds']} s, rc {row['rc']}"
                      + (f" ({row['stderr'][-200:]})" if row["rc"] not in (0,) and row["stderr"] else ""),
                      file=sys.stderr, flush=True)
            for path in (wav, avif, out):
                path.unlink(missing_ok=True)
    machine = f"{platform.machine()}, {platform.processor() or ''} {_cpus()} CPU(s), {_memory_gb()} GB, Python {platform.python_version()}"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"machine": machine, "rows": rows}, indent=2))
    print("| input | step | peak RSS | wall time | exit |\n|---|---|---|---|---|")
    for row in rows:
        peak = f"{row['peak_mb']:.0f} MB" if row["peak_mb"] is not None else "n/a"
        wall = f"{row['seconds']:.1f} s" if row["seconds"] is not None else "n/a"
        print(f"| {row['input']} | {row['step']} | {peak} | {wall} | {row['rc'] if row['rc'] is not None else row['stderr']} |")
    print(f"\nmachine: {machine}")
    return 0 if all(r["rc"] in (0, None) for r in rows) else 1


def tile_sweep(args: argparse.Namespace, cli: list[str]) -> int:
    """The longest duration, mono 16 kHz speech, encoded at ``args.bitrate`` kbps with each
    tile_pixels budget: peak RSS, wall time, bytes, tiles (Markdown to stdout, JSON to --out)."""
    from spectrocodec.core.pipeline import Pipeline
    from spectrocodec.kit import avifbox

    seconds = max(float(s) for s in args.durations.split(","))
    rows = []
    with tempfile.TemporaryDirectory(prefix="spectrocodec-tiles-") as tmp:
        wav, avif = Path(tmp) / "in.wav", Path(tmp) / "out.avif"
        make_wav(wav, seconds)
        for budget in args.tile_sweep.split(","):
            rate = ["--bitrate", args.bitrate] if args.bitrate != "none" else []  # none: the default quality
            row = measure(cli + ["encode", str(wav), "-o", str(avif), "--force", "-q", *rate,
                                 "--param", f"tile_pixels={int(float(budget))}"], args.timeout)
            data = avif.read_bytes() if avif.exists() and row["rc"] == 0 else b""
            grid = avifbox.grid_of(data) if data else None
            quality = Pipeline().read(data, features=False).header.quality if data else None
            row.update(input=f"{label(seconds)} speech, 16 kHz mono", tile_pixels=int(float(budget)), bytes=len(data),
                       tiles=grid.rows if grid else 1, quality=quality)
            rows.append(row)
            print(f"tile_pixels {budget}: peak {row['peak_mb']} MB, {row['seconds']} s, {len(data)} B, {row['tiles']} tiles, quality {quality}",
                  file=sys.stderr, flush=True)
            avif.unlink(missing_ok=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"rows": rows}, indent=2))
    base = next((r["bytes"] for r in rows if r["tiles"] == 1 and r["bytes"]), None)
    print(f"| tile_pixels | tiles | quality | bytes ({args.bitrate} kbps) | vs one image | peak RSS | wall time |\n|---|---|---|---|---|---|---|")
    for row in rows:
        cost = f"{(row['bytes'] / base - 1) * 100:+.2f} %" if base and row["bytes"] else "n/a"
        print(f"| {row['tile_pixels']} | {row['tiles']} | {row['quality']} | {row['bytes']} | {cost} | {row['peak_mb']:.0f} MB | {row['seconds']:.1f} s |")
    return 0 if all(r["rc"] == 0 for r in rows) else 1


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 0


def _memory_gb() -> float:
    try:
        with open("/proc/meminfo") as handle:
            return round(int(handle.readline().split()[1]) / 2**20, 1)
    except OSError:
        return 0.0


if __name__ == "__main__":
    sys.exit(main())
