"""Folders named by fsspec URLs for ``encode FOLDER`` / ``decode FOLDER``: ``s3://bucket/calls``,
``gs://...``, ``file:///data/calls`` (any filesystem fsspec knows and has its package: s3fs for
s3://, gcsfs for gs://; credentials as those packages read them, e.g. AWS_PROFILE).

- Listing: every file under the input URL (hidden names and the output tree left out) whose
  extension is an audio one (encode) or an installed codec's (decode); nothing is downloaded to
  choose (a local folder is also sniffed by content; a URL is not).
- Each task (``remote_task``) runs the ordinary file task (batch.encode_file / decode_file) on
  local files: the input is downloaded to a temporary folder of the worker, the output written
  there, then uploaded whole (an object store shows an object only once its upload completes, so no
  partial output ever appears under its final name). A ``file://`` URL is used in place, with the
  atomic local writes of core/files.py.
- Resume: outputs already under the output URL are skipped (one listing at the start), as for
  local folders; --force redoes them.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterable

from ...core.errors import InputError
from .base import guarded

URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+://")


def is_url(text: str | os.PathLike | None) -> bool:
    """"s3://b/k", "file:///x" → True; "calls/", "C:\\calls" → False."""
    return isinstance(text, str) and bool(URL.match(text))


def filesystem(url: str) -> tuple[Any, str]:
    """fsspec (filesystem, path within it) for a URL or a plain path; a one-line InputError when
    fsspec or the protocol's package is missing."""
    try:
        import fsspec
    except ImportError:
        raise InputError("URLs need fsspec: pip install fsspec (and s3fs for s3://, gcsfs for gs://)") from None
    try:
        fs, path = fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as exc:
        raise InputError(f"cannot open {url}: {' '.join(str(exc).split())[:200]}") from None
    return fs, path.rstrip("/") or "/"


def is_local(fs: Any) -> bool:
    return "file" in (fs.protocol if isinstance(fs.protocol, (tuple, list)) else (fs.protocol,))


class Url(str):
    """An output URL, with the one thing batch._run asks of an output path: ``exists()`` (from the
    listing made at the start)."""

    existing: frozenset = frozenset()

    def exists(self) -> bool:
        return str(self) in self.existing


def list_files(fs: Any, root: str, exclude: str | None = None) -> list[str]:
    """Every file under ``root`` (paths within ``fs``), sorted, hidden names and ``exclude`` left out."""
    try:
        found = fs.find(root, detail=False) if fs.isdir(root) else []
    except OSError as exc:
        raise InputError(f"cannot list {fs.unstrip_protocol(root)}: {exc}") from None
    keep = []
    for path in sorted(found):
        relative = path[len(root):].lstrip("/")
        if any(part.startswith(".") for part in relative.split("/")):
            continue
        if exclude and (path == exclude or path.startswith(exclude.rstrip("/") + "/")):
            continue
        keep.append(path)
    return keep


def plan(command: str, source: str, output: str | None, wanted: Iterable[str], suffix: str) -> tuple[list[tuple[str, Url]], Path | None]:
    """(input URL, output Url) pairs for every file under ``source`` with an extension in
    ``wanted``, mirrored under ``output`` with ``suffix``; and the output folder as a local Path
    when it is on the local filesystem (created), else None."""
    if not output:
        raise InputError(f"give -o OUTDIR: a folder is {command}d into another folder")
    fs_in, root_in = filesystem(source)
    fs_out, root_out = filesystem(output)
    if not fs_in.isdir(root_in):
        raise InputError(f"{source} is not a folder (or does not exist); give a folder URL")
    same = type(fs_in) is type(fs_out)
    if same and root_out == root_in:
        raise InputError(f"the output folder {output} is the input folder; choose another one")
    wanted = {extension.lower() for extension in wanted}
    inputs = [p for p in list_files(fs_in, root_in, root_out if same else None)
              if PurePosixPath(p).suffix.lower() in wanted]
    if not inputs:
        raise InputError(f"no {'audio files' if command == 'encode' else 'encoded images'} in {source}")
    local_out = None
    if is_local(fs_out):
        fs_out.makedirs(root_out, exist_ok=True)
        local_out = Path(root_out)
    existing = frozenset(fs_out.unstrip_protocol(p) for p in list_files(fs_out, root_out))
    pairs = []
    for path in inputs:
        relative = PurePosixPath(path[len(root_in):].lstrip("/")).with_suffix(suffix)
        target = Url(fs_out.unstrip_protocol(f"{root_out}/{relative}"))
        target.existing = existing
        pairs.append((fs_in.unstrip_protocol(path), target))
    return pairs, local_out


def remote_task(func: Callable[..., dict], source: str, output: str, settings: dict) -> dict:
    """``func(local source, local output, settings)`` for URLs: download, run, upload (see the
    module docstring); never raises (errors come back as base.failure)."""
    return guarded(_transfer)(func, source, output, settings)


def _transfer(func: Callable[..., dict], source: str, output: str, settings: dict) -> dict:
    fs_in, path_in = filesystem(source)
    fs_out, path_out = filesystem(output)
    with tempfile.TemporaryDirectory(prefix="spectrocodec-") as tmp:
        local_in, local_out = path_in, path_out
        if not is_local(fs_in):
            local_in = os.path.join(tmp, "in" + PurePosixPath(path_in).suffix)
            try:
                fs_in.get_file(path_in, local_in)
            except (OSError, ValueError) as exc:
                raise InputError(f"cannot download {source}: {exc}") from None
        if not is_local(fs_out):
            if fs_out.exists(path_out) and not settings.get("force"):
                raise InputError(f"{output} already exists; use --force to overwrite it")
            local_out = os.path.join(tmp, "out" + PurePosixPath(path_out).suffix)
        result = func(local_in, local_out, settings)
        if result["ok"] and local_out != path_out:
            try:
                fs_out.put_file(local_out, path_out)
            except (OSError, ValueError) as exc:
                raise InputError(f"cannot upload {output}: {exc}") from None
    return result
