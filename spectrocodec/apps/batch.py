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
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from ..core.errors import InputError, OutputError, SpectrocodecError
from ..core.files import TEMP_PREFIX
from .progress import Progress, format_duration

AUDIO_EXTENSIONS = frozenset(
    ".wav .wave .flac .ogg .oga .opus .mp3 .aif .aiff .aifc .au .snd .caf .w64 .rf64 .voc .sph .nist "
    ".htk .sf .ircam .paf .pvf .sd2 .sds .svx .8svx .xi .avr .mat .mpc .wve".split()
)
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


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


# -- running in parallel ------------------------------------------------------------------------
def default_jobs(requested: int | None, tasks: int, device: str | None = None) -> int:
    """--jobs: as asked; by default one per CPU core, or one when a CUDA device does the work."""
    if requested is not None and requested < 0:
        raise InputError(f"--jobs takes a positive number (0 = one per CPU core), not {requested}")
    if requested:
        jobs = requested
    elif device is not None and _cuda(device):
        jobs = 1
    else:
        jobs = os.cpu_count() or 1
    return max(1, min(jobs, tasks))


def _cuda(device: str) -> bool:
    if device == "cpu":
        return False
    if device == "cuda":
        return True
    import glob
    import importlib.util

    if sys.platform == "darwin" or sys.platform.startswith("linux") and not glob.glob("/dev/nvidia[0-9]*"):
        return False  # no CUDA device: do not pay for importing torch to learn that
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


def run_tasks(func: Callable[..., dict], tasks: list[tuple], jobs: int) -> Iterator[tuple[tuple, dict]]:
    """Yield (task, result) as each ``func(*task)`` finishes; in this process when jobs is 1, else
    in a pool of ``jobs`` worker processes. ``func`` returns a dict and never raises (see guarded)."""
    if jobs <= 1:
        for task in tasks:
            yield task, func(*task)
        return
    pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_init_worker, initargs=(os.getpid(), 1))
    try:
        futures = {pool.submit(func, *task): task for task in tasks}
        for future in as_completed(futures):
            try:
                result = future.result()
            except Exception as exc:  # the worker process died (killed, out of memory, a crash)
                result = failure(f"the worker process died ({type(exc).__name__}); out of memory or a crash in a library", 1)
            yield futures[future], result
    except BaseException:
        for process in list(getattr(pool, "_processes", {}).values()):
            process.terminate()  # do not wait for the files in progress (they leave no output)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _init_worker(parent: int, threads: int) -> None:
    """In each worker: one thread for numpy/torch, Ctrl-C handled by the parent, and exit at once
    if the parent dies (killed), so no orphan keeps working."""
    for name in THREAD_VARS:
        os.environ[name] = str(threads)
    os.environ["SPECTROCODEC_THREADS"] = str(threads)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(0.25)
        if os.getppid() != parent:
            os._exit(1)


def limit_torch_threads() -> None:
    """In a worker, keep torch to the thread count the pool gave it (no-op elsewhere)."""
    threads = os.environ.get("SPECTROCODEC_THREADS")
    if threads and "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(int(threads))


def failure(message: str, code: int = 2) -> dict:
    return {"ok": False, "error": " ".join(message.split()), "code": code}


def guarded(func: Callable[..., dict]) -> Callable[..., dict]:
    """Wrap a task so any error comes back as ``failure(...)`` (one line) instead of raising."""
    import functools

    @functools.wraps(func)
    def wrapper(*args: Any) -> dict:
        try:
            return func(*args)
        except SpectrocodecError as exc:
            return failure(str(exc), exc.exit_code)
        except MemoryError:
            return failure("out of memory; try a shorter file or fewer --jobs", 1)
        except Exception as exc:  # a bug: still one line (the traceback too with SPECTROCODEC_DEBUG=1)
            if os.environ.get("SPECTROCODEC_DEBUG"):
                import traceback

                traceback.print_exc()
            return failure(f"internal error: {type(exc).__name__}: {exc} (set SPECTROCODEC_DEBUG=1 for a traceback and please report it)", 1)

    return wrapper


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

    data = api.encode(source, codec=settings["codec"], bits=settings["bits"], range=settings["range"])
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    write_bytes(output, data, force=settings["force"])
    return {"ok": True, "bytes": len(data), "seconds": sf.info(source).duration}


