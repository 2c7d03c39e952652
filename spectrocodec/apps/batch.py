"""Folders: ``spectrocodec encode DIR -o OUT`` and ``spectrocodec decode DIR -o OUT``.

The input tree is mirrored into OUT: ``DIR/a/b.flac`` → ``OUT/a/b.avif`` (encode) and
``DIR/a/b.avif`` → ``OUT/a/b.wav`` (decode).

- Which files: encode takes every file with an audio extension (.wav, .flac, .ogg, .mp3...) and
  any other file soundfile can open; decode takes every file an installed codec recognises by its
  bytes, and every file with a codec's extension (.avif, .webp...). Hidden files and folders
  (name starting with ".") are left out. A file with an audio/image extension that cannot be read
  is a failure, reported; other files are ignored.
- Outputs that exist are skipped (resuming a run) unless --force. Every output is written to a
  temporary file beside it and renamed into place (files.py), so a run killed at any moment leaves
  only complete outputs; temporary files left by a killed run are removed when the next run starts.
- OUT may not be DIR. OUT may be inside DIR (``encode audio -o audio/encoded``): that subtree is
  left out of the scan, so outputs are never taken as inputs.
- One file failing is reported (its path and the one-line reason) and the others go on; the exit
  status is non-zero if any failed.
- Files are processed in parallel by a process pool (``--jobs``, default one per CPU core, one in
  all when a CUDA GPU does the vocoding); each worker keeps its numeric libraries to one thread.
  ``--engine ray`` runs the same tasks on Ray Data instead (engines/ray.py); folders may be fsspec
  URLs (engines/urls.py).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from ..core.errors import InputError, OutputError
from ..core.files import TEMP_PREFIX
from .engines import urls
from .engines.base import failure, guarded  # noqa: F401  (report and the tasks below use them)
from .engines.local import THREAD_VARS, default_jobs, limit_torch_threads, run_tasks  # noqa: F401
from .progress import Progress, format_duration

AUDIO_EXTENSIONS = frozenset(
    ".wav .wave .flac .ogg .oga .opus .mp3 .aif .aiff .aifc .au .snd .caf .w64 .rf64 .voc .sph .nist "
    ".htk .sf .ircam .paf .pvf .sd2 .sds .svx .8svx .xi .avr .mat .mpc .wve".split()
)


# -- finding files ------------------------------------------------------------------------------
def walk(root: Path, exclude: Path | None = None) -> Iterator[Path]:
    """Every regular file under ``root``, sorted, skipping hidden names and the ``exclude`` tree."""
    excluded = exclude.resolve() if exclude is not None else None
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")
                         and (excluded is None or (here / d).resolve() != excluded))
        for d in [d for d in dirs if (here / d).is_symlink()]:  # os.walk does not follow them: say so
            _skipped(here / d, "a symlink to a folder (not followed: links can loop; give its target)")
        for name in sorted(files):
            if not name.startswith("."):
                path = here / name
                if path.is_file():
                    yield path
                else:  # a FIFO, a device, a socket, a broken or looping symlink
                    _skipped(path, _kind(path))


def _kind(path: Path) -> str:
    """What a path that is not a regular file is, in words."""
    import stat

    try:
        mode = path.stat().st_mode
    except (OSError, RuntimeError):
        return "a broken or looping symlink"
    if stat.S_ISFIFO(mode):
        return "a FIFO (give it as the input to read it)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a device or other special file"


def _skipped(path: Path, why: str) -> None:
    from ..core.files import shown

    print(f"spectrocodec: note: skipping {shown(path)}: {why}", file=sys.stderr)


def is_audio(path: Path) -> bool:
    """An audio extension, or a file soundfile can open (content sniffing for odd names)."""
    if path.suffix.lower() in AUDIO_EXTENSIONS:
        return True
    import soundfile as sf

    try:
        sf.info(str(path))
    except Exception:
        return False
    return True


def is_encoded(path: Path) -> bool:
    """A file an installed codec recognises by its bytes, or that has a codec's extension."""
    from ..core.registry import Registry

    registry = Registry.default()
    if path.suffix.lower() in {cls.extension.lower() for cls in registry.classes("codec")}:
        return True
    try:
        with open(path, "rb") as handle:
            head = handle.read(64)
    except OSError:
        return False
    for cls in registry.classes("codec"):
        try:
            if cls.sniff(head):
                return True
        except Exception:
            continue
    return False


