"""``spectrocodec bench``: quality per bit and speed of each configuration, against Opus in the same run.

For every input × configuration one row of measurements:

- size: the whole file (container and metadata included) in bytes and kbps over the input's
  duration, and how it splits into codec payload, metadata (the spectrocodec box; Opus's tags)
  and the rest of the container (container_split: AVIF, HEIC, JPEG XL, JPEG 2000, WebP, Ogg Opus);
- quality before any vocoder: the mel distortion (dB, metrics.mel_distortion_db) between the
  features of the original and the features read back from the image;
- quality end to end: PESQ-WB, STOI and the mel distortion of the output re-analysed, each against
  the original resampled to 16 kHz mono;
- speed, in times real time: the API calls in-process, and whole ``python -m spectrocodec
  encode/decode`` processes (start-up included), as opusenc/opusdec are timed.

Configurations (``Config``): an image codec at a bit depth, range mode and quality, decoded by a
vocoder (or "none": features only); copy synthesis (the original's features straight into the
vocoder: its own ceiling); Opus at a bitrate through the real opusenc/opusdec (Debian package
opus-tools), skipped with a note when they are not installed.

Every input is first written as the reference: 16 kHz mono float WAV, which both spectrocodec and
opusenc read. Outputs in OUTDIR: rd.csv (every measurement; rows already there are kept and
skipped unless --force), rd.md (averaged per configuration, plus the answers to "where does each
configuration match Opus at 6 kbps", "how far is it from the vocoder's ceiling" and "how fast next
to opusenc/opusdec"), rd.png (quality against kbps, one line per configuration family).
"""

from __future__ import annotations

import csv
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from ..core.errors import InputError
from .args import fixed, num, vocoder_name
from .metrics import RATE  # the reference and every decoded output: 16 kHz, the input's channels
from .progress import format_duration

DEFAULT_BITRATES = "1,1.5,2,3,4,6"  # kbps: image codecs are compared at equal bitrate unless --quality is given
OPUS_TOOLS = ("opusenc", "opusdec")
COLUMNS = [
    "input", "config", "family", "kind", "codec", "bits", "range", "quality", "vocoder", "opus_kbps", "channels", "target_kbps",
    "duration_s", "bytes", "kbps", "payload_bytes", "metadata_bytes", "container_bytes",
    "feature_mel_db", "pesq_wb", "stoi", "output_mel_db",
    "encode_s", "decode_s", "encode_xrt", "decode_xrt",
    "cli_encode_s", "cli_decode_s", "cli_encode_xrt", "cli_decode_xrt",
]
METRICS = COLUMNS[COLUMNS.index("duration_s"):]
MARKERS = {8: "o", 10: "^", 12: "s"}  # the plot's marker per bit depth


@dataclass(frozen=True)
class Config:
    """One configuration. kind "image": codec/bits/range/quality → vocoder ("none": features only);
    "copy": the original's features → vocoder; "opus": opusenc --bitrate kbps → opusdec."""

    kind: str
    codec: str = ""
    bits: int = 0
    range: str = "adaptive"
    quality: float | None = None
    vocoder: str = "none"
    kbps: float = 0.0
    bitrate: float | None = None  # image: a target bitrate (kbps) instead of a quality

    @property
    def key(self) -> str:
        """Unique and stable: the CSV's ``config`` column, used to resume."""
        if self.kind == "opus":
            return f"opus/{num(self.kbps)}k"
        if self.kind == "copy":
            return f"copy/{self.vocoder}"
        return f"{self.codec}/{self.bits}bit/{self.range}/{self._setting('k')}/{self.vocoder}"

    @property
    def family(self) -> str:
        """The configuration without its rate parameter: one line on the plot."""
        if self.kind == "opus":
            return "opus"
        if self.kind == "copy":
            return f"copy synthesis ({self.vocoder})"
        return f"{self.codec} {self.bits}-bit {self.range} ({self.vocoder})"

    @property
    def label(self) -> str:
        if self.kind == "opus":
            return f"opus {num(self.kbps)} kbps"
        if self.kind == "copy":
            return f"copy synthesis {self.vocoder}"
        return f"{self.codec} {self._setting(' kbps')} {self.bits}-bit {self.range} {self.vocoder}"

    def _setting(self, kbps_unit: str) -> str:
        """An image configuration's rate setting: "3k" / "3 kbps" (a bitrate), "q50" or "lossless"."""
        if self.bitrate is not None:
            return f"{num(self.bitrate)}{kbps_unit}"
        return "lossless" if self.quality is None else f"q{num(self.quality)}"


