"""Writing outputs safely: never over an existing file without force, never half-written.

Every output goes to a temporary file in the destination folder, is flushed to disk, then renamed
into place; a run killed at any moment leaves the old file or the new one, never a partial one.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path
from typing import Iterator

from .errors import OutputError

TEMP_PREFIX = ".spectrocodec-"


def check_output(path: str | os.PathLike, force: bool = False, inputs: tuple = ()) -> Path:
    """Refuse an output that exists (without force), is a folder, or is one of the inputs."""
    path = Path(path)
    for item in inputs:
        with contextlib.suppress(OSError):
            if Path(item).resolve() == path.resolve():
                raise OutputError(f"output {path} is the input file; choose another output")
    if path.is_dir():
        raise OutputError(f"output {path} is a folder; give a file name")
    if path.exists() and not force:
        raise OutputError(f"{path} already exists; use --force to overwrite it")
    if not path.parent.exists():
        raise OutputError(f"folder {path.parent} does not exist; create it first")
    return path


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, force: bool = False) -> Iterator[str]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``."""
    path = check_output(path, force)
    try:
        fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise OutputError(f"cannot write in {path.parent}: {_why(exc)}") from None
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        if not force and path.exists():
            raise OutputError(f"{path} appeared while writing; use --force to overwrite it")
        os.replace(tmp, path)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {_why(exc)}") from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def write_bytes(path: str | os.PathLike, data: bytes, force: bool = False) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_output(path, force=force) as tmp:
        with open(tmp, "wb") as handle:
            handle.write(data)


def _why(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "the disk is full; free some space"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "permission denied; choose a folder you can write to"
    return exc.strerror or str(exc)
