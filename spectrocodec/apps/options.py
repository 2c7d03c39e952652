"""Resolving and checking command-line options before any work (encode and decode).

- ``--codec`` follows ``-o``'s extension when not given (``-o x.webp`` writes WebP); an extension
  that names another codec than ``--codec`` is an error; ``-`` or an unknown extension: avif.
- ``--bits`` defaults per codec (ImageCodec.default_bits: 8 for webp, 10 for avif, jxl, png...).
- A parameter given twice (``--speed 3 --param speed=5``, or ``--param a=1 --param a=2``) is an
  error, as is ``--quality`` on a codec without a lossy mode (png).
- decode's default output is ``INPUT's stem + .decoded.wav``: ``talk.avif`` made from ``talk.wav``
  decodes beside it without colliding with the original.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..core.errors import InputError
from ..core.files import is_stdio, shown
from .args import parse_params

FLAG_PARAMS = {"speed": "--speed", "quality": "--quality", "lossless": "--lossless", "backend": "--backend",
               "container": "--container"}
DECODED_SUFFIX = ".decoded.wav"


def codec_by_extension() -> dict[str, str]:
    """{".webp": "webp", ...}: every installed codec's extension → its name."""
    from ..core.registry import Registry

    return {cls.extension.lower(): cls.name for cls in Registry.default().classes("codec") if cls.extension}


def resolve_encode(args: argparse.Namespace) -> dict:
    """Fill ``args.codec`` and ``args.bits`` and check the options; returns the --param dict."""
    from ..core.registry import Registry

    params = parse_params(args.param)
    for key, flag in FLAG_PARAMS.items():
        if key in params and getattr(args, key, None) not in (None, False):
            raise InputError(f"{flag} and --param {key}=... both set {key}; give it once")
    suffix = "" if not args.output or is_stdio(args.output) else Path(args.output).suffix.lower()
    by_ext = codec_by_extension()
    wanted = by_ext.get(suffix)
    if args.codec is None:
        args.codec = wanted or "avif"
    elif wanted and wanted != args.codec and (is_stdio(args.input) or not Path(args.input).is_dir()):
        raise InputError(f"-o {shown(args.output)} names a {wanted} file but --codec is {args.codec}; "
                         f"change the extension to {_extension(args.codec)} or drop --codec")
    cls = Registry.default().get_class("codec", args.codec, args.backend)
    if args.bits is None:
        args.bits = cls.default_bits()  # type: ignore[attr-defined]
    if args.quality is not None and not cls.lossy:  # type: ignore[attr-defined]
        raise InputError(f"codec '{args.codec}' is lossless only; --quality has no effect on it: drop it")
    return params


def _extension(codec: str) -> str:
    from ..core.registry import Registry

    return Registry.default().get_class("codec", codec).extension  # type: ignore[attr-defined]


def default_output(args: argparse.Namespace, suffix: str) -> Path:
    """-o, or INPUT's stem + ``suffix`` beside it: the codec's extension for encode, DECODED_SUFFIX
    (.decoded.wav) for decode, so that a decode never lands on the talk.wav it was likely made of."""
    if args.output:
        return Path(args.output)
    if is_stdio(args.input):
        raise InputError("reading standard input ('-') needs -o FILE (or -o - for standard output)")
    return Path(args.input).with_suffix(suffix)


def verbose(args: argparse.Namespace, message: str) -> None:
    """A detail line on stderr with -v/--verbose."""
    if getattr(args, "verbose", False):
        print(f"spectrocodec: {message}", file=sys.stderr)


def note(args: argparse.Namespace, message: str) -> None:
    """A note on stderr, unless -q."""
    if not getattr(args, "quiet", False):
        print(f"spectrocodec: note: {message}", file=sys.stderr)
