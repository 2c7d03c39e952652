"""Quality and speed of the ``griffinlim`` vocoder: copy synthesis of the corpus speech.

    python benchmarks/bench_griffinlim.py                 # sweeps, ablations, chunking, speed
    python benchmarks/bench_griffinlim.py --quick         # fewer sweep points
    python benchmarks/bench_griffinlim.py --hour          # also 1 hour of speech in a fresh process (minutes)
    python benchmarks/bench_griffinlim.py --json out.json
    python benchmarks/bench_griffinlim.py --coded         # only: iterations at ~2.8 kbps + 330 s whole-process decode
    python benchmarks/bench_griffinlim.py --coded --baseline old_griffinlim.py   # ... beside another version

``--coded`` is what decides the defaults: read speech through a real codec at ~2.8 kbps (avif, the
quality chosen per file as the one whose bitrate is nearest 2.8 kbps), decoded features →
vocoder → PESQ-WB against the original, over iterations; files: the two corpus speech files
(never trained or tuned on alone) and the 6 LibriSpeech/VCTK files of train/. Then the
whole-process decode (``python -m spectrocodec decode``) of 330 s of speech (train/ + speech/,
concatenated, repeated to 330 s, encoded at ~2.8 kbps), its wall time and the child process's CPU
time (user + sys): the default decoder (no --vocoder), griffinlim by name with the default workers
(one per core) and with 1 worker. ``--baseline FILE`` (e.g. the output of ``git show
de2e9b5:plugins/spectrocodec_plugins/griffinlim.py``) adds the same rows for that version of the
plugin: on the same coded features, and whole-process runs alternated with the installed one.

Copy synthesis: the log-mel features of the original audio (spectrocodec_plugins.speecht5, no image
codec) → vocoder → PESQ-WB (``pesq(16000, ref, deg, "wb")``) and STOI against the original, the
output trimmed to the input's length. Files: the two corpus speech files (../shared/corpus/speech).

Ablations rebuild the alternatives from the plugin's own pieces (stft, istft, mel_gain), so that
each row differs from the plugin in one choice only:

- ``oracle``: fast Griffin-Lim on the TRUE 513-bin magnitude (the phase problem alone);
- ``fixed NNLS``: magnitude estimated once (min-norm, clipped, + multiplicative updates), then
  plain fast Griffin-Lim with that magnitude fixed; ``fixed pinv``: the same without updates;
- ``refit`` (the plugin): the magnitude imposed at each iteration is the consistent magnitude
  refitted to the mel by one multiplicative update;
- ``refit, out-of-band free``: bins outside 80–7600 Hz keep their consistent magnitude instead of 0;
- ``refit + true < 80 Hz``: an oracle for the bins below the first mel band (what the features lose).

Every time is wall seconds with the process CPU seconds beside it, best of ``--reps`` runs: on a
shared machine the wall time depends on what else runs, the CPU time much less.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "speech"
FILES = ("libri1_5703-47212-0000.ogg", "libri2_3436-172162-0000.ogg")
RATE, HOP = 16000, 256


def load() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """[(name, audio float32 (samples,), features float32 (frames, 80))] for the corpus files."""
    from spectrocodec_plugins.speecht5 import log_mel

    out = []
    for name in FILES:
        audio, rate = sf.read(str(CORPUS / name), dtype="float32")
        assert rate == RATE, (name, rate)
        out.append((name, audio, log_mel(audio)))
    return out


def quality(audio: np.ndarray, waveform: np.ndarray) -> tuple[float, float]:
    """(PESQ-WB, STOI) of ``waveform`` against ``audio``, trimmed to its length."""
    from pesq import pesq
    from pystoi import stoi

    deg = np.asarray(waveform[: len(audio)], dtype=np.float32)
    return float(pesq(RATE, audio, deg, "wb")), float(stoi(audio, deg, RATE, extended=False))


def timed(fn, reps: int):
    """(result, best wall seconds, CPU seconds of that run) over ``reps`` runs."""
    best, result = (float("inf"), 0.0), None
    for _ in range(max(1, reps)):
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn()
        best = min(best, (time.perf_counter() - wall, time.process_time() - cpu))
    return result, best[0], best[1]


def variant(features: np.ndarray, audio: np.ndarray, kind: str, iterations: int = 64, momentum: float = 0.9,
            init_steps: int = 100) -> np.ndarray:
    """The ablations (see the module docstring): features (frames, 80) → waveform (frames * 256,)."""
    from spectrocodec_plugins import griffinlim as G

    ops = G.Arrays()
    frames = len(features)
    envelope = G.overlap_envelope(frames, ops)
    with ops.session():
        mel = 10.0 ** ops.asarray(features)
        padded = ops.asarray(np.pad(audio, (0, max(0, frames * HOP - len(audio))))[: frames * HOP])
        true = ops.abs(G.stft(padded, frames, ops))  # (frames, 513), the features' own STFT
        if kind == "oracle":
            fixed = true
        else:
            fixed = ops.clamp_min(mel @ ops.tables["pinv"], 0.0)
            for _ in range(init_steps if kind == "fixed NNLS" else 0):
                fixed = fixed * G.mel_gain(fixed, mel, ops)
        in_band = ops.tables["spread"].sum(0) > 0  # (513,)
        spectrum = ops.complex(fixed)
        previous = ops.zeros_like(spectrum)
        for _ in range(iterations):
            consistent = G.stft(G.istft(spectrum, envelope, ops), frames, ops)
            spectrum = consistent + momentum * (consistent - previous)
            previous = consistent
            current = ops.abs(spectrum)
            if kind in ("oracle", "fixed pinv", "fixed NNLS"):
                target = fixed
            else:
                target = current * G.mel_gain(current, mel, ops)
                if kind == "refit, out-of-band free":
                    target[:, ~in_band] = ops.abs(consistent)[:, ~in_band]
                elif kind == "refit + true < 80 Hz":
                    low = ~in_band & (np.arange(513) < 100)
                    target[:, low] = true[:, low]
            spectrum = spectrum * (target / np.maximum(current, 1e-30))
        return G.istft(spectrum, envelope, ops)


def report(rows: list[dict], label: str, scores: list[tuple[float, float]], wall: float | None = None,
           cpu: float | None = None, seconds: float | None = None, **extra) -> None:
    pesqs = [p for p, _ in scores]
    stois = [s for _, s in scores]
    row = {"case": label, "pesq": pesqs, "pesq_mean": float(np.mean(pesqs)), "stoi_mean": float(np.mean(stois)), **extra}
    text = f"  {label:44} PESQ {' '.join(f'{p:4.2f}' for p in pesqs)}  mean {np.mean(pesqs):4.2f}  STOI {np.mean(stois):4.3f}"
    if wall is not None:
        row.update(wall_s=wall, cpu_s=cpu, audio_s=seconds, x_realtime=seconds / wall)
        text += f"  {seconds / wall:6.1f}× real time (wall {wall:5.2f} s, cpu {cpu:5.2f} s)"
    print(text, flush=True)
    rows.append(row)


def sweep(data, quick: bool, reps: int) -> list[dict]:
    """The plugin over iterations and momentum; times over both files (31.6 s of audio)."""
    from spectrocodec_plugins.griffinlim import GriffinLimVocoder

    seconds = sum(len(a) for _, a, _ in data) / RATE
    rows: list[dict] = []
    print(f"plugin, iterations x momentum (both files, {seconds:.1f} s of audio, 1 thread):")
    grid = [(i, 0.9) for i in ((16, 32, 64, 128) if quick else (0, 8, 16, 32, 48, 64, 100, 128, 200))]
    grid += [(64, m) for m in ((0.0, 0.99) if quick else (0.0, 0.5, 0.8, 0.95, 0.99))]
    for iterations, momentum in grid:
        vocoder = GriffinLimVocoder(device="cpu", iterations=iterations, momentum=momentum)
        waves, wall, cpu = timed(lambda: [vocoder.vocode(f) for _, _, f in data], reps)
        report(rows, f"iterations={iterations} momentum={momentum}", [quality(a, w) for (_, a, _), w in zip(data, waves)],
               wall, cpu, seconds, iterations=iterations, momentum=momentum)
    return rows


def ablations(data, quick: bool) -> list[dict]:
    rows: list[dict] = []
    print("ablations, 64 iterations, momentum 0.9 unless said:")
    cases = [("oracle", 0.9), ("oracle", 0.99), ("fixed pinv", 0.99), ("fixed NNLS", 0.99), ("fixed NNLS", 0.9),
             ("refit", 0.99), ("refit", 0.9), ("refit, out-of-band free", 0.9), ("refit + true < 80 Hz", 0.9)]
    if quick:
        cases = [c for c in cases if c[1] == 0.9]
    for kind, momentum in cases:
        waves = [variant(f, a, kind, momentum=momentum) for _, a, f in data]
        report(rows, f"{kind}, momentum {momentum}", [quality(a, w) for (_, a, _), w in zip(data, waves)], kind=kind, momentum=momentum)
    return rows


def threads_and_chunks(data, reps: int) -> list[dict]:
    """Speed on 1 and 2 threads for the 14.8 s file; chunked vs single pass on both files."""
    from spectrocodec_plugins.griffinlim import GriffinLimVocoder, chunk_bounds

    rows: list[dict] = []
    name, audio, features = data[0]
    seconds = len(audio) / RATE
    print(f"speed on {name} ({seconds:.1f} s), default settings (64 iterations):")
    for threads in (1, 2):
        vocoder = GriffinLimVocoder(device="cpu", threads=threads)
        wave, wall, cpu = timed(lambda: vocoder.vocode(features), reps)
        print(f"  threads={threads}: {seconds / wall:6.1f}× real time (wall {wall:5.2f} s, cpu {cpu:5.2f} s)", flush=True)
        rows.append({"case": f"threads={threads}", "audio_s": seconds, "wall_s": wall, "cpu_s": cpu, "x_realtime": seconds / wall})
    print("chunked (chunk_frames=256, i.e. chunks of ~4 s) vs one pass:")
    for name, audio, features in data:
        single = GriffinLimVocoder(device="cpu").vocode(features)
        chunked = GriffinLimVocoder(device="cpu", chunk_frames=256).vocode(features)
        diff = np.abs(chunked - single)
        seams = [start * HOP for start, _ in chunk_bounds(len(features), 256)[1:]]
        jumps = np.abs(np.diff(chunked))
        seam_jump = max(jumps[s - 4096 : s + 4096].max() for s in seams)
        p_single, p_chunked = quality(audio, single)[0], quality(audio, chunked)[0]
        print(f"  {name}: {len(seams)} joins, max |chunked - single| {diff.max():.2e} (peak {np.abs(single).max():.2f}), "
              f"rms {np.sqrt(np.mean(diff**2)):.2e}; max step at joins {seam_jump:.3f} vs {jumps.max():.3f} overall; "
              f"PESQ {p_single:.3f} → {p_chunked:.3f}", flush=True)
        rows.append({"case": f"chunked {name}", "joins": len(seams), "max_abs_diff": float(diff.max()),
                     "rms_diff": float(np.sqrt(np.mean(diff**2))), "peak": float(np.abs(single).max()),
                     "max_step_at_joins": float(seam_jump), "max_step": float(jumps.max()),
                     "pesq_single": p_single, "pesq_chunked": p_chunked})
    return rows


HOUR_SCRIPT = """
import resource, sys, time
import numpy as np, soundfile as sf
from spectrocodec_plugins.speecht5 import log_mel
audio = np.concatenate([sf.read(p, dtype="float32")[0] for p in sys.argv[2:]])
features = np.tile(log_mel(audio), (200, 1))[:225000].copy()  # 1 hour of speech features
del audio
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
from spectrocodec_plugins.griffinlim import GriffinLimVocoder
vocoder = GriffinLimVocoder(device="cpu", iterations=int(sys.argv[1]))
wall, cpu = time.perf_counter(), time.process_time()
wave = vocoder.vocode(features)
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
print(len(wave), wall, cpu, before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, bool(np.isfinite(wave).all()))
"""


def hour(iterations: int) -> dict:
    """1 hour (225,000 frames) in a fresh process: time and peak RSS (features 72 MB + output 230 MB included)."""
    paths = [str(CORPUS / name) for name in FILES]
    out = subprocess.run([sys.executable, "-c", HOUR_SCRIPT, str(iterations), *paths], capture_output=True, text=True, check=True)
    samples, wall, cpu, before, peak, finite = out.stdout.split()
    result = {"case": f"1 hour, {iterations} iterations", "samples": int(samples), "wall_s": float(wall), "cpu_s": float(cpu),
              "x_realtime": 3600 / float(wall), "rss_before_vocoding_mb": float(before), "peak_rss_mb": float(peak),
              "finite": finite == "True"}
    print(f"1 hour of speech, {iterations} iterations: {result['x_realtime']:.1f}× real time (wall {float(wall):.0f} s, "
          f"cpu {float(cpu):.0f} s); peak RSS {float(peak):.0f} MB ({float(before):.0f} MB before vocoding); finite: {finite}", flush=True)
    return result


TARGET_KBPS = 2.8
CODED_FILES = [CORPUS / name for name in FILES] + sorted((CORPUS.parent / "train" / "librispeech").glob("*")) + \
    sorted((CORPUS.parent / "train" / "vctk").glob("*"))


def encode_near(audio: np.ndarray, kbps: float = TARGET_KBPS) -> tuple[bytes, float, int]:
    """avif bytes of 16 kHz ``audio`` at the quality (a whole number) whose bitrate is nearest ``kbps``:
    (bytes, kbps, quality)."""
    from spectrocodec.core import api

    seconds = len(audio) / RATE
    best, low, high = None, 1, 99
    while low <= high:  # bitrate grows with quality
        q = (low + high) // 2
        data = api.encode(audio, sample_rate=RATE, codec="avif", quality=q)
        rate = len(data) * 8 / seconds / 1000
        if best is None or abs(rate - kbps) < abs(best[1] - kbps):
            best = (data, rate, q)
        low, high = (q + 1, high) if rate < kbps else (low, q - 1)
    return best


def load_baseline(path: str):
    """Another version of the plugin (e.g. ``git show de2e9b5:plugins/spectrocodec_plugins/griffinlim.py``)
    loaded as a module beside the installed plugins, for before/after rows."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("spectrocodec_plugins.baseline_griffinlim", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def coded(iterations_list: list[int], reps: int, baseline: str | None = None) -> list[dict]:
    """PESQ-WB/STOI of griffinlim on speech coded at ~2.8 kbps, over iterations (and of ``baseline``'s,
    a griffinlim.py file, on the same coded files)."""
    from spectrocodec.core import api
    from spectrocodec.core.audio import read_mono
    from spectrocodec_plugins import griffinlim

    data = []
    for path in CODED_FILES:
        audio = read_mono(path, RATE)[0]
        raw, kbps, q = encode_near(audio)
        data.append((path.name, audio, api.read_features(raw).features, kbps, q))
    print("files at ~2.8 kbps: " + ", ".join(f"{n} {k:.2f} kbps (q{q})" for n, _, _, k, q in data), flush=True)
    seconds = sum(len(a) for _, a, _, _, _ in data) / RATE
    rows: list[dict] = []
    print(f"griffinlim at ~{TARGET_KBPS} kbps, iterations (momentum 0.9; {len(data)} files, {seconds:.1f} s; "
          f"first 2 = speech/, mean over them first):")
    versions = [("", griffinlim)] + ([("baseline ", load_baseline(baseline))] if baseline else [])
    for iterations, (label, module) in ((i, v) for i in iterations_list for v in versions):
        vocoder = module.GriffinLimVocoder(device="cpu", iterations=iterations, workers=1)
        waves, wall, cpu = timed(lambda: [vocoder.vocode(f) for _, _, f, _, _ in data], reps)
        scores = [quality(a, w) for (_, a, _, _, _), w in zip(data, waves)]
        pesqs = [p for p, _ in scores]
        row = {"case": f"coded {label}iterations={iterations}", "iterations": iterations, "pesq": pesqs,
               "pesq_speech": float(np.mean(pesqs[:2])), "pesq_train": float(np.mean(pesqs[2:])),
               "pesq_all": float(np.mean(pesqs)), "stoi_all": float(np.mean([s for _, s in scores])),
               "wall_s": wall, "cpu_s": cpu, "audio_s": seconds}
        print(f"  {label}iterations={iterations:3}: PESQ speech/ {row['pesq_speech']:.3f}, train/ {row['pesq_train']:.3f}, "
              f"all {row['pesq_all']:.3f}, STOI {row['stoi_all']:.3f}; {seconds / cpu:5.1f}× real time per core "
              f"(cpu {cpu:.2f} s, wall {wall:.2f} s)  [{' '.join(f'{p:.2f}' for p in pesqs)}]", flush=True)
        rows.append(row)
    return rows


