"""Fuzz the decoder: mutate valid files of every installed codec and decode each through the API.

    nice python benchmarks/fuzz_decoder.py --minutes 30            # the long run (docs/robustness.md)
    nice python benchmarks/fuzz_decoder.py --inputs 100000 --seed 7
    python benchmarks/fuzz_decoder.py --inputs 300 --timeout 5     # what tests/test_fuzz.py runs

Seeds: a short signal encoded by every available codec backend at each of its bit depths, lossy and
lossless, some folded into strips (a tiny ``max_width``: the decoder unfolds any file from its height
and sample count, so these are real folded files), plus plain images without spectrocodec metadata
(legacy audio-avif style, 80 rows, and photo-like ones) as Pillow writes them.

Mutations (several may be stacked): bit flips, bytes set to boundary values, truncation, insertion
and deletion of bytes, duplication of a slice, splicing two files (also of different codecs), tweaks
of header fields the decoders read before decoding (ISOBMFF box sizes and ``ispe`` dimensions, PNG
``IHDR`` with its CRC fixed, any chunk/box size before a known four-character tag) and re-encoding
the pixels with a lying metadata payload (NaN or swapped range, huge sample counts, unknown
version, flags, extractor names and parameters, truncated payloads).

Each input is decoded with ``spectrocodec.core.api.decode`` (a stub vocoder registered for the run, so the
whole path runs: codec, metadata, unfolding, mapping, vocoder call, length fitting) and
``spectrocodec.core.api.info``. A worker process does the decoding under a memory cap (RLIMIT_DATA); the
parent gives each input ``--timeout`` seconds. Outcomes: ``ok``; ``SpectrocodecError`` (the
project's own one-line errors, counted by class and message); and bugs: any other exception, a
timeout (hang) or the worker dying (crash, or a C library hitting the memory cap). Each bug's
input is saved under ``--out`` with its traceback; the summary is ``--out``/summary.json.
Exit status: 0 if no bug was found, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import resource
import select
import struct
import subprocess
import sys
import time
import traceback
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "bench-out" / "fuzz"
MEMORY_CAP = 3 << 30  # RLIMIT_DATA of the worker (bytes)


# -- seeds --------------------------------------------------------------------------------------
@dataclass
class Seed:
    name: str
    data: bytes
    codec: object | None  # the codec instance that wrote it (None for plain images)
    bits: int
    image: object | None  # the integer image it holds, to re-encode with a lying payload


def _signal(seconds: float, rate: int = 16000):
    import numpy as np

    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * rate)) / rate
    tone = 0.3 * np.sin(2 * np.pi * 220 * t * (1 + t)) + 0.02 * rng.standard_normal(len(t))
    return tone.astype(np.float32)


def build_seeds(codecs: list[str] | None = None) -> list[Seed]:
    """Valid files of every available codec backend (deterministic: same seeds every run)."""
    import io

    import numpy as np
    from PIL import Image

    from spectrocodec.core import fileformat, mapping
    from spectrocodec.core.pipeline import Pipeline
    from spectrocodec.core.registry import Registry

    registry = Registry.default()
    seeds: list[Seed] = []
    audio = _signal(0.6)
    for cls in registry.classes("codec"):
        if cls.unavailable() is not None or (codecs and cls.name not in codecs):
            continue
        modes = [m for m, ok in (("lossy", cls.lossy), ("lossless", cls.lossless)) if ok]
        for bits in sorted(set(cls.bit_depths) & {8, 10, 12, 16}):
            for mode in modes:
                for fold in (0, 16):
                    if fold and (mode, bits) != (modes[0], min(cls.bit_depths)):
                        continue  # one folded seed per backend is enough
                    try:
                        codec = registry.create("codec", {"name": cls.name, "backend": cls.backend},
                                                lossless=(mode == "lossless") or None)
                        if fold:
                            codec.max_width = fold  # an instance attribute: folds this file only
                        pipe = Pipeline(codec=codec, bits=bits, registry=registry)
                        data = pipe.encode(audio, 16000)
                    except Exception as exc:  # a codec that cannot write this mode: skip it
                        print(f"fuzz: no seed {cls.name}/{cls.backend} {bits}-bit {mode}: {exc}", file=sys.stderr)
                        continue
                    features = pipe._extractor().extract(audio, 16000)
                    lo, hi = mapping.feature_range(features, "adaptive", (-11.0, 4.0))
                    image = mapping.fold(mapping.to_image(features, lo, hi, bits), fold or 1 << 30)
                    name = f"{cls.name}-{cls.backend}-{bits}-{mode}" + (f"-fold{fold}" if fold else "")
                    seeds.append(Seed(name, data, codec, bits, image))
                    if "container" in cls.defaults and not fold:  # avif: the AVIF 1.2 mini layout too
                        compact = registry.create("codec", {"name": cls.name, "backend": cls.backend},
                                                  lossless=(mode == "lossless") or None, container="compact")
                        data = Pipeline(codec=compact, bits=bits, registry=registry).encode(audio, 16000)
                        seeds.append(Seed(name + "-compact", data, compact, bits, image))
                    if "tile_pixels" in cls.defaults and not fold and mode == "lossy" and bits == min(cls.bit_depths):
                        grid = registry.create("codec", {"name": cls.name, "backend": cls.backend}, tile_pixels=1 << 12)
                        grid.max_width = 64  # 1.2 s → 2 strips of 80 x 64: a grid of 2 tiles
                        data = Pipeline(codec=grid, bits=bits, registry=registry).encode(_signal(1.2), 16000)
                        long = pipe._extractor().extract(_signal(1.2), 16000)
                        lo, hi = mapping.feature_range(long, "adaptive", (-11.0, 4.0))
                        seeds.append(Seed(name + "-grid", data, grid, bits, mapping.fold(mapping.to_image(long, lo, hi, bits), 64)))
    # plain images without spectrocodec metadata, as another program would write them
    rng = np.random.default_rng(1)
    features = registry.create("feature", "speecht5").extract(audio, 16000)
    legacy = mapping.to_image(features, -11.0, 4.0, 8)
    photo = (rng.random((48, 64, 3)) * 40 + np.linspace(0, 200, 64)[None, :, None]).astype(np.uint8)
    for fmt in ("PNG", "AVIF", "WEBP"):
        for label, array in (("legacy80", legacy), ("photo", photo)):
            buffer = io.BytesIO()
            try:
                Image.fromarray(array).save(buffer, format=fmt, **({"quality": 90} if fmt != "PNG" else {}))
            except Exception:
                continue
            seeds.append(Seed(f"plain-{fmt.lower()}-{label}", buffer.getvalue(), None, 8, None))
    assert seeds, "no codec available to make seeds"
    _ = fileformat  # (imported for the payload builder below)
    return seeds


# -- mutations ----------------------------------------------------------------------------------
INTERESTING_U32 = [0, 1, 2, 7, 8, 9, 16, 79, 80, 81, 255, 256, 16383, 16384, 32768, 65535, 65536,
                   100000, 1 << 24, (1 << 31) - 1, 1 << 31, (1 << 32) - 1]
TAGS = [b"ftyp", b"meta", b"iloc", b"iinf", b"iprp", b"ipco", b"ispe", b"av1C", b"hvcC", b"pixi", b"ipma",
        b"mdat", b"scdc", b"IHDR", b"IDAT", b"IEND", b"sBIT", b"scDc", b"RIFF", b"WEBP", b"VP8 ", b"VP8L",
        b"VP8X", b"EXIF", b"XMP ", b"jP  ", b"jp2h", b"ihdr", b"jp2c", b"JXL ", b"jxlc", b"jxlp", b"jxll",
        b"colr", b"uuid", b"xml ", b"brob", b"mini", b"mif3", b"idat", b"pitm", b"hdlr", b"infe"]


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def lying_payload(rng: random.Random) -> bytes:
    """A metadata payload with one or more fields that lie (or are merely unusual)."""
    version = rng.choice([1] * 8 + [0, 2, 255])
    flags = rng.choice([0, 1, 1, 1, 2, 3, 0x80, 0xFF])
    bits = rng.choice([8, 10, 12, 16, 0, 7, 9, 17, 255])
    lo, hi = rng.choice([(-10.0, 1.0), (-5.0, 0.5), (1.0, -1.0), (0.0, 0.0), (float("nan"), 1.0),
                         (-1.0, float("inf")), (-3e38, 3e38), (-1e30, 1e30), (-1e-30, 1e-30), (-11.0, 4.0)])
    rate = rng.choice([16000, 16000, 44100, 8000, 1, 0, 1_000_000, 1_000_001, 1 << 62])
    num = rng.choice([9600, 9600, 9601, 0, 1, 10 ** 15, 1 << 40, (1 << 40) + 1, 1 << 63, 26460])
    channels = rng.choice([1, 1, 2, 6, 0, 4096, 4097, 1 << 40])
    name = rng.choice([b"speecht5"] * 6 + [b"", b"nope", b"\xff\xfe", b"speecht5\x00", b"x" * 255])
    params = rng.choice([b""] * 6 + [b'{"a":1}', b'{"name":[1]}', b"[1]", b"{", b"null", b'{"name":"x"}',
                                     b"[" * 5000 + b"]" * 5000, b'{"n_mels":40}', b"\xff"])
    out = struct.pack("<BBBff", version, flags, bits, lo, hi) + _varint(rate) + _varint(num) + _varint(channels)
    out += bytes([len(name) & 0xFF]) + name + _varint(len(params)) + params
    if rng.random() < 0.4:  # version 2: u16 flags (bit depth, presence bits), a float16/32 range, optional fields
        flags2 = rng.choice([0x12, 0x32, 0x3A, 0x72, 0xF2, 0x1F2, 0x3F2, 0x400, 0xFFFF, rng.randrange(1 << 16)])
        out = struct.pack("<BH", rng.choice([2] * 8 + [3, 0]), flags2)
        out += struct.pack("<ee" if flags2 & 0x20 else "<ff", *((max(-6e4, min(6e4, v)) if flags2 & 0x20 and math.isfinite(v) else v) for v in (lo, hi)))
        out += _varint(num) + (_varint(rate) if flags2 & 0x40 else b"") + (_varint(channels) if flags2 & 0x80 else b"")
        if flags2 & 0x100:
            out += rng.choice([b"\x01", b"\x02", b"\xff", b"\x00" + bytes([len(name) & 0xFF]) + name + _varint(len(params)) + params])
        if flags2 & 0x200:
            out += rng.choice([b"", b"\x05\x01x", b"\x85\x02ab", b"\x01\x7f", b"\x90" + _varint(1 << 40)])
    if rng.random() < 0.15:
        out = out[: rng.randrange(len(out) + 1)]
    return out


def _fix_png_crcs(data: bytearray) -> None:
    pos = 8
    while pos + 12 <= len(data):
        length = struct.unpack_from(">I", data, pos)[0]
        stop = pos + 8 + length
        if stop + 4 > len(data):
            return
        struct.pack_into(">I", data, stop, zlib.crc32(bytes(data[pos + 4 : stop])))
        pos = stop + 4


def mutate(rng: random.Random, seeds: list[Seed]) -> tuple[bytes, str]:
    """One fuzz input and a short description of how it was made."""
    seed = rng.choice(seeds)
    data = bytearray(seed.data)
    steps = []
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        op = rng.choice(["flip", "flip", "byte", "truncate", "truncate", "insert", "delete", "duplicate",
                         "splice", "header", "header", "payload"])
        n = len(data)
        if op == "flip" and n:
            for _ in range(rng.choice([1, 1, 2, 4, 8, 32])):
                pos = rng.randrange(n)
                data[pos] ^= 1 << rng.randrange(8)
        elif op == "byte" and n:
            for _ in range(rng.choice([1, 2, 4])):
                data[rng.randrange(n)] = rng.choice([0, 0xFF, 0x7F, 0x80, 1, rng.randrange(256)])
        elif op == "truncate":
            data = data[: rng.randrange(n + 1)] if rng.random() < 0.7 else data[: max(0, n - rng.randrange(1, 64))]
        elif op == "insert":
            pos = rng.randrange(n + 1)
            data[pos:pos] = rng.randbytes(rng.choice([1, 2, 4, 16, 256]))
        elif op == "delete" and n:
            pos = rng.randrange(n)
            del data[pos : pos + rng.choice([1, 2, 4, 16, 256])]
        elif op == "duplicate" and n:
            a = rng.randrange(n)
            chunk = data[a : a + rng.choice([4, 16, 64, 512])]
            pos = rng.randrange(n + 1)
            data[pos:pos] = chunk
        elif op == "splice":
            other = rng.choice(seeds).data
            data = data[: rng.randrange(n + 1)] + other[rng.randrange(len(other) + 1) :]
        elif op == "header":
            _tweak_header(rng, data)
        elif op == "payload" and seed.codec is not None:
            try:
                data = bytearray(seed.codec.encode(seed.image, seed.bits, lying_payload(rng)))
            except Exception as exc:  # the encoder refusing a payload is fine; keep the old bytes
                steps.append(f"payload-refused({type(exc).__name__})")
                continue
        steps.append(op)
    return bytes(data), f"{seed.name}: {'+'.join(steps)}"


def _tweak_header(rng: random.Random, data: bytearray) -> None:
    """Change a size or dimension field that decoders read first (at a known tag)."""
    found = [(m.start(), tag) for tag in TAGS for m in re.finditer(re.escape(tag), bytes(data))]
    if not found:
        if len(data) >= 4:
            pos = rng.randrange(len(data) - 3)
            struct.pack_into(">I", data, pos, rng.choice(INTERESTING_U32))
        return
    pos, tag = rng.choice(found)
    value = rng.choice(INTERESTING_U32 + [rng.randrange(1 << 32)])
    if tag == b"ispe" and pos + 16 <= len(data):  # ispe: version/flags, width, height
        struct.pack_into(">I", data, pos + 8 + 4 * rng.randrange(2), value)
    elif tag == b"IHDR" and pos + 13 <= len(data):  # PNG: width, height, depth, colour type
        field = rng.randrange(4)
        if field < 2:
            struct.pack_into(">I", data, pos + 4 + 4 * field, value)
        else:
            data[pos + 8 + field] = rng.choice([0, 1, 2, 3, 4, 6, 8, 16, 255])
        if data[:8] == b"\x89PNG\r\n\x1a\n" and rng.random() < 0.9:
            _fix_png_crcs(data)
    elif pos >= 4:  # the size field just before a box/chunk tag (big-endian; RIFF chunks: after)
        if tag in (b"RIFF", b"VP8 ", b"VP8L", b"VP8X", b"EXIF", b"XMP ") and pos + 8 <= len(data):
            struct.pack_into("<I", data, pos + 4, value)
        else:
            struct.pack_into(">I", data, pos - 4, value)
        if data[:8] == b"\x89PNG\r\n\x1a\n" and rng.random() < 0.9:
            _fix_png_crcs(data)


# -- the worker ---------------------------------------------------------------------------------
def _stub_vocoder():
    import numpy as np

    from spectrocodec.interfaces import Vocoder

    class FuzzStub(Vocoder):
        """Cheap and deterministic: a waveform whose level follows the loudest band."""

        name = "fuzz-stub"
        accepts = ("speecht5",)
        priority = -1000
        defaults = {"device": "auto"}

        def vocode(self, features):
            level = np.minimum(1.0, 10.0 ** np.clip(features.max(axis=1), -20, 1)).astype(np.float32)
            return np.repeat(level, 256) * np.resize(np.array([1, -1], np.float32), len(level) * 256)

    return FuzzStub


def decode_one(data: bytes) -> tuple[str, str]:
    """('ok' | 'project' | 'bug', detail) for one input through the API."""
    from spectrocodec.core import api
    from spectrocodec.errors import SpectrocodecError

    try:
        waveform, rate = api.decode(data, vocoder="fuzz-stub")
        details = api.info(data)
        assert rate == 16000 and waveform.ndim == 1 and details["height"] > 0, "bad result"
        return "ok", ""
    except SpectrocodecError as exc:
        message = str(exc)
        assert "\n" not in message
        return "project", f"{type(exc).__name__}: {message}"
    except Exception:  # noqa: BLE001 - that is the point: anything else is a bug
        return "bug", traceback.format_exc()


def worker(args: argparse.Namespace) -> None:
    resource.setrlimit(resource.RLIMIT_DATA, (MEMORY_CAP, MEMORY_CAP))
    from spectrocodec.core.registry import Registry

    Registry.default().add("vocoder", _stub_vocoder(), "fuzz")
    seeds = build_seeds(args.codecs)
    current = Path(args.out) / "current-input"
    out = sys.stdout
    out.write(json.dumps({"seeds": [s.name for s in seeds]}) + "\n")
    out.flush()
    index = args.start
    last_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    while args.inputs is None or index < args.inputs:
        rng = random.Random(f"{args.seed}:{index}")
        data, how = mutate(rng, seeds)
        current.write_bytes(data)
        out.write(json.dumps({"start": index, "how": how}) + "\n")
        out.flush()
        outcome, detail = decode_one(data)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        if peak > last_peak + (50 << 10) and index > args.start:  # this input raised the peak by > 50 MB
            out.write(json.dumps({"rss": index, "how": how, "peak_mb": round(peak / 1024), "size": len(data),
                                  "outcome": outcome, "detail": detail[:200]}) + "\n")
        last_peak = max(last_peak, peak)
        if outcome == "bug":  # saved here: by the time the parent reads this, current-input moved on
            (Path(args.out) / f"bug-{index}-exception.bin").write_bytes(data)
        out.write(json.dumps({"done": index, "outcome": outcome, "detail": detail}) + "\n")
        out.flush()
        index += 1


# -- the parent ---------------------------------------------------------------------------------
def _template(message: str) -> str:
    """A message with its numbers and paths blanked, to count kinds of errors."""
    return re.sub(r"-?\d[\d.e+-]*|'[^']*'|\([^)]*\)", "#", message)


def run(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, help="stop after this long")
    parser.add_argument("--inputs", type=int, help="stop after this many inputs")
    parser.add_argument("--seed", default="1", help="random seed (inputs are reproducible from seed and index)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds one input may take")
    parser.add_argument("--codecs", nargs="*", help="only these codec names")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="folder for summary.json and bug inputs")
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--start", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    if args.worker:
        worker(args)
        return {}
    if args.minutes is None and args.inputs is None:
        args.minutes = 30.0
    deadline = time.monotonic() + args.minutes * 60 if args.minutes else None
    outcomes: Counter = Counter()
    errors: Counter = Counter()
    classes: Counter = Counter()
    bugs: list[dict] = []
    peaks: list[dict] = []  # inputs that raised the worker's peak RSS by more than 50 MB
    seeds_used: list[str] = []
    started = time.monotonic()
    index = 0
    spawns = 0
    last_report = started
    while (args.inputs is None or index < args.inputs) and (deadline is None or time.monotonic() < deadline):
        command = [sys.executable, os.path.abspath(__file__), "--worker", "--start", str(index),
                   "--seed", str(args.seed), "--out", args.out]
        if args.inputs is not None:
            command += ["--inputs", str(args.inputs)]
        if args.codecs:
            command += ["--codecs", *args.codecs]
        log = open(Path(args.out) / "worker-stderr.log", "ab")
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, bufsize=0)
        spawns += 1
        buffer = b""
        pending: dict | None = None
        waiting_for_seeds = True
        try:
            while True:
                if deadline is not None and time.monotonic() > deadline:
                    break
                limit = 300.0 if waiting_for_seeds else args.timeout
                ready, _, _ = select.select([proc.stdout], [], [], limit)
                if not ready:  # a hang: the input took longer than the bound
                    if pending is not None:
                        bugs.append(_save_bug(args.out, pending, "timeout", f"no result in {args.timeout} s"))
                        outcomes["bug"] += 1
                        index = pending["start"] + 1
                    else:
                        raise RuntimeError("the fuzz worker did not start")
                    break
                chunk = os.read(proc.stdout.fileno(), 1 << 16)
                if not chunk:  # the worker died: a crash on the pending input (or it finished)
                    if pending is not None:
                        code = proc.wait()
                        bugs.append(_save_bug(args.out, pending, "crash", f"worker exited with status {code}"))
                        outcomes["bug"] += 1
                        index = pending["start"] + 1
                    break
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    record = json.loads(line)
                    if "seeds" in record:
                        seeds_used = record["seeds"]
                        waiting_for_seeds = False
                    elif "rss" in record:
                        peaks.append(record)
                    elif "start" in record:
                        pending = record
                    else:
                        index = record["done"] + 1
                        outcomes[record["outcome"]] += 1
                        if record["outcome"] == "project":
                            classes[record["detail"].split(":")[0]] += 1
                            errors[_template(record["detail"])] += 1
                        elif record["outcome"] == "bug":
                            bugs.append(_save_bug(args.out, pending, "exception", record["detail"]))
                        pending = None
                if not args.quiet and time.monotonic() - last_report > 30:
                    last_report = time.monotonic()
                    print(f"fuzz: {index} inputs, {dict(outcomes)}, {len(bugs)} bug(s), "
                          f"{index / (last_report - started):.0f}/s", file=sys.stderr, flush=True)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            log.close()
        if proc.returncode == 0 and pending is None and args.inputs is not None and index >= args.inputs:
            break
    elapsed = time.monotonic() - started
    summary = {
        "inputs": sum(outcomes.values()), "seconds": round(elapsed, 1), "seed": args.seed,
        "timeout_s": args.timeout, "memory_cap_bytes": MEMORY_CAP, "worker_restarts": spawns - 1,
        "worker_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
        "outcomes": dict(outcomes), "project_error_classes": dict(classes), "bugs": bugs,
        "peak_raising_inputs": peaks, "seeds": seeds_used, "top_errors": errors.most_common(40),
    }
    (Path(args.out) / "summary.json").write_text(json.dumps(summary, indent=2))
    if not args.quiet:
        print(f"fuzz: {summary['inputs']} inputs in {elapsed:.0f} s: {dict(outcomes)}; "
              f"{len(bugs)} bug(s); summary in {Path(args.out) / 'summary.json'}", file=sys.stderr)
    return summary


def _save_bug(out: str, pending: dict | None, kind: str, detail: str) -> dict:
    index = pending["start"] if pending else -1
    path = Path(out) / f"bug-{index}-{kind}.bin"
    current = Path(out) / "current-input"
    if kind != "exception" and current.exists():  # a hang or crash: the worker is stuck on/died at it
        path.write_bytes(current.read_bytes())
    print(f"fuzz: BUG ({kind}) on input {index} ({pending and pending.get('how')}): {detail.strip().splitlines()[-1]}",
          file=sys.stderr, flush=True)
    return {"index": index, "kind": kind, "how": pending and pending.get("how"), "file": str(path), "detail": detail}


if __name__ == "__main__":
    result = run()
    sys.exit(1 if result and result["bugs"] else 0)