# -- building the run ---------------------------------------------------------------------------
def find_inputs(paths: Iterable[str | os.PathLike], exclude: Path | None = None) -> list[Path]:
    """Audio files named, and audio files found (recursively) in folders named (``exclude``: a
    folder not to look in, the output). The CSV keys rows by file stem: stems must be unique."""
    from .batch import find_audio

    found = [path for path, _ in find_audio(paths, exclude)]
    if not found:
        raise InputError("no audio files in the inputs given")
    stems = [p.stem for p in found]
    clash = sorted({s for s in stems if stems.count(s) > 1})
    if clash:
        raise InputError(f"several inputs are named {', '.join(clash)}; the CSV keys rows by file name, rename one")
    return found


def image_configs(codecs: Iterable[str], bits: Iterable[int], qualities: Iterable[float] | None,
                  vocoders: Iterable[str], ranges: Iterable[str] = ("adaptive",),
                  bitrates: Iterable[float] | None = None) -> list[Config]:
    """codecs × bits × ranges × (bitrates, or qualities when no bitrates are given) × vocoders,
    leaving out the bit depths a codec cannot store (noted on stderr); a codec with no lossy mode
    gets one lossless configuration."""
    from ..core.ratecontrol import check_bitrate

    bitrates = list(bitrates or [])
    for kbps in bitrates:
        check_bitrate(kbps)
    from ..core.registry import Registry

    registry = Registry.default()
    configs = []
    for codec in codecs:
        cls = registry.get_class("codec", codec)
        for depth in bits:
            if depth not in cls.bit_depths:
                print(f"bench: {codec} stores {','.join(map(str, cls.bit_depths))}-bit images; skipping {depth}-bit", file=sys.stderr)
                continue
            for mode in ranges:
                if bitrates and cls.lossy:
                    configs += [Config("image", codec, depth, mode, None, voc, bitrate=kbps) for kbps in bitrates for voc in vocoders]
                    continue
                for quality in (list(qualities or []) if cls.lossy else [None]):
                    configs += [Config("image", codec, depth, mode, quality, voc) for voc in vocoders]
    return configs


def opus_configs(rates: Iterable[float]) -> list[Config]:
    """Opus at each bitrate (kbps); none, with a note, when opusenc/opusdec are missing."""
    rates = list(rates)
    missing = [tool for tool in OPUS_TOOLS if shutil.which(tool) is None]
    if rates and missing:
        print(f"bench: {' and '.join(missing)} not found: Opus is skipped (install it: apt-get install opus-tools)", file=sys.stderr)
        return []
    return [Config("opus", kbps=float(rate)) for rate in rates]



def run(args) -> int:
    """The CLI subcommand: build the configurations from the arguments and measure them."""
    from .args import number_list, split_list

    ranges = split_list(args.range)
    if not ranges or set(ranges) - {"adaptive", "fixed"}:
        raise InputError(f"--range takes adaptive, fixed or both (comma-separated), not '{args.range}'")
    say = (lambda note: None) if getattr(args, "quiet", False) else (lambda note: print(f"bench: {note}", file=sys.stderr))
    vocoders = [vocoder_name(v, say) for v in split_list(args.vocoder)]
    if args.quality is not None and getattr(args, "bitrate", None) is not None:
        raise InputError("--bitrate and --quality are exclusive: give target bitrates or qualities")
    bitrates = None if args.quality is not None else number_list(getattr(args, "bitrate", None) or DEFAULT_BITRATES, "bitrate")
    configs = image_configs(split_list(args.codec), number_list(args.bits, "bits", int),
                            number_list(args.quality, "quality") if args.quality is not None else None, vocoders, ranges,
                            bitrates)
    configs += [Config("copy", vocoder=v) for v in vocoders if v != "none"]
    if str(args.opus).strip().lower() != "none":
        configs += opus_configs(number_list(args.opus, "opus"))
    if getattr(args, "verbose", False):  # -v: what will run
        print(f"bench: {len(configs)} configuration(s): {', '.join(c.label for c in configs)}", file=sys.stderr)
    from .engines import open_engine

    engine = None if getattr(args, "engine", "local") == "local" else open_engine(args, 0, args.device)
    failures = run_bench(find_inputs(args.inputs, Path(args.output)), configs, Path(args.output), device=args.device,
                         force=args.force, cli_timing=not args.no_cli, keep_files=True, engine=engine,
                         quiet=getattr(args, "quiet", False))
    return 1 if failures else 0