def long_file(folder: Path, seconds: float = 330.0) -> Path:
    """train/ + speech/ files, 16 kHz, concatenated and repeated to ``seconds``, encoded at ~2.8 kbps."""
    from spectrocodec.core.audio import read_mono

    parts = [read_mono(p, RATE)[0] for p in sorted((CORPUS.parent / "train").glob("*/*")) + [CORPUS / n for n in FILES]]
    audio = np.concatenate(parts)
    audio = np.tile(audio, int(np.ceil(seconds * RATE / len(audio))))[: int(seconds * RATE)]
    raw, kbps, quality_ = encode_near(audio)
    path = folder / "speech330.avif"
    path.write_bytes(raw)
    print(f"{seconds:.0f} s of speech at {kbps:.2f} kbps (avif q{quality_}): {path}", flush=True)
    return path


def baseline_plugins(folder: Path, baseline: str) -> dict:
    """An environment whose ``spectrocodec_plugins`` is a copy of the installed one with ``baseline``
    as its griffinlim.py (put first on PYTHONPATH)."""
    import shutil

    import spectrocodec_plugins

    copy = folder / "baseline" / "spectrocodec_plugins"
    shutil.copytree(Path(spectrocodec_plugins.__file__).parent, copy, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(baseline, copy / "griffinlim.py")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(copy.parent), os.environ.get("PYTHONPATH", "")])}


