"""Writing outputs safely, and reading inputs that are streams.

Outputs: every output goes to a temporary file, is flushed to disk, then either renamed into place
(a regular file: a run killed at any moment leaves the old file or the new one, never a partial
one) or copied into the target when the target is not a regular file: ``-`` (standard output), a
device node (``/dev/null``, ``/dev/stdout``) or a FIFO is written *into*, never renamed over.
Policy, also in docs/robustness.md:

- an existing output needs ``force`` (a device node or FIFO too);
- ``force`` on a symlink replaces the file the link points to; the link itself stays;
- an output that is the input, through a symlink or a hard link, is refused;
- new files get the usual ``0666 & ~umask`` permissions (mkstemp alone would give 0600);
- a file name longer than the file system allows (255 bytes) is refused with one line.

Inputs: ``-`` (standard input) and FIFOs (``encode <(ffmpeg ...)``) are read as a stream, never
stat'ed for a size or seeked: ``spooled_input`` copies them to a temporary file first (bounded
memory whatever their length); block and character devices are refused (``/dev/zero`` never ends).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import sys
import tempfile
from pathlib import Path
from typing import Iterator

from .errors import InputError, OutputError

TEMP_PREFIX = ".spectrocodec-"
STDIO = "-"  # as an input: standard input; as an output: standard output
MAX_NAME_BYTES = 255  # the longest file name ext4, XFS, btrfs, tmpfs and APFS accept
COPY_BLOCK = 1 << 20


def is_stdio(path: str | os.PathLike | None) -> bool:
    """True for ``-``: standard input as an input, standard output as an output."""
    return path is not None and os.fspath(path) == STDIO


def shown(path: str | os.PathLike) -> str:
    """A path as printable text: control characters and bytes that are not UTF-8 escaped
    (``\\x1b``, ``\\udcff`` → ``\\xff``), so that printing a name never garbles a terminal or fails."""
    text = os.fspath(path)
    out = []
    for char in text:
        code = ord(char)
        if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
            out.append(f"\\x{code - 0xDC00:02x}")
        elif code < 0x20 or code == 0x7F or 0x80 <= code < 0xA0:
            out.append(f"\\x{code:02x}")
        else:
            out.append(char)
    return "".join(out)


def _special(path: Path) -> bool:
    """An existing output that is neither a regular file nor a folder (a device node, a FIFO)."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def check_input(path: Path, what: str) -> None:
    """InputError if ``path`` is a folder or does not exist; ``what`` names the file wanted
    ("an audio file", "an encoded image file")."""
    if path.is_dir():
        raise InputError(f"{path} is a folder; give {what}")
    if not path.exists():
        raise InputError(f"{path} does not exist")

def check_output(path: str | os.PathLike, force: bool = False, inputs: tuple = ()) -> Path:
    """Refuse an output that exists (without force), is a folder, is one of the inputs (also through
    a symlink or a hard link), has too long a name, or whose folder is missing."""
    path = Path(path)
    if is_stdio(path):
        return path
    if len(os.fsencode(path.name)) > MAX_NAME_BYTES:
        raise OutputError(f"output name {shown(path.name[:40])}... is {len(os.fsencode(path.name))} bytes, more than the "
                          f"{MAX_NAME_BYTES} a file name can have; give a shorter -o")
    try:
        real = path.resolve()
    except (OSError, RuntimeError):
        raise OutputError(f"output {shown(path)} is a symlink loop; give another output") from None
    for item in inputs:
        if is_stdio(item):
            continue
        with contextlib.suppress(OSError, RuntimeError):
            if Path(item).resolve() == real or (real.exists() and os.path.samefile(item, real)):
                raise OutputError(f"output {shown(path)} is the input file (or a link to it); choose another output")
    if path.is_dir():
        raise OutputError(f"output {shown(path)} is a folder; give a file name")
    if (path.exists() or path.is_symlink()) and not force:
        raise OutputError(f"{shown(path)} already exists; use --force to overwrite it")
    if not real.parent.exists():
        raise OutputError(f"folder {shown(real.parent)} does not exist; create it first")
    return path


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, force: bool = False) -> Iterator[str]:
    """Yield a temporary path; on success rename it onto ``path`` (a regular file, or a symlink's
    target), or copy it into ``path`` when that is ``-`` (standard output), a device or a FIFO."""
    path = check_output(path, force)
    into = is_stdio(path) or _special(path)
    target = path.resolve() if not into and path.is_symlink() else path  # --force on a link: its file
    folder = None if into else target.parent
    try:
        fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".tmp", dir=folder)
    except OSError as exc:
        raise OutputError(f"cannot write in {shown(target.parent)}: {_why(exc)}") from None
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        if into:
            _copy_into(tmp, path)
            return
        if not force and path.exists():
            raise OutputError(f"{shown(path)} appeared while writing; use --force to overwrite it")
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except OSError as exc:
        raise OutputError(f"cannot write {shown(path)}: {_why(exc)}") from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _copy_into(tmp: str, path: Path) -> None:
    """Copy a finished temporary file into standard output, a device node or a FIFO."""
    with open(tmp, "rb") as source:
        if is_stdio(path):
            sys.stdout.flush()
            out = sys.stdout.buffer
            shutil.copyfileobj(source, out, COPY_BLOCK)
            out.flush()
        else:
            with open(path, "wb") as out:
                shutil.copyfileobj(source, out, COPY_BLOCK)