# -- measuring ----------------------------------------------------------------------------------
@dataclass
class Reference:
    """An input as every configuration sees it: 16 kHz float32 with the input's channels as a WAV
    file (what spectrocodec and opusenc encode, every channel kept), its mono downmix (what PESQ,
    STOI and copy synthesis use) and the downmix's features; for several channels, each channel's
    features too (distortions are then the mean over the channels)."""

    name: str
    wav: Path
    samples: Any  # float32 (samples,), the downmix
    features: Any  # float32 (frames, 80), of the downmix
    channel_features: Any = None  # float32 (channels, frames, 80) for a multichannel input, else None

    @property
    def channels(self) -> int:
        return 1 if self.channel_features is None else len(self.channel_features)

    @property
    def duration(self) -> float:
        return len(self.samples) / RATE


def make_reference(source: Path, workdir: Path, extractor) -> Reference:
    """Read ``source``, resample to 16 kHz, write it as a float WAV (what opusenc and spectrocodec
    encode), and extract the features of its downmix and, with several channels, of each channel."""
    import numpy as np
    import soundfile as sf

    from ..core.audio import read_audio, resample, to_mono

    audio, rate = read_audio(source)
    if audio.shape[0] == 0:
        raise InputError(f"{source.name} holds no samples; there is nothing to measure")
    audio = resample(audio, rate, RATE)
    wav = workdir / f"{source.stem}.ref.wav"
    sf.write(str(wav), audio, RATE, subtype="FLOAT")
    audio, _ = sf.read(str(wav), dtype="float32", always_2d=True)
    samples = to_mono(audio)
    per_channel = None if audio.shape[1] == 1 else np.stack([extractor.extract(audio[:, c], RATE) for c in range(audio.shape[1])])
    return Reference(source.stem, wav, samples, extractor.extract(samples, RATE), per_channel)


def end_to_end(ref: Reference, output, extractor) -> dict[str, float | None]:
    """PESQ-WB, STOI (of the downmix) and re-analysed mel distortion (of each channel, when the
    output has the reference's channels) of a 16 kHz output (samples,) or (samples, channels)."""
    import numpy as np

    from . import metrics
    from ..core.audio import to_mono
    from ..core.pipeline import fit_length

    if np.ndim(output) == 2 and ref.channel_features is not None and output.shape[1] == ref.channels:
        heard = np.stack([extractor.extract(output[:, c], RATE) for c in range(ref.channels)])
        distortion = metrics.mel_distortion_db(ref.channel_features, heard)
    else:
        output = to_mono(output)
        distortion = metrics.mel_distortion_db(ref.features, extractor.extract(output, RATE))
    output = fit_length(to_mono(output), len(ref.samples))
    return {"pesq_wb": metrics.pesq_wb(ref.samples, output, RATE), "stoi": metrics.stoi(ref.samples, output, RATE),
            "output_mel_db": distortion}


def _timed(func, *args, **kwargs) -> tuple[Any, float]:
    start = time.perf_counter()
    result = func(*args, **kwargs)
    return result, time.perf_counter() - start


def _process(command: list[str]) -> float:
    """Run a command to completion; its wall time in seconds. RuntimeError with its stderr if it fails."""
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        detail = " ".join((done.stderr or done.stdout).split())[-300:]
        raise RuntimeError(f"{Path(command[0]).name} {' '.join(command[1:3])} failed ({done.returncode}): {detail}")
    return seconds


def _spectrocodec(*args: str) -> list[str]:
    return [sys.executable, "-m", "spectrocodec", *args]


def measure_image(config: Config, ref: Reference, workdir: Path, extractor, device: str, cli_timing: bool,
                  keep: Path | None) -> dict[str, Any]:
    from ..core import api

    codec = api.make_codec(config.codec, config.quality)
    data, encode_s = _timed(api.encode, ref.wav, codec=config.codec, quality=config.quality,
                            bits=config.bits, range=config.range, bitrate=config.bitrate)
    stem = config.key.replace("/", "_")
    image = (keep or workdir) / f"{ref.name}.{stem}{codec.extension}"
    image.write_bytes(data)
    row: dict[str, Any] = {"bytes": len(data), "encode_s": encode_s, **container_split(data),
                           "feature_mel_db": _image_distortion(ref, api.read_features(data).features)}
    if config.bitrate is not None:
        row["quality"] = api.info(data)["quality"]  # the rate control's choice
    if config.vocoder != "none":
        (output, _), row["decode_s"] = _timed(api.decode, data, vocoder=config.vocoder, device=device)
        row.update(end_to_end(ref, output, extractor))
    if cli_timing:
        cli_image = workdir / f"cli{codec.extension}"
        encode = ["encode", str(ref.wav), "-o", str(cli_image), "--codec", config.codec, "--bits", str(config.bits),
                  "--range", config.range, "-f", "-q"]
        encode += (["--bitrate", num(config.bitrate)] if config.bitrate is not None else
                   ["--quality", num(config.quality)] if config.quality is not None else ["--lossless"])
        row["cli_encode_s"] = _process(_spectrocodec(*encode))
        if config.vocoder != "none":
            row["cli_decode_s"] = _process(_spectrocodec("decode", str(cli_image), "-o", str(workdir / "cli.wav"),
                                                         "--vocoder", config.vocoder, "--device", device, "-f", "-q"))
    return row


