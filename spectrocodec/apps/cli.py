"""The ``spectrocodec`` command: encode, decode, info, plugins.

Every failure prints one line ``spectrocodec: error: ...`` and exits non-zero (2 for bad input,
1 for an internal error, 130 when interrupted); set SPECTROCODEC_DEBUG=1 to see a traceback.
Heavy modules (numpy codecs, torch) are imported only by the subcommand that needs them, so
``spectrocodec --help`` is instant.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
from pathlib import Path
from typing import Any, Sequence

from ..core.errors import SpectrocodecError
from . import engines
from .engines import urls as _urls  # noqa: F401  (engines.urls, light)
from .args import Parser, parse_params, parse_rate


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="spectrocodec", description="Compress audio as pictures: audio → log-mel spectrogram → image (AVIF, WebP, JPEG XL, ...) → audio again through a vocoder.")
    parser.add_argument("--version", action="version", version=f"spectrocodec {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    enc = sub.add_parser("encode", help="audio file → image file", description="Encode an audio file (WAV, FLAC, OGG, MP3...) as an image.")
    enc.add_argument("input", help="audio file, '-' for standard input (a pipe or FIFO is read as a stream), or a folder to encode every audio file in it (recursively)")
    enc.add_argument("-o", "--output", help="output image, '-' for standard output (default: INPUT's stem + the codec's extension, beside it); for a folder, the output folder")
    enc.add_argument("--codec", default=None, help="image codec (default: from -o's extension, e.g. .webp → webp, else avif; see 'spectrocodec plugins')")
    enc.add_argument("--backend", help="codec backend, when a codec has several")
    enc.add_argument("--quality", type=float, help="0-100, higher is better (codec default if omitted)")
    enc.add_argument("--bitrate", type=float, metavar="KBPS", help="target bitrate of the whole file in kbps (e.g. 3): the quality is searched to land on it; exclusive with --quality")
    enc.add_argument("--lossless", action="store_true", help="lossless image (where the codec has a lossless mode)")
    enc.add_argument("--bits", type=int, default=None, help="bits per pixel: 8, 10 or 12; up to 16 for jxl, jpeg2000, png (default: 10 where the codec has it, else 8: webp)")
    enc.add_argument("--range", choices=("adaptive", "fixed"), default="adaptive", help="feature range: the file's own min/max (default) or fixed [-11, 4]")
    enc.add_argument("--channels", default="keep", help="keep (default: every channel, 1-8, stored as the file suits; docs/channels.md), mono (downmix), or a layout: planar, midside, copies")
    enc.add_argument("--speed", type=int, help="encoder speed where the codec has one (avif: 0 slowest/best .. 10 fastest; default: by length, 2 for short files .. 6 for long ones)")
    enc.add_argument("--container", choices=("standard", "compact"), help="avif: the file layout: standard (default; every AVIF reader opens it) or compact (the AVIF 1.2 mini header, ~190 bytes smaller; Chromium and spectrocodec read it, most other readers do not yet)")
    enc.add_argument("--param", action="append", metavar="KEY=VALUE", help="other codec parameter (repeatable)")
    enc.add_argument("-f", "--force", action="store_true", help="overwrite an existing output")
    enc.add_argument("-j", "--jobs", type=int, default=0, help="folders: files encoded in parallel (default: one per CPU core)")
    enc.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    enc.add_argument("-v", "--verbose", action="store_true", help="print the resolved settings on stderr")
    engines.add_arguments(enc)

    dec = sub.add_parser("decode", help="image file → WAV", description="Decode an image made by 'spectrocodec encode' (or a plain audio-avif AVIF) to a WAV file.")
    dec.add_argument("input", help="encoded image file (the format is recognised from its bytes), '-' for standard input, or a folder of them")
    dec.add_argument("-o", "--output", help="output audio, format from the extension (.wav, .flac, .ogg, .mp3...), '-' for WAV on standard output (default: INPUT's stem + .decoded.wav, beside it, so that it never collides with the audio it was made from); for a folder, the output folder")
    dec.add_argument("--vocoder", default="auto", help="auto (HiFi-GAN if its weights are available offline, else griffinlim), griffinlim, hifigan, ...")
    dec.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="where the vocoder runs (default auto: CUDA when present)")
    dec.add_argument("--vocoder-weights", metavar="PATH_OR_HUB_ID", help="HiFi-GAN weights: a local directory or hub id")
    dec.add_argument("--param", action="append", metavar="KEY=VALUE", help="other vocoder parameter, e.g. iterations=64 (repeatable)")
    dec.add_argument("--rate", default="model", help="output sample rate: 'model' (the vocoder's, 16000 for speecht5; default), 'original', or Hz")
    dec.add_argument("-f", "--force", action="store_true", help="overwrite an existing output")
    dec.add_argument("-j", "--jobs", type=int, default=0, help="folders: files decoded in parallel (default: one per CPU core)")
    dec.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    dec.add_argument("-v", "--verbose", action="store_true", help="print the vocoder, its settings and the timing on stderr")
    engines.add_arguments(dec)

    inf = sub.add_parser("info", help="what an encoded file holds", description="Show codec, bit depth, range, duration, bitrate and metadata of an encoded file.")
    inf.add_argument("input", help="encoded image file")
    inf.add_argument("--json", action="store_true", help="print JSON")
    inf.add_argument("-q", "--quiet", action="store_true", help="print nothing; the exit status says whether the file is readable")
    inf.add_argument("-v", "--verbose", action="store_true", help="also print the raw metadata fields")

    rep = sub.add_parser("report", help="listening report: encode/decode at several settings, one HTML page", description="Encode and decode files or folders at several configurations and write a self-contained index.html to compare them by ear and eye.")
    rep.add_argument("inputs", nargs="+", metavar="IN", help="audio files and/or folders (recursively)")
    rep.add_argument("-o", "--output", required=True, help="output folder")
    rep.add_argument("--codec", default="avif", help="comma-separated codecs (default avif)")
    rep.add_argument("--bitrate", metavar="KBPS", help="comma-separated target bitrates in kbps of the whole file (default 2,3,6: codecs compared at equal bitrate)")
    rep.add_argument("--quality", help="comma-separated qualities instead of bitrates, e.g. 30,50,70,90")
    rep.add_argument("--bits", default="10", help="comma-separated bit depths (default 10)")
    rep.add_argument("--range", choices=("adaptive", "fixed"), default="adaptive", help="feature range (default adaptive)")
    rep.add_argument("--vocoder", default="auto", help="vocoder (default auto)")
    rep.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="where the vocoder runs")
    rep.add_argument("-j", "--jobs", type=int, default=0, help="work in parallel (default: one per CPU core)")
    rep.add_argument("-f", "--force", action="store_true", help="redo work whose outputs exist")
    rep.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    rep.add_argument("-v", "--verbose", action="store_true", help="list the configurations and settings on stderr before starting")
    engines.add_arguments(rep)

    bch = sub.add_parser("bench", help="rate-distortion and speed benchmark, against Opus", description="Measure bitrate, feature distortion, PESQ-WB, STOI and speed of each configuration on a folder of audio, with Opus measured in the same run.")
    bch.add_argument("inputs", nargs="+", metavar="IN", help="audio files and/or folders (recursively)")
    bch.add_argument("-o", "--output", required=True, help="output folder (CSV, Markdown table, plot)")
    bch.add_argument("--codec", default="avif", help="comma-separated codecs (default avif)")
    bch.add_argument("--bitrate", metavar="KBPS", help="comma-separated target bitrates in kbps of the whole file (default 1,1.5,2,3,4,6: codecs compared at equal bitrate)")
    bch.add_argument("--quality", help="comma-separated qualities instead of bitrates, e.g. 10,30,50,70,90")
    bch.add_argument("--bits", default="10", help="comma-separated bit depths (default 10)")
    bch.add_argument("--range", default="adaptive", help="comma-separated range modes: adaptive, fixed (default adaptive)")
    bch.add_argument("--vocoder", default="auto", help="comma-separated vocoders (default auto)")
    bch.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="where the vocoder runs")
    bch.add_argument("--opus", default="6,8,12,16,24", help="Opus bitrates in kbps, or 'none'")
    bch.add_argument("-f", "--force", action="store_true", help="redo measurements already in the CSV (default: resume)")
    bch.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    bch.add_argument("-v", "--verbose", action="store_true", help="list the configurations on stderr before starting")
    bch.add_argument("--no-cli", action="store_true", help="skip timing whole 'python -m spectrocodec' processes (faster)")
    engines.add_arguments(bch)

    fin = sub.add_parser("finetune", help="fine-tune the HiFi-GAN vocoder on codec-degraded mels (needs [train])", description="Train SpeechT5's HiFi-GAN on mels that went through a real codec round trip, against the original audio; RUN_DIR/vocoder loads with 'decode --vocoder hifigan --vocoder-weights RUN_DIR/vocoder'. Running again with a larger --steps resumes. See docs/finetune.md.")
    fin.add_argument("data", nargs="+", metavar="DATA", help="audio files and/or folders (recursively); a few are held out for validation")
    fin.add_argument("--out", required=True, metavar="RUN_DIR", help="run folder: checkpoint, metrics.csv, samples/, vocoder/")
    fin.add_argument("--steps", type=int, required=True, help="total training steps (a larger number on an existing run resumes it)")
    fin.add_argument("--batch-size", type=int, default=16, help="segments per step (default 16)")
    fin.add_argument("--segment-frames", type=int, default=32, help="frames (16 ms) per training segment (default 32 = 8192 samples)")
    fin.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="where to train (default auto: CUDA when present, with mixed precision)")
    fin.add_argument("--init", metavar="HUB_ID|DIR|random", help="starting weights (default microsoft/speecht5_hifigan when in the local Hugging Face cache, else random)")
    fin.add_argument("--generator", metavar="JSON", help="SpeechT5HifiGanConfig fields for random weights, e.g. '{\"upsample_initial_channel\": 64}'")
    fin.add_argument("--disc-scale", type=float, default=1.0, help="discriminator width multiplier (default 1: HiFi-GAN's)")
    fin.add_argument("--codec", default="avif", help="codec of the round trips (default avif)")
    fin.add_argument("--quality", default="30,70", metavar="LO,HI", help="codec qualities drawn from this range (default 30,70)")
    fin.add_argument("--bitrate", metavar="LO,HI", help="instead of --quality: target bitrates in kbps drawn from this range (rate control)")
    fin.add_argument("--bits", type=int, default=10, help="bits per pixel of the round trips (default 10)")
    fin.add_argument("--variants", type=int, default=4, help="codec round trips per file, cached (default 4)")
    fin.add_argument("--lr", type=float, default=2e-4, help="AdamW learning rate (default 2e-4)")
    fin.add_argument("--checkpoint-every", type=int, default=500, help="steps between checkpoints and exports (default 500)")
    fin.add_argument("--validate-every", type=int, default=1000, help="steps between validations (default 1000)")
    fin.add_argument("--val-files", type=int, default=-1, help="files held out (default: 1 in 20, 1 to 4; none with a single file)")
    fin.add_argument("--workers", type=int, default=0, help="processes for the codec round trips (default: one per CPU core)")
    fin.add_argument("--cache", metavar="DIR", help="where round trips are cached (default RUN_DIR/cache)")
    fin.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    fin.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")

    plg = sub.add_parser("plugins", help="list feature extractors, codecs and vocoders", description="List every installed plugin by kind, with its status and capabilities.")
    plg.add_argument("--json", action="store_true", help="print JSON")
    plg.add_argument("-q", "--quiet", action="store_true", help="print nothing; exit 1 if a plugin is broken")
    plg.add_argument("-v", "--verbose", action="store_true", help="also list each codec's default parameters")
    return parser


def _version() -> str:
    from .. import __version__

    return __version__


def cmd_encode(args: argparse.Namespace) -> int:
    from ..core import api
    from ..core.channels import check_choice
    from ..core.files import check_output, is_stdio, refuse_terminal_output, shown, write_bytes, writes_stdout
    from .options import default_output, resolve_encode, verbose

    check_choice(args.channels)
    source = Path(args.input)
    params = resolve_encode(args)  # --codec from -o's extension, --bits per codec, duplicates refused
    if not is_stdio(args.input) and (source.is_dir() or engines.urls.is_url(args.input)):
        from . import batch

        return batch.run_encode(args)
    from ..core.ratecontrol import check_bitrate

    check_bitrate(args.bitrate, quality=args.quality, lossless=args.lossless)
    codec = api.make_codec(args.codec, args.quality, args.lossless, args.backend,
                           speed=args.speed, container=args.container, **params)
    check_bitrate(args.bitrate, codec)
    output = default_output(args, codec.extension)
    refuse_terminal_output(output)
    check_output(output, args.force, inputs=(source,))
    codec.check_bits(args.bits)
    verbose(args, f"encoding {shown(source)} → {shown(output)}: codec {json.dumps(codec.get_config())}, backend {codec.backend}, {args.bits}-bit, {args.range} range, channels {args.channels}")
    data = api.encode(args.input, codec=codec.get_config() | {"backend": codec.backend}, bits=args.bits, range=args.range,
                      bitrate=args.bitrate, channels=args.channels)
    write_bytes(output, data, force=args.force)
    if not args.quiet:
        details = api.info(data)
        if details["channels"] > 1 and details["layout"] == "mono":
            print(f"spectrocodec: note: {shown(source)} has {details['channels']} channels, downmixed to mono "
                  f"('spectrocodec info' shows the original count)", file=sys.stderr)
        kbps = f"{details['kbps']:.2f} kbps" if details["kbps"] else "n/a kbps"
        chosen = f", quality {details['quality']:g}" if args.bitrate is not None and details["quality"] is not None else ""
        print(f"{shown(output)}: {len(data)} bytes, {details['duration_s']:.2f} s, {kbps} "
              f"({codec.name}, {args.bits}-bit, {args.range} range{channel_note(details)}{chosen})",
              file=sys.stderr if writes_stdout(output) else sys.stdout)
    return 0


def cmd_decode(args: argparse.Namespace) -> int:
    import time

    from ..core import api
    from ..core.audio import write_wav
    from ..core.files import check_output, is_stdio, refuse_terminal_output, shown, writes_stdout
    from ..core.writer import audio_format
    from .options import DECODED_SUFFIX, default_output, note, verbose

    source = Path(args.input)
    if not is_stdio(args.input) and (source.is_dir() or engines.urls.is_url(args.input)):
        from . import batch

        return batch.run_decode(args)
    output = default_output(args, DECODED_SUFFIX)  # never the talk.wav it came from
    refuse_terminal_output(output)
    audio_format(output)  # an extension no audio format has: refused before any work
    check_output(output, args.force, inputs=(source,))
    rate = args.rate if args.rate in ("model", "original") else parse_rate(args.rate)  # refused before any work
    say = None if args.quiet else (lambda text: print(text, file=sys.stderr))
    start = time.monotonic()
    result = api.decode_audio(args.input, args.vocoder, args.device, rate, args.vocoder_weights,
                              on_note=say, resample_now=False, spool=True, **parse_params(args.param))
    voc = result.vocoder
    verbose(args, f"vocoder {json.dumps(voc.get_config(), default=str)}: {len(result.waveform) / result.rate:.2f} s in {time.monotonic() - start:.2f} s")
    if result.legacy:
        note(args, f"{shown(source)} has no spectrocodec metadata: decoded as a plain 8-bit audio-avif spectrogram "
                   f"(fixed range [-11, 4]); if it is an ordinary picture the sound is noise")
    target = result.target or result.rate
    gain = write_wav(output, result.waveform, result.rate, force=args.force, rate_out=target)  # resampled block by block
    if gain != 1.0:
        note(args, f"the decoded audio peaked above full scale; scaled by {gain:.3f} ({20 * math.log10(gain):.1f} dB) instead of clipping")
    if not args.quiet:
        print(f"{shown(output)}: {len(result.waveform) / result.rate:.2f} s at {target} Hz ({voc.name} on {getattr(voc, 'device_name', args.device)})",
              file=sys.stderr if writes_stdout(output) else sys.stdout)
    return 0


LAYOUT_TEXT = {"mono": "downmixed to mono", "planar": "planar (one strip per channel)",
               "midside": "midside (mid strip, then side strip)", "copies": "copies (one strip, every channel the same)"}


def channel_note(details: dict) -> str:
    """", 2 channels midside" for a file that keeps channels, "" for mono."""
    return "" if details["layout"] == "mono" else f", {details['channels']} channels {details['layout']}"


def cmd_info(args: argparse.Namespace) -> int:
    from ..core import api

    from ..core.files import shown

    details = api.info(args.input)
    if args.quiet:
        return 0
    if args.json:
        print(json.dumps(details, indent=2))
        return 0
    kbps = f"{details['kbps']:.2f} kbps" if details["kbps"] else "n/a"
    lines = [
        f"file:        {shown(args.input)}",
        f"codec:       {shown(details['codec'])} ({shown(details['mime'])}, backend {shown(details['backend'])})",
        *([f"container:   {details['container']}"] if details.get("container") else []),
        f"image:       {details['width']} x {details['height']} pixels, {details['bits']}-bit",
        f"range:       [{details['range'][0]:.4f}, {details['range'][1]:.4f}] ({details['range_mode']})",
        f"duration:    {details['duration_s']:.3f} s",
        f"size:        {details['bytes']} bytes, {kbps}" + (f" (encoded at quality {details['quality']:g})" if details.get("quality") is not None else ""),
        f"original:    {details['sample_rate']} Hz, {details['channels']} channel(s), {details['num_samples']} samples",
        f"channels:    {LAYOUT_TEXT.get(details['layout'], details['layout']) if details['channels'] > 1 or details['layout'] != 'mono' else 'mono'}",
        f"features:    {json.dumps(details['feature'])}",
        "metadata:    " + ("none (plain audio-avif image: fixed range, 8-bit assumed)" if details["legacy"] else f"spectrocodec format version {details['format_version']}"),
    ]
    if getattr(args, "verbose", False):
        lines.append("raw:         " + json.dumps({k: details[k] for k in sorted(details)}))
    print("\n".join(lines))
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    from ..core.registry import Registry

    registry = Registry.default()
    rows: dict[str, list[dict[str, Any]]] = {}
    for kind in ("feature", "codec", "vocoder"):
        for cls in registry.classes(kind):
            reason = cls.unavailable()
            row: dict[str, Any] = {"name": cls.name, "plugin": registry.plugin_of.get(cls, ""),
                                   "status": "ok" if reason is None else f"unavailable: {reason}"}
            if kind == "codec":
                row.update(backend=cls.backend, preference=cls.preference, extension=cls.extension, mime=cls.mime,
                           bits=list(cls.bit_depths), lossy=cls.lossy, lossless=cls.lossless,
                           quality=list(cls.quality_range), defaults=dict(cls.defaults))
            elif kind == "vocoder":
                row.update(accepts=list(cls.accepts), devices=list(cls.devices), priority=cls.priority)
            elif kind == "feature":
                row.update(sample_rate=cls.sample_rate, hop=cls.hop_length, bins=cls.n_bins)
            rows.setdefault(kind, []).append(row)
    broken = [{"name": b.name, "source": b.source, "status": f"broken: {b.reason}"} for b in registry.broken]
    if args.quiet:
        return 1 if broken else 0
    if args.json:
        print(json.dumps({**rows, "broken": broken}, indent=2))
        return 0
    titles = {"feature": "Feature extractors", "codec": "Image codecs", "vocoder": "Vocoders"}
    for kind, title in titles.items():
        print(f"{title}:")
        for row in rows.get(kind, []):
            if kind == "codec":
                modes = "/".join(m for m, ok in (("lossy", row["lossy"]), ("lossless", row["lossless"])) if ok)
                bits = row["bits"]
                depths = f"{bits[0]}-{bits[-1]}" if len(bits) > 2 and bits == list(range(bits[0], bits[-1] + 1)) else ",".join(map(str, bits))
                quality = f"quality {row['quality'][0]}-{row['quality'][1]} (default {row['defaults'].get('quality')})" if row["lossy"] else "no quality setting"
                caps = f"{row['extension']:6} {depths}-bit, {modes}, {quality}, backend {row['backend']}"
            elif kind == "vocoder":
                caps = f"features {','.join(row['accepts'])}; devices {','.join(row['devices'])}"
            else:
                caps = f"{row['sample_rate']} Hz, hop {row['hop']}, {row['bins']} bins"
            status, _, reason = row["status"].partition(": ")  # a long reason goes on its own line: the table stays a table
            print(f"  {row['name']:12} {status:11} {caps}")
            if reason:
                print(f"  {'':12} {'':11} └ {_wrap(reason, 27)}")
            if getattr(args, "verbose", False) and kind == "codec":
                print(f"  {'':12} {'':11} └ defaults {json.dumps(row['defaults'])}")
        if not rows.get(kind):
            print("  (none)")
    if broken:
        print("Broken plugins:")
        for row in broken:
            print(f"  {row['name']:12} broken      ({row['source']})")
            print(f"  {'':12} {'':11} └ {_wrap(row['status'].partition(': ')[2], 27)}")
    return 0


def _wrap(text: str, indent: int) -> str:
    """Wrap a long detail to the terminal width, continuation lines indented by ``indent``."""
    import shutil
    import textwrap

    width = max(60, shutil.get_terminal_size((100, 24)).columns) - indent - 2
    return ("\n" + " " * (indent + 2)).join(textwrap.wrap(" ".join(text.split()), width) or [""])


def cmd_report(args: argparse.Namespace) -> int:
    from . import report

    return report.run(args)


def cmd_bench(args: argparse.Namespace) -> int:
    from . import bench

    return bench.run(args)


def cmd_finetune(args: argparse.Namespace) -> int:
    from . import finetune

    return finetune.run(args)


COMMANDS = {"encode": cmd_encode, "decode": cmd_decode, "info": cmd_info, "plugins": cmd_plugins,
            "report": cmd_report, "bench": cmd_bench, "finetune": cmd_finetune}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:  # no arguments: usage on stderr, exit 2 (as a usage error)
        parser.print_usage(sys.stderr)
        print("spectrocodec: error: give a command (encode, decode, info, report, bench, plugins); see spectrocodec --help", file=sys.stderr)
        return 2
    from ..core.files import shown

    try:
        return COMMANDS[args.command](args)
    except SpectrocodecError as exc:
        print(f"spectrocodec: error: {shown(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # '| head' closed the pipe: not an error worth a line
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except RecursionError:
        print("spectrocodec: error: the input is nested too deeply to read; it is damaged", file=sys.stderr)
        return 2
    except RuntimeError as exc:
        if "out of memory" not in str(exc).lower():
            if os.environ.get("SPECTROCODEC_DEBUG"):
                raise
            detail = shown(" ".join(str(exc).split()))
            print(f"spectrocodec: internal error: {type(exc).__name__}: {detail} (set SPECTROCODEC_DEBUG=1 for a traceback and please report it)", file=sys.stderr)
            return 1
        print("spectrocodec: error: the vocoder ran out of memory; try --device cpu, --param chunk_frames=512, or a shorter file", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("spectrocodec: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print("spectrocodec: error: out of memory; try a shorter file or free memory", file=sys.stderr)
        return 1
    except Exception as exc:  # a bug: still one line unless asked for the traceback
        if os.environ.get("SPECTROCODEC_DEBUG"):
            raise
        detail = shown(" ".join(str(exc).split()))
        print(f"spectrocodec: internal error: {type(exc).__name__}: {detail} (set SPECTROCODEC_DEBUG=1 for a traceback and please report it)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