def find_audio(paths: Iterable[str | os.PathLike], exclude: Path | None = None) -> list[tuple[Path, Path]]:
    """Files and folders → [(audio file, its path relative to the folder given, or its name)]."""
    found = []
    for item in map(Path, paths):
        if item.is_dir():
            found += [(p, p.relative_to(item)) for p in walk(item, exclude) if is_audio(p)]
        elif item.exists():
            found.append((item, Path(item.name)))
        else:
            raise InputError(f"{item} does not exist")
    return found


def remove_temp_files(root: Path) -> int:
    """Delete our temporary files (``.spectrocodec-*.tmp``) left under ``root`` by a killed run."""
    removed = 0
    if root.is_dir():
        for path in root.rglob(f"{TEMP_PREFIX}*.tmp"):
            try:
                path.unlink()
                removed += 1
            except OSError:
                pass
    return removed


def check_folders(source: Path, output: str | None, command: str) -> tuple[Path, Path | None]:
    """The output folder (created) and the part of the input tree to leave out, or refuse."""
    if not output:
        raise InputError(f"give -o OUTDIR: a folder is {command}d into another folder")
    out = Path(output)
    if out.exists() and not out.is_dir():
        raise OutputError(f"output {out} is a file; give a folder for a folder input")
    if out.resolve() == source.resolve():
        raise OutputError(f"the output folder {out} is the input folder; choose another one (the tree is mirrored into it)")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the folder {out}: {exc.strerror}") from None
    inside = out.resolve().is_relative_to(source.resolve())
    return out, (out if inside else None)


# -- running in parallel: the local engine (engines/local.py) and the task convention (engines/base.py)
_VOCODERS: dict[tuple, Any] = {}


def cached_vocoder(name: str, feature: str, device: str, **params: Any) -> tuple[Any, str]:
    """make_vocoder once per process and settings (models are loaded once per worker)."""
    from ..core import api

    key = (name, feature, device, repr(sorted(params.items())))
    if key not in _VOCODERS:
        _VOCODERS[key] = api.make_vocoder(name, feature, device, **params)
        limit_torch_threads()
    return _VOCODERS[key]


# -- the tasks (module-level so worker processes can import them) --------------------------------
@guarded
def encode_file(source: str, output: str, settings: dict) -> dict:
    import soundfile as sf

    from ..core import api
    from ..core.files import write_bytes

    data = api.encode(source, codec=settings["codec"], bits=settings["bits"], range=settings["range"],
                      bitrate=settings.get("bitrate"), channels=settings.get("channels", "keep"))
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    write_bytes(output, data, force=settings["force"])
    return {"ok": True, "bytes": len(data), "seconds": sf.info(source).duration}


@guarded
def decode_file(source: str, output: str, settings: dict) -> dict:
    from ..core import api
    from ..core.audio import write_wav

    result = api.decode_audio(source, settings["vocoder"], settings["device"], settings["rate"],
                              settings["weights"], make=cached_vocoder, resample_now=False, spool=True,
                              **settings["params"])
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    write_wav(output, result.waveform, result.rate, force=settings["force"], rate_out=result.target)  # resampled block by block
    voc = result.vocoder
    return {"ok": True, "seconds": len(result.waveform) / result.rate, "vocoder": f"{voc.name} on {getattr(voc, 'device_name', settings['device'])}"}