def _image_distortion(ref: Reference, features) -> float:
    """Feature distortion of what an image holds against the reference (per channel when both have them)."""
    import numpy as np

    from . import metrics

    if ref.channel_features is not None and np.ndim(features) == 3:
        return metrics.mel_distortion_db(ref.channel_features, features)
    return metrics.mel_distortion_db(ref.features, features if np.ndim(features) == 2 else np.mean(features, axis=0))


def measure_copy(config: Config, ref: Reference, extractor, device: str) -> dict[str, Any]:
    from ..core import api

    vocoder, _ = api.make_vocoder(config.vocoder, extractor.name, device)
    output, decode_s = _timed(vocoder.vocode, ref.features)
    return {"decode_s": decode_s, **end_to_end(ref, output, extractor)}


def measure_opus(config: Config, ref: Reference, workdir: Path, extractor) -> dict[str, Any]:
    import soundfile as sf

    encoded, decoded = workdir / f"{ref.name}.opus", workdir / f"{ref.name}.opus.wav"
    encode_s = _process(["opusenc", "--quiet", "--bitrate", num(config.kbps), str(ref.wav), str(encoded)])
    decode_s = _process(["opusdec", "--quiet", "--rate", str(RATE), str(encoded), str(decoded)])
    data = encoded.read_bytes()
    output, rate = sf.read(str(decoded), dtype="float32", always_2d=True)
    if rate != RATE:
        raise RuntimeError(f"opusdec wrote {rate} Hz, not {RATE}")
    return {"bytes": len(data), "cli_encode_s": encode_s, "cli_decode_s": decode_s, **container_split(data),
            **end_to_end(ref, output, extractor)}


def container_split(data: bytes) -> dict[str, int]:
    """Where the bytes of a file go: payload_bytes (the codec bitstream, e.g. ``mdat`` of AVIF/HEIC,
    ``VP8``/``VP8L`` of WebP; the audio packets of Opus), metadata_bytes (the whole spectrocodec box
    or chunk, header included / the OpusTags packet) and container_bytes (everything else); image
    files are measured by their codec (ImageCodec.split_container); {} for a format not measured."""
    if data[:4] == b"OggS":
        headers, packets = _ogg_packets(data)
        if len(packets) < 2:
            return {}
        return {"payload_bytes": sum(packets[2:]), "metadata_bytes": packets[1],
                "container_bytes": headers + packets[0]}
    from ..core.errors import SpectrocodecError
    from ..core.registry import Registry

    try:
        split = Registry.default().codec_for_bytes(data).split_container(data)
    except SpectrocodecError:  # not an image a codec here reads, or damaged
        return {}
    if split is None:
        return {}
    return dict(zip(("payload_bytes", "metadata_bytes", "container_bytes"), split))


def _ogg_packets(data: bytes) -> tuple[int, list[int]]:
    """(total bytes of Ogg page headers, size of each packet) of an Ogg stream."""
    pos = headers = current = 0
    packets = []
    while pos + 27 <= len(data) and data[pos:pos + 4] == b"OggS":
        count = data[pos + 26]
        lacing = data[pos + 27:pos + 27 + count]
        headers += 27 + count
        for value in lacing:
            current += value
            if value < 255:
                packets.append(current)
                current = 0
        pos += 27 + count + sum(lacing)
    return headers, packets


