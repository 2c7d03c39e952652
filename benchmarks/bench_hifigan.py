"""Speed and memory of the ``hifigan`` vocoder, on a randomly initialised SpeechT5 HiFi-GAN.

    python benchmarks/bench_hifigan.py                   # options on 10 s, then 1 s / 10 s / 10 min
    python benchmarks/bench_hifigan.py --quick           # fewer repetitions, no 10-min case
    python benchmarks/bench_hifigan.py --compile         # also time torch.compile (about a minute to compile)

The model has the architecture and config of ``microsoft/speecht5_hifigan`` (``SpeechT5HifiGanConfig()``
defaults) with random weights scaled so that activations stay of order 1, as with trained
weights (transformers' own init, std 0.01, shrinks them ~1e5 times, into denormal floats that are
slow on some CPUs and unrepresentative); the speed of a convolution does not depend on its values
otherwise. It is saved to a temporary folder and loaded through the plugin, as real weights are.

Every figure is ``audio seconds / wall seconds`` (× real time, higher is faster), best of N runs,
with the process CPU time beside it: on a shared machine the wall time depends on what else runs,
the CPU time much less. Peak memory is the peak RSS (VmHWM) of a fresh process that imports
torch and transformers, loads the model and vocodes one input, and torch.cuda.max_memory_allocated
on a GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HOP, RATE, MELS = 256, 16000, 80


def make_model(folder: str) -> str:
    """A random SpeechT5HifiGan with realistic activation sizes, saved to ``folder``."""
    import torch
    from transformers import SpeechT5HifiGan, SpeechT5HifiGanConfig
    from transformers.utils import logging

    logging.disable_progress_bar()
    torch.manual_seed(0)
    model = SpeechT5HifiGan(SpeechT5HifiGanConfig()).eval()
    with torch.no_grad():
        for layer in model.modules():
            if isinstance(layer, (torch.nn.Conv1d, torch.nn.ConvTranspose1d)):
                w = layer.weight
                fan_in = w.shape[1] * w.shape[2] if isinstance(layer, torch.nn.Conv1d) else w.shape[0] * w.shape[2] // 4
                w.normal_(0.0, fan_in ** -0.5)
        model.mean.normal_(-5.0, 1.0)
        model.scale.uniform_(1.0, 3.0)
    model.save_pretrained(folder)
    return folder


def features(seconds: float, seed: int = 0) -> np.ndarray:
    """log-mel-like float32 (frames, 80) for ``seconds`` of 16 kHz audio."""
    frames = 1 + int(seconds * RATE) // HOP
    return np.random.default_rng(seed).normal(-5.0, 2.0, (frames, MELS)).astype(np.float32)


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB: VmHWM of /proc/self/status where there is one.
    (getrusage's ru_maxrss is not used on Linux: a child started by a big parent inherits the
    parent's peak as its own, since the kernel carries it over exec.)"""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn, reps: int) -> tuple[float, float]:
    """(best wall seconds, CPU seconds of that run) over ``reps`` runs after one warm-up."""
    fn()
    best = (float("inf"), 0.0)
    for _ in range(reps):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        best = min(best, (time.perf_counter() - wall, time.process_time() - cpu))
    return best


def row(label: str, seconds: float, wall: float, cpu: float) -> dict:
    result = {"case": label, "audio_s": seconds, "wall_s": wall, "cpu_s": cpu, "x_realtime": seconds / wall}
    print(f"  {label:52} {seconds / wall:6.2f}× real time  (wall {wall:7.3f} s, cpu {cpu:7.3f} s)", flush=True)
    return result


def options(folder: str, reps: int, compile_too: bool) -> list[dict]:
    """Each optimisation alone, on 10 s of audio (CPU)."""
    import torch
    from transformers import SpeechT5HifiGan
    from transformers.utils import logging

    from spectrocodec_plugins.hifigan import HifiganVocoder

    logging.disable_progress_bar()
    spec = features(10.0)
    x = torch.from_numpy(spec)
    model = SpeechT5HifiGan.from_pretrained(folder).eval()
    weight_norm = sum(1 for m in model.modules() if hasattr(m, "parametrizations") or hasattr(m, "weight_g"))
    print(f"layers with weight norm in the checkpoint: {weight_norm} (nothing to remove)")
    threads = torch.get_num_threads()
    out = []
    print(f"options, 10 s of audio, CPU, {threads} threads:")

    def plain():
        with torch.no_grad():
            model(x)

    def inference():
        with torch.inference_mode():
            model(x)

    out.append(row("transformers forward, no_grad", 10, *timed(plain, reps)))
    out.append(row("transformers forward, inference_mode", 10, *timed(inference, reps)))
    for chunk in (10**9, 2048, 1024, 512, 256, 128):
        voc = HifiganVocoder(weights=folder, device="cpu", chunk_frames=chunk)
        voc.load()
        label = "plugin (channels-last), one pass" if chunk == 10**9 else f"plugin, chunk_frames={chunk}"
        out.append(row(label, 10, *timed(lambda: voc.vocode(spec), reps)))
    for n in sorted({1, threads}):
        voc = HifiganVocoder(weights=folder, device="cpu", threads=n)
        voc.load()
        out.append(row(f"plugin, default chunk, threads={n}", 10, *timed(lambda: voc.vocode(spec), reps)))
    if compile_too:
        voc = HifiganVocoder(weights=folder, device="cpu", chunk_frames=10**9)
        gen = voc.load()
        forward = torch.compile(gen.forward)
        norm = gen.normalise(spec)[None]
        start = time.perf_counter()
        with torch.inference_mode():
            forward(norm)
        print(f"  torch.compile took {time.perf_counter() - start:.1f} s to compile")

        def compiled():
            with torch.inference_mode():
                forward(norm)

        out.append(row("plugin forward under torch.compile, one pass", 10, *timed(compiled, reps)))
    return out