def decode_batch(tasks: list[tuple]) -> list[dict]:
    """``[decode_file(*task) for task in tasks]``, but the spectrograms of files that share a
    vocoder go through ``Vocoder.vocode_batch`` together (a GPU vocoder pads and batches them; its
    outputs equal ``vocode``'s, see hifigan.py): the Ray engine's vocoder actors on a GPU use it.
    Everything else (checks, trimming, resampling, the atomic write, the result dict) is
    ``decode_file`` itself: while it runs, the vocoder's ``vocode`` returns the waveform already
    computed for that file. Never raises; a failing file fails alone."""
    from ..core import api

    groups: dict[int, tuple[Any, list[int], list[Any]]] = {}  # id(vocoder) → (vocoder, task indices, features)
    for index, (source, _, settings) in enumerate(tasks):
        try:
            features = api.read_features(source)
            vocoder, _ = cached_vocoder(settings["vocoder"], features.header.feature["name"], settings["device"],
                                        weights=settings.get("weights"), **settings["params"])  # as decode_file
        except Exception:
            continue  # decode_file below reports this file's error, in its own words
        if features.features.ndim != 2:
            continue  # several channels: Pipeline.vocode batches them itself, in decode_file
        entry = groups.setdefault(id(vocoder), (vocoder, [], []))
        entry[1].append(index)
        entry[2].append(features.features)
    done: dict[int, tuple[Any, Any]] = {}  # task index → (vocoder, waveform)
    for vocoder, indices, features in groups.values():
        try:
            done.update((i, (vocoder, w)) for i, w in zip(indices, vocoder.vocode_batch(features)))
        except Exception:
            pass  # one bad file spoils the batch: these files are vocoded one at a time below
    results = []
    for index, task in enumerate(tasks):
        if index in done:
            with _replay(*done.pop(index)):
                results.append(decode_file(*task))
        else:
            results.append(decode_file(*task))
    return results


@contextlib.contextmanager
def _replay(vocoder: Any, waveform: Any) -> Iterator[None]:
    """Meanwhile ``vocoder.vocode(features)`` returns ``waveform`` (computed by vocode_batch)."""
    vocoder.vocode = lambda features: waveform
    try:
        yield
    finally:
        del vocoder.vocode


# -- the commands -------------------------------------------------------------------------------
def run_encode(args: argparse.Namespace) -> int:
    from ..core import api
    from .args import parse_params

    from ..core.ratecontrol import check_bitrate

    bitrate = getattr(args, "bitrate", None)
    check_bitrate(bitrate, quality=args.quality, lossless=args.lossless)
    codec = api.make_codec(args.codec, args.quality, args.lossless, args.backend,
                           speed=args.speed, container=getattr(args, "container", None), **parse_params(args.param))
    check_bitrate(bitrate, codec)
    codec.check_bits(args.bits)
    settings = {"codec": codec.get_config() | {"backend": codec.backend}, "bits": args.bits,
                "range": args.range, "force": args.force, "channels": getattr(args, "channels", "keep"),
                "bitrate": bitrate}
    if urls.is_url(args.input) or urls.is_url(args.output):  # fsspec URLs: s3://, gs://, file://...
        return _run_urls("encode", encode_file, AUDIO_EXTENSIONS, codec.extension, settings, args, None)
    source = Path(args.input)
    out, exclude = check_folders(source, args.output, "encode")
    inputs = [p for p in walk(source, exclude) if is_audio(p)]
    if not inputs:
        raise InputError(f"no audio files in {source}")
    pairs = [(p, out / p.relative_to(source).with_suffix(codec.extension)) for p in inputs]
    return _run("encode", encode_file, pairs, settings, args, device=None)


