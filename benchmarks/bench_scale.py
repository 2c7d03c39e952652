"""Folder throughput, ``--engine local`` against ``--engine ray``, on real speech → docs/scale.md.

A folder of FILES copies of the corpus' speech (../shared/corpus speech/ then train/, nested by
their source folder) is encoded (default codec, avif) and decoded (griffinlim) by:

- ``sequential``: batch.encode_file / decode_file one after the other in this process: the cost
  of one file on one core, the basis of the estimate below;
- ``local``: the CLI with ``--engine local`` (a process pool, one worker per core);
- ``ray``: the CLI with ``--engine ray`` (a local Ray cluster started and stopped by the run, so
  its start-up is included); then the Ray engine alone: cluster start-up, a first pass over 4
  files (workers start and import), and the whole folder on the now warm cluster (files/s).

The encoded and decoded trees of both engines are compared byte for byte; then the ray encode is
killed (SIGKILL) after KILL_AFTER outputs and run again, and the script checks that no finished
file was rewritten. Finally it estimates what N nodes of C cores would do from the measured
per-file cost and the measured Ray overhead (see ``estimate``). Prints a Markdown report.

    python benchmarks/bench_scale.py                      # 24 files, encode and decode
    python benchmarks/bench_scale.py --files 96 --no-decode
    python benchmarks/bench_scale.py --address ray://head:10001   # the ray runs on a cluster

Timings are wall-clock on whatever else the machine is running: the load average is printed.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
DECODE = ["--vocoder", "griffinlim"]


def make_folder(target: Path, count: int) -> list[Path]:
    """``count`` copies of real speech files in nested folders (cycling through the corpus)."""
    sources = sorted((CORPUS / "speech").glob("*.*")) + sorted((CORPUS / "train").rglob("*.*"))
    if not sources:
        sys.exit(f"bench_scale: no corpus at {CORPUS}")
    made = []
    for n in range(count):
        src = sources[n % len(sources)]
        rel = src.relative_to(CORPUS)
        dst = target / (f"copy{n // len(sources)}" if n >= len(sources) else "") / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
        made.append(dst)
    return made


def cli(*args: str, env: dict | None = None) -> float:
    """Run ``python -m spectrocodec ARGS`` (quiet); its wall time in seconds."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "spectrocodec", *args, "-q"], capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"bench_scale: {' '.join(args[:1])} failed: {done.stderr.strip()[-500:]}")
    return seconds


def same_tree(a: Path, b: Path) -> bool:
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    other = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    return files == other and all((a / f).read_bytes() == (b / f).read_bytes() for f in files)


def sequential(func, pairs: list[tuple[Path, Path]], settings: dict) -> float:
    """Seconds per file, one after the other in this process (first file excluded: warm-up)."""
    func(str(pairs[0][0]), str(pairs[0][1]) + ".warm", settings)
    start = time.perf_counter()
    for src, dst in pairs:
        dst.parent.mkdir(parents=True, exist_ok=True)
        result = func(str(src), str(dst), settings)
        if not result["ok"]:
            sys.exit(f"bench_scale: {src}: {result['error']}")
    return (time.perf_counter() - start) / len(pairs)


def ray_steady(func, pairs: list[tuple[Path, Path]], settings: dict, stage: str, address: str | None) -> dict:
    """The Ray engine alone: cluster start-up, a first pass over a few files (workers start,
    import, load models), then the whole folder again on the warm cluster: steady files/s."""
    from spectrocodec.apps.engines.ray import RayEngine

    def run(subset: list[tuple[Path, Path]], folder: str) -> float:
        start = time.perf_counter()
        tasks = [(str(s), str(d).replace("/seq-", f"/{folder}-"), settings) for s, d in subset]
        for _, result in engine.map(func, tasks, stage):
            if not result["ok"]:
                sys.exit(f"bench_scale: ray: {result['error']}")
        return time.perf_counter() - start

    start = time.perf_counter()
    engine = RayEngine(address=address)
    engine.connect()
    startup = time.perf_counter() - start
    first = run(pairs[:4], "warm")
    steady = len(pairs) / run(pairs, "steady")
    workers = engine.size
    engine.close()
    return {"startup_s": startup, "first_s": first, "steady_fps": steady, "workers": workers, "cpus": engine.cpus}


def kill_and_resume(source: Path, out: Path, kill_after: int, address: str | None) -> dict:
    """Kill a ray encode after ``kill_after`` outputs, run it again: were finished files kept?"""
    extra = ["--address", address] if address else []
    run = subprocess.Popen([sys.executable, "-m", "spectrocodec", "encode", str(source), "-o", str(out),
                            "--engine", "ray", "-q", *extra], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           start_new_session=True)
    while len(list(out.rglob("*.avif"))) < kill_after and run.poll() is None:
        time.sleep(0.05)
    os.killpg(run.pid, signal.SIGKILL)  # the driver and the local cluster it started
    run.wait()
    first = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.rglob("*.avif")}
    time.sleep(1)
    again = cli("encode", str(source), "-o", str(out), "--engine", "ray", *extra)
    kept = all((p.stat().st_ino, p.stat().st_mtime_ns) == stamp for p, stamp in first.items())
    return {"done_at_kill": len(first), "kept": kept, "rerun_s": again,
            "partial": [str(p) for p in out.rglob(".spectrocodec-*")]}