@guarded
def decode_file(source: str, output: str, settings: dict) -> dict:
    from ..core import api
    from ..core.audio import write_wav

    result = api.decode_audio(source, settings["vocoder"], settings["device"], settings["rate"],
                              settings["weights"], make=cached_vocoder, resample_now=False, **settings["params"])
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    write_wav(output, result.waveform, result.rate, force=settings["force"], rate_out=result.target)  # resampled block by block
    voc = result.vocoder
    return {"ok": True, "seconds": len(result.waveform) / result.rate, "vocoder": f"{voc.name} on {getattr(voc, 'device_name', settings['device'])}"}


# -- the commands -------------------------------------------------------------------------------
def run_encode(args: argparse.Namespace) -> int:
    from ..core import api
    from .args import parse_params

    source = Path(args.input)
    out, exclude = check_folders(source, args.output, "encode")
    codec = api.make_codec(args.codec, args.quality, args.lossless, args.backend,
                           speed=args.speed, container=getattr(args, "container", None), **parse_params(args.param))
    codec.check_bits(args.bits)
    settings = {"codec": codec.get_config() | {"backend": codec.backend}, "bits": args.bits,
                "range": args.range, "force": args.force}
    inputs = [p for p in walk(source, exclude) if is_audio(p)]
    if not inputs:
        raise InputError(f"no audio files in {source}")
    pairs = [(p, out / p.relative_to(source).with_suffix(codec.extension)) for p in inputs]
    return _run("encode", encode_file, pairs, settings, args, device=None)


def run_decode(args: argparse.Namespace) -> int:
    from ..core import api
    from .args import parse_params, parse_rate

    source = Path(args.input)
    out, exclude = check_folders(source, args.output, "decode")
    params = parse_params(args.param)
    if args.vocoder != "auto" or args.vocoder_weights:  # unknown or unavailable: fail before any work
        api.resolve_vocoder(args.vocoder, weights=args.vocoder_weights)
    rate = args.rate if args.rate in ("model", "original") else parse_rate(args.rate)
    settings = {"vocoder": args.vocoder, "weights": args.vocoder_weights, "device": args.device,
                "params": params, "rate": rate, "force": args.force}
    inputs = [p for p in walk(source, exclude) if is_encoded(p)]
    if not inputs:
        raise InputError(f"no encoded images in {source} (no file an installed codec recognises)")
    pairs = [(p, out / p.relative_to(source).with_suffix(".wav")) for p in inputs]
    return _run("decode", decode_file, pairs, settings, args, device=args.device)


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
    jobs = default_jobs(args.jobs, len(tasks), device) if tasks else 1
    bar = Progress(len(tasks), label=command, quiet=args.quiet)
    if removed:
        bar.write(f"removed {removed} temporary file(s) left in {out} by an interrupted run")
    for src, result in failures:
        bar.write(f"failed: {src}: {result['error']}")
    done, total_bytes, total_seconds, vocoders = 0, 0, 0.0, set()
    for task, result in run_tasks(func, tasks, jobs):
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
    parts = [f"{verb} {done} file(s) into {out} in {format_duration(bar.elapsed)}"]
    if command == "encode" and done and total_seconds:
        parts[0] += f" ({total_bytes / 1000:.1f} kB for {total_seconds:.1f} s of audio, {total_bytes * 8 / total_seconds / 1000:.2f} kbps)"
    if vocoders:
        parts[0] += f" with {', '.join(sorted(vocoders))}"
    if jobs > 1:
        parts.append(f"{jobs} jobs")
    if skipped:
        parts.append(f"{skipped} already done, skipped (--force redoes them)")
    bar.close("; ".join(parts))
    if failures:
        code = max(result["code"] for _, result in failures)
        print(f"spectrocodec: error: {len(failures)} of {len(pairs)} file(s) failed (listed above); the others were {verb}",
              file=sys.stderr)
        return code
    return 0