def run_decode(args: argparse.Namespace) -> int:
    from ..core import api
    from .args import parse_params, parse_rate

    params = parse_params(args.param)
    if args.vocoder != "auto" or args.vocoder_weights:  # unknown or unavailable: fail before any work
        api.resolve_vocoder(args.vocoder, weights=args.vocoder_weights)
    rate = args.rate if args.rate in ("model", "original") else parse_rate(args.rate)
    settings = {"vocoder": args.vocoder, "weights": args.vocoder_weights, "device": args.device,
                "params": params, "rate": rate, "force": args.force}
    if urls.is_url(args.input) or urls.is_url(args.output):  # fsspec URLs: s3://, gs://, file://...
        from ..core.registry import Registry

        wanted = {cls.extension.lower() for cls in Registry.default().classes("codec")}
        return _run_urls("decode", decode_file, wanted, ".wav", settings, args, args.device)
    source = Path(args.input)
    out, exclude = check_folders(source, args.output, "decode")
    inputs = [p for p in walk(source, exclude) if is_encoded(p)]
    if not inputs:
        raise InputError(f"no encoded images in {source} (no file an installed codec recognises)")
    pairs = [(p, out / p.relative_to(source).with_suffix(".wav")) for p in inputs]
    return _run("decode", decode_file, pairs, settings, args, device=args.device)


def _run_urls(command: str, func: Callable[..., dict], wanted: Iterable[str], suffix: str, settings: dict,
              args: argparse.Namespace, device: str | None) -> int:
    """A folder URL into an output URL (engines/urls.py): the same run, each task's files
    downloaded and uploaded around ``func``."""
    import functools

    pairs, local_out = urls.plan(command, args.input, args.output, wanted, suffix)
    if local_out is not None:
        remove_temp_files(local_out)
    return _run(command, functools.partial(urls.remote_task, func), pairs, settings, args, device)


def _run(command: str, func: Callable[..., dict], pairs: list[tuple[Path, Path]], settings: dict,
         args: argparse.Namespace, device: str | None) -> int:
    out = Path(args.output)
    default_jobs(args.jobs, 0)  # refuse a negative --jobs before any work
    removed = remove_temp_files(out)
    failures: list[tuple[Path, dict]] = []
    tasks, skipped, claimed = [], 0, {}
    for src, dst in pairs:
        key = str(dst).lower() if sys.platform in ("win32", "darwin") else str(dst)
        if key in claimed:  # a.wav and a.flac would both become a.avif
            failures.append((src, failure(f"{dst} is also the output of {claimed[key]}; rename one of them")))
            continue
        claimed[key] = src
        if dst.exists() and not args.force:
            skipped += 1
        else:
            tasks.append((str(src), str(dst), settings))
    from .engines import open_engine
    
    engine = open_engine(args, len(tasks), device)  # --engine local (the pool below) or ray
    bar = Progress(len(tasks), label=command, quiet=args.quiet)
    if removed:
        bar.write(f"removed {removed} temporary file(s) left in {out} by an interrupted run")
    for src, result in failures:
        bar.write(f"failed: {src}: {result['error']}")
    done, total_bytes, total_seconds, vocoders = 0, 0, 0.0, set()
    stage, batched = ("vocoder", decode_batch if func is decode_file else None) if command == "decode" else ("cpu", None)
    for task, result in engine.run(func, tasks, stage, batched):
        bar.advance()
        if result["ok"]:
            done += 1
            total_bytes += result.get("bytes", 0)
            total_seconds += result.get("seconds", 0.0)
            if "vocoder" in result:
                vocoders.add(result["vocoder"])
        else:
            failures.append((Path(task[0]), result))
            bar.write(f"failed: {task[0]}: {result['error']}")
    verb = {"encode": "encoded", "decode": "decoded"}[command]
    parts = [f"{verb} {done} file(s) into {args.output if urls.is_url(args.output) else out} in {format_duration(bar.elapsed)}"]
    if command == "encode" and done and total_seconds:
        parts[0] += f" ({total_bytes / 1000:.1f} kB for {total_seconds:.1f} s of audio, {total_bytes * 8 / total_seconds / 1000:.2f} kbps)"
    if vocoders:
        parts[0] += f" with {', '.join(sorted(vocoders))}"
    if engine.describe():
        parts.append(engine.describe())
    if skipped:
        parts.append(f"{skipped} already done, skipped (--force redoes them)")
    bar.close("; ".join(parts))
    if failures:
        code = max(result["code"] for _, result in failures)
        print(f"spectrocodec: error: {len(failures)} of {len(pairs)} file(s) failed (listed above); the others were {verb}",
              file=sys.stderr)
        return code
    return 0