def measure(config: Config, ref: Reference, workdir: Path, extractor, device: str, cli_timing: bool,
            keep: Path | None) -> dict[str, Any]:
    """One row: the configuration's fields, the measurements, and times real time from the seconds."""
    if config.kind == "image":
        values = measure_image(config, ref, workdir, extractor, device, cli_timing, keep)
    elif config.kind == "copy":
        values = measure_copy(config, ref, extractor, device)
    else:
        values = measure_opus(config, ref, workdir, extractor)
    row = {"input": ref.name, "config": config.key, "family": config.family, "kind": config.kind,
           "codec": config.codec or ("opus" if config.kind == "opus" else ""),
           "bits": config.bits or "", "range": config.range if config.kind == "image" else "",
           "quality": "" if config.quality is None else config.quality,
           "target_kbps": "" if config.bitrate is None else config.bitrate,
           "vocoder": "" if config.kind == "opus" else config.vocoder,
           "opus_kbps": config.kbps or "", "duration_s": ref.duration, "channels": ref.channels, **values}
    if "bytes" in row:
        row["kbps"] = row["bytes"] * 8 / ref.duration / 1000
    for step in ("encode", "decode", "cli_encode", "cli_decode"):
        if row.get(f"{step}_s"):
            row[f"{step}_xrt"] = ref.duration / row[f"{step}_s"]
    return row