def whole_process(path: Path, seconds: float, settings: list[list[str]], reps: int, baseline: str | None = None) -> list[dict]:
    """``python -m spectrocodec decode`` of ``path`` in a fresh process: best wall and its CPU (user+sys);
    with ``baseline`` (a griffinlim.py file), each setting also with that version, runs alternated."""
    import resource

    rows = []
    envs = [("", None)] + ([("baseline ", baseline_plugins(path.parent, baseline))] if baseline else [])
    for extra, (label, env) in ((x, e) for x in settings for e in envs):
        best = None
        for _ in range(max(1, reps)):
            load = os.getloadavg()[0]
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            wall = time.perf_counter()
            subprocess.run([sys.executable, "-m", "spectrocodec", "decode", str(path), "-o", str(path.with_suffix(".wav")),
                            "-f", "-q", *extra], check=True, env=env)
            wall = time.perf_counter() - wall
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            if best is None or wall < best[0]:
                best = (wall, cpu, load)
        wall, cpu, load = best
        row = {"case": f"whole process {label}" + " ".join(extra), "wall_s": wall, "cpu_s": cpu, "audio_s": seconds,
               "x_realtime": seconds / wall, "x_realtime_cpu": seconds / cpu, "load": load}
        print(f"  {label}decode {' '.join(extra) or '(defaults)'}: {seconds / wall:5.1f}× real time (wall {wall:.2f} s), "
              f"CPU {cpu:.2f} s (user+sys, {seconds / cpu:.1f}× real time per CPU-second); load average {load:.1f}", flush=True)
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer sweep points and ablations")
    parser.add_argument("--reps", type=int, default=3, help="timed runs per case, best kept (default 3)")
    parser.add_argument("--hour", action="store_true", help="also vocode 1 hour in a fresh process (minutes)")
    parser.add_argument("--hour-iterations", type=int, default=64)
    parser.add_argument("--json", help="write every row to this JSON file")
    parser.add_argument("--coded", action="store_true", help="only the ~2.8 kbps iteration sweep and the 330 s whole-process decode")
    parser.add_argument("--iterations", default="16,24,32,48,64", help="--coded: iteration counts (default 16,24,32,48,64)")
    parser.add_argument("--baseline", help="--coded: another griffinlim.py (e.g. from git show) measured beside the installed one")
    args = parser.parse_args(argv)
    if not CORPUS.exists():
        print(f"corpus not found at {CORPUS}", file=sys.stderr)
        return 2
    import scipy

    print(f"numpy {np.__version__}, scipy {scipy.__version__}, {os.cpu_count()} CPU cores, "
          f"load average {os.getloadavg()[0]:.1f} at start")
    if args.coded:
        import tempfile

        rows = coded([int(i) for i in args.iterations.split(",")], args.reps, args.baseline)
        with tempfile.TemporaryDirectory() as folder:
            path = long_file(Path(folder))
            settings = [[], ["--vocoder", "griffinlim"], ["--vocoder", "griffinlim", "--param", "workers=1"]]
            settings += [["--vocoder", "griffinlim", "--param", f"iterations={i}"] for i in args.iterations.split(",") if i != "64"]
            rows += whole_process(path, 330.0, settings, args.reps, args.baseline)
        print(f"load average {os.getloadavg()[0]:.1f} at the end")
        if args.json:
            Path(args.json).write_text(json.dumps(rows, indent=2))
        return 0
    data = load()
    rows = sweep(data, args.quick, args.reps) + ablations(data, args.quick) + threads_and_chunks(data, args.reps)
    if args.hour:
        rows.append(hour(args.hour_iterations))
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