def write_bytes(path: str | os.PathLike, data: bytes, force: bool = False) -> None:
    """Write ``data`` to ``path`` atomically (``-``: standard output)."""
    with atomic_output(path, force=force) as tmp:
        with open(tmp, "wb") as handle:
            handle.write(data)


def writes_stdout(path: str | os.PathLike) -> bool:
    """True if writing ``path`` writes standard output (``-``, /dev/stdout, /dev/fd/1...): messages
    then go to stderr, so that the output stays byte-identical to a file's."""
    if is_stdio(path):
        return True
    with contextlib.suppress(OSError, ValueError):
        mine, out = os.stat(path), os.fstat(sys.stdout.fileno())
        return (mine.st_dev, mine.st_ino) == (out.st_dev, out.st_ino)
    return False


def refuse_terminal_output(path: str | os.PathLike) -> None:
    """``-o -`` with standard output on a terminal: refuse to print binary data on it."""
    if writes_stdout(path) and sys.stdout.isatty():
        raise OutputError("standard output is a terminal; redirect it (> file or | command) or give -o FILE")


def is_stream(path: str | os.PathLike) -> bool:
    """``-`` or a FIFO (a pipe, ``<(command)``): read from start to end, never stat'ed or seeked."""
    if is_stdio(path):
        return True
    with contextlib.suppress(OSError):
        return stat.S_ISFIFO(os.stat(path).st_mode)
    return False


def read_stream(path: str | os.PathLike, limit: int, what: str) -> bytes:
    """All bytes of ``-`` (standard input) or a FIFO, at most ``limit``; InputError if more or none."""
    try:
        if is_stdio(path):
            if sys.stdin is None or sys.stdin.isatty():
                raise InputError(f"'-' reads {what} from standard input, but it is a terminal; pipe a file in")
            data = sys.stdin.buffer.read(limit + 1)
        else:
            with open(path, "rb") as handle:
                data = handle.read(limit + 1)
    except OSError as exc:
        raise InputError(f"cannot read {shown(path)}: {exc.strerror}") from None
    name = "standard input" if is_stdio(path) else shown(path)
    if not data:
        raise InputError(f"{name} is empty (0 bytes); give {what}")
    if len(data) > limit:
        raise InputError(f"{name} holds more than the {limit >> 20} MB {what} can be")
    return data


MAX_STREAM_BYTES = 8 << 30  # an audio stream spooled to disk (a 4 GB WAV is the format's own limit)


@contextlib.contextmanager
def spooled_input(path: str | os.PathLike, what: str = "audio") -> Iterator[Path]:
    """Yield a path that can be opened and seeked: ``path`` itself, or for ``-`` and FIFOs a
    temporary copy of the stream (copied block by block: memory stays bounded)."""
    if not is_stream(path):
        yield Path(path)
        return
    name = "standard input" if is_stdio(path) else shown(path)
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".in")
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                if is_stdio(path):
                    if sys.stdin is None or sys.stdin.isatty():
                        raise InputError(f"'-' reads {what} from standard input, but it is a terminal; pipe a file in")
                    source = sys.stdin.buffer
                    total = _copy_limited(source, out, name)
                else:
                    with open(path, "rb") as source:
                        total = _copy_limited(source, out, name)
            except OSError as exc:
                if exc.errno == errno.ENOSPC:
                    raise InputError(f"cannot keep {name} on disk while reading it: {_why(exc)}") from None
                raise InputError(f"cannot read {name}: {exc.strerror}") from None
        if total == 0:
            raise InputError(f"{name} is empty (0 bytes); give {what}")
        yield Path(tmp)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _copy_limited(source, out, name: str) -> int:
    total = 0
    while block := source.read(COPY_BLOCK):
        total += len(block)
        if total > MAX_STREAM_BYTES:
            raise InputError(f"{name} goes on past {MAX_STREAM_BYTES >> 30} GB; give a file")
        out.write(block)
    return total


def _why(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "the disk is full; free some space"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "permission denied; choose a folder you can write to"
    if exc.errno == errno.ENAMETOOLONG:
        return "the file name is too long; give a shorter one"
    if exc.errno == errno.ELOOP:
        return "a symlink loop; give another output"
    return exc.strerror or str(exc)