# -- the run --------------------------------------------------------------------------------------
def read_csv(path: Path) -> list[dict[str, Any]]:
    """Rows of a bench CSV with the numbers as floats (blank → None)."""
    if not path.exists():
        return []
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        for column in METRICS + ["bits", "quality", "opus_kbps", "target_kbps"]:
            row[column] = float(row[column]) if row.get(column) not in (None, "") else None
    return rows


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """All rows, atomically (a run killed at any moment leaves the previous CSV)."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _cell(row.get(k)) for k in COLUMNS})
    os.replace(tmp, path)


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else (f"{value:g}" if value.is_integer() else f"{value:.6g}")
    return value


def run_bench(inputs: list[Path], configs: list[Config], outdir: Path, device: str = "auto", force: bool = False,
              cli_timing: bool = True, keep_files: bool = False, title: str = "rd", engine=None,
              quiet: bool = False) -> int:
    """Measure every input × configuration not yet in OUTDIR/<title>.csv (all with force), then
    write the CSV, the Markdown summary and the plot. Returns the number of measurements that failed.
    ``engine`` (an apps.engines Engine, e.g. --engine ray): the measurements run there, several at
    once (each worker's timings then share the machine with the others); None: here, one by one."""
    from ..core.registry import Registry

    outdir.mkdir(parents=True, exist_ok=True)
    csv_path = outdir / f"{title}.csv"
    rows = {(r["input"], r["config"]): r for r in read_csv(csv_path)}
    todo = [(path, config) for path in inputs for config in configs
            if force or (path.stem, config.key) not in rows]
    skipped = len(inputs) * len(configs) - len(todo)
    if skipped and not quiet:
        print(f"bench: {skipped} measurements already in {csv_path} (use --force to redo them)", file=sys.stderr)
    keep = outdir / "files" if keep_files else None
    if keep:
        keep.mkdir(exist_ok=True)
    extractor = Registry.default().create("feature", "speecht5")
    here, failures, start = todo, 0, time.monotonic()
    if engine is not None:
        here, failures = [], measure_on(engine, todo, rows, csv_path, device, cli_timing, keep)
    warm_up({config.vocoder for _, config in here if config.kind != "opus"} - {"none"}, extractor, device)
    refs: dict = {}
    with tempfile.TemporaryDirectory(prefix="spectrocodec-bench-") as tmp:
        workdir = Path(tmp)
        for done, (path, config) in enumerate(here):
            elapsed = time.monotonic() - start
            eta = f", {format_duration(elapsed / done * (len(todo) - done))} left" if done else ""
            if not quiet:
                print(f"[{done + 1}/{len(todo)}] {config.label} · {path.stem}  ({format_duration(elapsed)}{eta})",
                      file=sys.stderr, flush=True)
            try:
                if path not in refs:
                    refs[path] = make_reference(path, workdir, extractor)
                row = measure(config, refs[path], workdir, extractor, device, cli_timing, keep)
            except Exception as exc:  # one failed measurement must not lose the others
                failures += 1
                print(f"bench: failed: {config.label} · {path.stem}: {type(exc).__name__}: {' '.join(str(exc).split())}",
                      file=sys.stderr)
                continue
            rows[(row["input"], row["config"])] = row
            write_csv(csv_path, list(rows.values()))
    all_rows = read_csv(csv_path)
    summary = summarise(all_rows)
    (outdir / f"{title}.md").write_text(markdown(summary, all_rows))
    if summary:
        plot(summary, outdir / f"{title}.png")
    if not quiet or failures:
        print(f"bench: {len(todo) - failures} measured, {failures} failed, in {format_duration(time.monotonic() - start)}; "
              f"wrote {csv_path}, {outdir / f'{title}.md'}" + (f", {outdir / f'{title}.png'}" if summary else ""),
              file=sys.stderr)
    return failures


def measure_on(engine, todo: list[tuple[Path, Config]], rows: dict, csv_path: Path, device: str, cli_timing: bool,
               keep: Path | None) -> int:
    """Run the measurements of ``todo`` on ``engine`` (measure_task each), adding each row to
    ``rows`` and the CSV as it arrives; the number that failed."""
    from .progress import Progress

    tasks = [(str(path), config, device, cli_timing, None if keep is None else str(keep)) for path, config in todo]
    bar, failures = Progress(len(tasks), label="bench", unit="runs"), 0
    for (source, config, *_), result in engine.run(measure_task, tasks, "vocoder"):
        bar.advance()
        if not result["ok"]:
            failures += 1
            bar.write(f"bench: failed: {config.label} · {Path(source).stem}: {result['error']}")
            continue
        rows[(result["row"]["input"], result["row"]["config"])] = result["row"]
        write_csv(csv_path, list(rows.values()))
    bar.close(f"bench: {len(tasks) - failures} measured on {engine.describe() or engine.name}")
    return failures


_WARM: set = set()


def measure_task(source: str, config: Config, device: str, cli_timing: bool, keep: str | None) -> dict:
    """One measurement in a worker (an engine task; never raises): {"ok": True, "row": ...}. The
    vocoder is warmed up once per worker, as run_bench does once per run."""
    from ..core.registry import Registry
    from .batch import guarded

    def task() -> dict:
        extractor = Registry.default().create("feature", "speecht5")
        vocoders = {config.vocoder} - {"none", None} - _WARM if config.kind != "opus" else set()
        warm_up(vocoders, extractor, device)
        _WARM.update(vocoders)
        with tempfile.TemporaryDirectory(prefix="spectrocodec-bench-") as tmp:
            ref = make_reference(Path(source), Path(tmp), extractor)
            row = measure(config, ref, Path(tmp), extractor, device, cli_timing, None if keep is None else Path(keep))
        return {"ok": True, "row": row}

    return guarded(task)()


def warm_up(vocoders: Iterable[str], extractor, device: str) -> None:
    """Run each vocoder once on a few frames, so that in-process timings do not include importing
    torch or loading weights (the CLI timings include them: a process starts cold)."""
    import numpy as np

    from ..core import api

    for name in vocoders:
        vocoder, _ = api.make_vocoder(name, extractor.name, device)
        vocoder.vocode(np.full((16, extractor.n_bins), -5.0, np.float32))


# -- summarising ----------------------------------------------------------------------------------
def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per configuration: every metric averaged over the inputs that have it, ``n`` inputs;
    sorted by family (Opus first, then copy synthesis) and bitrate."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row["config"], []).append(row)
    out = []
    for key, group in groups.items():
        first = group[0]
        summary = {k: first.get(k) for k in ("config", "family", "kind", "codec", "bits", "range", "quality", "vocoder", "opus_kbps", "target_kbps")}
        summary["n"] = len(group)
        for column in METRICS:
            values = [r[column] for r in group if r.get(column) is not None]
            summary[column] = sum(values) / len(values) if values else None
        out.append(summary)
    order = {"opus": 0, "copy": 1, "image": 2}
    return sorted(out, key=lambda s: (order.get(s["kind"], 3), s["codec"], s["bits"] or 0, s["range"], s["vocoder"],
                                      s["kbps"] or 0, s["quality"] or 0))


def families(summary: list[dict[str, Any]], kind: str = "image") -> dict[str, list[dict[str, Any]]]:
    """Summary rows of one kind grouped by family, each sorted by bitrate."""
    out: dict[str, list[dict[str, Any]]] = {}
    for row in summary:
        if row["kind"] == kind:
            out.setdefault(row["family"], []).append(row)
    return {family: sorted(points, key=lambda r: r["kbps"] or 0) for family, points in out.items()}


def rate_to_match(points: list[dict[str, Any]], metric: str, target: float) -> float | None:
    """The lowest bitrate at which a family's (kbps, metric) curve reaches ``target``, linearly
    interpolated between measured points; None if it never does."""
    previous = None
    for point in points:
        value, kbps = point.get(metric), point.get("kbps")
        if value is None or kbps is None:
            continue
        if value >= target:
            if previous is None or previous[1] >= target:
                return kbps
            (k0, v0), (k1, v1) = previous, (kbps, value)
            return k0 + (target - v0) * (k1 - k0) / (v1 - v0)
        previous = (kbps, value)
    return None


def markdown(summary: list[dict[str, Any]], rows: list[dict[str, Any]]) -> str:
    """The averaged table and the answers derived from it, as Markdown."""
    inputs = sorted({r["input"] for r in rows})
    lines = [f"# Rate–distortion and speed ({len(inputs)} input(s): {', '.join(inputs)})", "",
             "Averages over the inputs. kbps: the whole file. feature dB: mel distortion of the decoded "
             "image's features (before any vocoder); PESQ-WB, STOI, output dB: the vocoded output (end to end). "
             "×RT: times real time, in-process API calls and whole CLI processes (start-up included); "
             "Opus is always timed as opusenc/opusdec processes.", "",
             "| configuration | kbps | feature dB | PESQ-WB | STOI | output dB | enc ×RT | dec ×RT | CLI enc ×RT | CLI dec ×RT | n |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for s in summary:
        lines.append(f"| {s['config']} | {fixed(s['kbps'])} | {fixed(s['feature_mel_db'])} | {fixed(s['pesq_wb'])} | "
                     f"{fixed(s['stoi'], 3)} | {fixed(s['output_mel_db'])} | {fixed(s['encode_xrt'], 0)} | "
                     f"{fixed(s['decode_xrt'], 0)} | {fixed(s['cli_encode_xrt'], 0)} | {fixed(s['cli_decode_xrt'], 0)} | {s['n']} |")
    lines += ["", *answers(summary)]
    if len(inputs) > 1:  # averages can hide a file where a configuration never gets there
        for name in inputs:
            lines += answers(summarise([r for r in rows if r["input"] == name]), f", {name} only", speed=False)
    return "\n".join(lines) + "\n"


def answers(summary: list[dict[str, Any]], where: str = "", speed: bool = True) -> list[str]:
    """Where each family matches Opus at its lowest bitrate, how far it is from its vocoder's
    ceiling and (``speed``) how fast it is next to opusenc/opusdec; ``where`` ends each heading."""
    out: list[str] = []
    opus = families(summary, "opus").get("opus", [])
    image = {f: p for f, p in families(summary).items() if any(r["pesq_wb"] is not None for r in p)}
    if opus and image:
        low = opus[0]
        out += [f"## Bitrate to match Opus at {fixed(low['opus_kbps'], 0)} kbps "
                f"(PESQ-WB {fixed(low['pesq_wb'])}, STOI {fixed(low['stoi'], 3)}, file {fixed(low['kbps'])} kbps){where}", "",
                "| configuration family | kbps for its PESQ-WB | kbps for its STOI | best PESQ-WB (at kbps) | best STOI (at kbps) |",
                "| --- | ---: | ---: | ---: | ---: |"]
        for family, points in image.items():
            cells = []
            for metric in ("pesq_wb", "stoi"):
                kbps = rate_to_match(points, metric, low[metric]) if low[metric] is not None else None
                cells.append(fixed(kbps) if kbps is not None else "not reached")
            best = [max((p for p in points if p[m] is not None), key=lambda p: p[m]) for m in ("pesq_wb", "stoi")]
            out.append(f"| {family} | {cells[0]} | {cells[1]} | {fixed(best[0]['pesq_wb'])} ({fixed(best[0]['kbps'])}) | "
                       f"{fixed(best[1]['stoi'], 3)} ({fixed(best[1]['kbps'])}) |")
        out.append("")
    ceilings = {r["vocoder"]: r for r in summary if r["kind"] == "copy"}
    if ceilings and image:
        out += [f"## Distance from the vocoder's ceiling (copy synthesis: the original's features, no image codec){where}", "",
                "| configuration family | ceiling PESQ-WB / STOI | best PESQ-WB / STOI | gap PESQ-WB / STOI | kbps within 0.1 PESQ / 0.01 STOI of the ceiling |",
                "| --- | ---: | ---: | ---: | ---: |"]
        for family, points in image.items():
            ceiling = ceilings.get(points[0]["vocoder"])
            if ceiling is None or ceiling["pesq_wb"] is None or ceiling["stoi"] is None:
                continue
            best_p = max((p["pesq_wb"] for p in points if p["pesq_wb"] is not None), default=None)
            best_s = max((p["stoi"] for p in points if p["stoi"] is not None), default=None)
            if best_p is None or best_s is None:  # too short to measure (a 0.3 s file: no STOI)
                continue
            near_p = rate_to_match(points, "pesq_wb", ceiling["pesq_wb"] - 0.1)
            near_s = rate_to_match(points, "stoi", ceiling["stoi"] - 0.01)
            out.append(f"| {family} | {fixed(ceiling['pesq_wb'])} / {fixed(ceiling['stoi'], 3)} | {fixed(best_p)} / {fixed(best_s, 3)} | "
                       f"{fixed(ceiling['pesq_wb'] - best_p)} / {fixed(ceiling['stoi'] - best_s, 3)} | "
                       f"{fixed(near_p) if near_p else 'not reached'} / {fixed(near_s) if near_s else 'not reached'} |")
        out.append("")
    if opus and speed:
        enc = [r["cli_encode_xrt"] for r in opus if r["cli_encode_xrt"]]
        dec = [r["cli_decode_xrt"] for r in opus if r["cli_decode_xrt"]]
        if enc and dec:
            enc_x, dec_x = sum(enc) / len(enc), sum(dec) / len(dec)
            out += ["## Speed relative to opusenc/opusdec on the same files", "",
                    f"opusenc {enc_x:.0f}× real time, opusdec {dec_x:.0f}× real time (whole processes, averaged over its bitrates).", "",
                    "| configuration family | encode in-process / CLI, × opusenc | decode in-process / CLI, × opusdec |",
                    "| --- | ---: | ---: |"]
            for family, points in families(summary).items():
                cells = []
                for step, ref in (("encode", enc_x), ("decode", dec_x)):
                    values = [_mean([p[f"{step}_xrt"] for p in points]), _mean([p[f"cli_{step}_xrt"] for p in points])]
                    cells.append(" / ".join(fixed(v / ref, 3) if v else "–" for v in values))
                out.append(f"| {family} | {cells[0]} | {cells[1]} |")
            out.append("")
    return out


def _mean(values: list[Any]) -> float | None:
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def plot(summary: list[dict[str, Any]], path: Path) -> None:
    """PESQ-WB, STOI, feature distortion and output distortion against kbps: one line per family,
    Opus in black; colour: codec (family when one codec), marker: bit depth, dashed: fixed range; each vocoder's
    copy-synthesis ceiling a dotted horizontal line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("pesq_wb", "PESQ-WB (end to end)"), ("stoi", "STOI (end to end)"),
              ("feature_mel_db", "mel distortion dB, before the vocoder\n(Opus: its output re-analysed)"),
              ("output_mel_db", "mel distortion dB of the output (end to end)")]
    fig, axes = plt.subplots(2, 2, figsize=(13, 9))
    lines = {**families(summary, "opus"), **families(summary)}
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    colour: dict[str, str] = {}  # one colour per codec (per family if only one codec), one marker per bit depth
    by = "codec" if len({r["codec"] for r in summary if r["kind"] == "image"}) > 1 else "family"
    vocoders = sorted({r["vocoder"] for r in summary if r["kind"] == "image"}) or [""]
    ceilings = [r for r in summary if r["kind"] == "copy"]
    rates = [r["kbps"] for r in summary if r["kbps"]] or [1.0]  # only copy-synthesis rows: no bitrate axis to span
    low, high = min(rates), max(rates)
    for ax, (metric, title) in zip(axes.flat, panels):
        for family, points in lines.items():
            column = "output_mel_db" if family == "opus" and metric == "feature_mel_db" else metric
            xy = [(p["kbps"], p[column]) for p in points if p["kbps"] and p[column] is not None]
            if not xy:
                continue
            first = points[0]
            style = dict(color="black", linewidth=2.5, marker="s") if family == "opus" else \
                dict(color=colour.setdefault(first[by], colours[len(colour) % len(colours)]),
                     marker=MARKERS.get(int(first["bits"] or 0), "o"), markersize=4,
                     linestyle="--" if first["range"] == "fixed" else "-",
                     linewidth=1.5 if first["vocoder"] == vocoders[0] else 0.8)
            ax.plot(*zip(*xy), label=family, **style)
        for ceiling in ceilings:
            if metric in ("pesq_wb", "stoi", "output_mel_db") and ceiling[metric] is not None:
                ax.axhline(ceiling[metric], color="grey", linestyle=":", linewidth=1.5,
                           label=f"ceiling: {ceiling['family']}")
        ax.set_xscale("log")
        ax.set_xticks([t for t in (0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128, 256) if low / 1.5 <= t <= high * 1.5])
        ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.set_xlabel("kbps (whole file)")
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    for ax in axes.flat[1:]:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            if label not in labels:
                handles.append(handle)
                labels.append(label)
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.04 + 0.018 * math.ceil(len(labels) / 3), 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