def estimate(cost_s: float, overhead_s: float, startup_s: float, files: int, nodes: int, cores: int) -> float:
    """Files/s of a run of ``files`` files on ``nodes`` × ``cores``: each core does a file in
    ``cost_s`` + ``overhead_s`` (Ray's per-task cost, measured here), after ``startup_s``. An upper
    bound: it leaves out storage bandwidth and the driver's limit (one process hands out tasks)."""
    per_file = cost_s + overhead_s
    return files / (startup_s + files * per_file / (nodes * cores))


def load() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=24)
    parser.add_argument("--no-decode", action="store_true", help="encode only")
    parser.add_argument("--address", help="Ray cluster for the ray runs (default: a local one per run)")
    parser.add_argument("--kill-after", type=int, default=8)
    args = parser.parse_args()
    from spectrocodec.apps import batch
    from spectrocodec.core import api

    codec = api.make_codec("avif")
    enc = {"codec": codec.get_config() | {"backend": codec.backend}, "bits": 10, "range": "adaptive", "force": True}
    dec = {"vocoder": "griffinlim", "weights": None, "device": "cpu", "params": {}, "rate": None, "force": True}
    extra = ["--address", args.address] if args.address else []
    lines = [f"machine: {platform.node()}, {os.cpu_count()} CPUs, {_cpu()}; load average at start {load()}"]
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        tmp = Path(tmp)
        made = make_folder(tmp / "in", args.files)
        seconds = sum(_duration(p) for p in made)
        lines.append(f"input: {len(made)} files, {seconds:.1f} s of speech, nested folders")
        rows = []
        steps = [("encode", batch.encode_file, enc, tmp / "in", ".avif", "cpu", [])]
        if not args.no_decode:
            steps.append(("decode", batch.decode_file, dec, tmp / "local-encode", ".wav", "vocoder", DECODE))
        for name, func, settings, source, suffix, stage, options in steps:
            inputs = sorted(p for p in source.rglob("*") if p.is_file())
            pairs = [(p, tmp / f"seq-{name}" / p.relative_to(source).with_suffix(suffix)) for p in inputs]
            cost = sequential(func, pairs, settings)
            local_s = cli(name, str(source), "-o", str(tmp / f"local-{name}"), *options)
            ray_s = cli(name, str(source), "-o", str(tmp / f"ray-{name}"), "--engine", "ray", *options, *extra)
            same = same_tree(tmp / f"local-{name}", tmp / f"ray-{name}")
            steady = ray_steady(func, pairs, settings, stage, args.address)
            overhead = max(0.0, steady["workers"] / steady["steady_fps"] - cost)  # decode: actors start anew each run
            rows.append((name, len(pairs), cost, local_s, ray_s, same, steady, overhead))
            lines.append(f"{name}: done; load average {load()}")
        kill = kill_and_resume(tmp / "in", tmp / "killed", args.kill_after, args.address)
    print("\n".join(f"- {line}" for line in lines))
    print()
    print("| step | files | one file, one core (s) | local engine (s, files/s) | ray engine (s, files/s) | ray start-up (s) | ray first 4 files (s) | ray warm files/s | ray overhead per file (s) | same bytes |")
    print("|---|---:|---:|---|---|---:|---:|---:|---:|---|")
    for name, count, cost, local_s, ray_s, same, steady, overhead in rows:
        print(f"| {name} | {count} | {cost:.3f} | {local_s:.1f} s, {count / local_s:.2f}/s | {ray_s:.1f} s, {count / ray_s:.2f}/s "
              f"| {steady['startup_s']:.1f} | {steady['first_s']:.1f} | {steady['steady_fps']:.2f} ({steady['workers']} workers) | {overhead:.3f} | {'yes' if same else 'NO'} |")
    print()
    print(f"kill and resume (ray encode, SIGKILL after {args.kill_after} outputs): {kill['done_at_kill']} done at the kill, "
          f"{'none' if kill['kept'] else 'SOME'} rewritten by the rerun ({kill['rerun_s']:.1f} s), "
          f"{len(kill['partial'])} temporary files left")
    print()
    task_overhead = rows[0][7]  # Ray's cost per task, from the encode step (its workers are warm)
    print(f"estimate, files/s for 10 000 files (upper bound: one file's cost on one core + Ray's measured "
          f"{task_overhead * 1000:.0f} ms per task, start-up and first files once):")
    print()
    print("| step | 1 node × 2 | 4 × 16 | 16 × 16 | 64 × 16 |")
    print("|---|---:|---:|---:|---:|")
    for name, count, cost, local_s, ray_s, same, steady, overhead in rows:
        cells = [estimate(cost, task_overhead, steady["startup_s"] + steady["first_s"], 10000, n, c)
                 for n, c in ((1, 2), (4, 16), (16, 16), (64, 16))]
        print(f"| {name} | " + " | ".join(f"{x:.1f}" for x in cells) + " |")
    return 0


def _duration(path: Path) -> float:
    import soundfile as sf

    return sf.info(str(path)).duration


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


if __name__ == "__main__":
    sys.exit(main())