def one_case(folder: str, seconds: float, device: str, reps: int, dtype: str = "float32", threads: int = 0) -> dict:
    """Load the model, vocode ``seconds`` of audio ``reps`` times (0: once, no warm-up);
    peak memory of this process. threads 0: torch's default."""
    import torch

    from spectrocodec_plugins.hifigan import HifiganVocoder

    if threads:
        torch.set_num_threads(threads)
    spec = features(seconds)
    voc = HifiganVocoder(weights=folder, device=device, dtype=dtype)
    voc.load()
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()

    def run():
        voc.vocode(spec)
        if device == "cuda":
            torch.cuda.synchronize()

    if reps > 0:
        wall, cpu = timed(run, reps)
    else:  # a single run, no warm-up (the 10-minute case)
        wall, cpu = time.perf_counter(), time.process_time()
        run()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    result = {"audio_s": seconds, "device": device, "dtype": dtype, "wall_s": wall, "cpu_s": cpu,
              "x_realtime": seconds / wall, "peak_rss_mb": peak_rss_mb(),
              "threads": torch.get_num_threads()}
    if device == "cuda":
        result["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return result


def cases(folder: str, devices: list[str], quick: bool, thread_counts: list[int]) -> list[dict]:
    """1 s, 10 s, 10 min on each device, each in a fresh process (for its peak memory)."""
    plan = [(1.0, 1 if quick else 5), (10.0, 1 if quick else 3)] + ([] if quick else [(600.0, 0)])
    out = []
    runs = [("cpu", "float32", n) for n in thread_counts if "cpu" in devices]
    runs += [("cuda", dtype, 0) for dtype in ("float32", "float16", "bfloat16") if "cuda" in devices]
    for device, dtype, threads in runs:
        label = f"{threads} thread(s)" if device == "cpu" else dtype
        print(f"{device}, {label}, default settings (a fresh process per length):", flush=True)
        for seconds, reps in plan:
            cmd = [sys.executable, __file__, "--child", folder, str(seconds), device, str(reps), dtype, str(threads)]
            res = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()[-1])
            extra = f", cuda peak {res['cuda_peak_mb']:.0f} MB" if "cuda_peak_mb" in res else ""
            print(f"  {seconds:6.0f} s audio: {res['x_realtime']:6.2f}× real time (wall {res['wall_s']:.3f} s, "
                  f"cpu {res['cpu_s']:.3f} s, {res['threads']} threads), peak RSS {res['peak_rss_mb']:.0f} MB{extra}",
                  flush=True)
            out.append(res)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, no 10-minute case")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile")
    parser.add_argument("--no-options", action="store_true", help="skip the per-option table")
    parser.add_argument("--json", help="write every figure to this JSON file")
    parser.add_argument("--threads", help="comma-separated CPU thread counts for the length cases (default: 1 and all cores)")
    parser.add_argument("--child", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        folder, seconds, device, reps, dtype, threads = args.child
        print(json.dumps(one_case(folder, float(seconds), device, int(reps), dtype, int(threads))))
        return

    import torch

    load = os.getloadavg()[0]
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, load average {load:.1f} at start, "
          f"CUDA: {torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none'}")
    results: dict = {"load_average": load}
    with tempfile.TemporaryDirectory() as tmp:
        folder = make_model(str(Path(tmp) / "hifigan"))
        if not args.no_options:
            results["options"] = options(folder, 1 if args.quick else 3, args.compile)
        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
        threads = [int(n) for n in args.threads.split(",")] if args.threads else sorted({1, torch.get_num_threads()})
        results["cases"] = cases(folder, devices, args.quick, threads)
    results["load_average_end"] = os.getloadavg()[0]
    print(f"load average at the end: {results['load_average_end']:.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
