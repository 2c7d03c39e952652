"""Checking API arguments before any work: wrong types and values raise InputError/PluginError
(SpectrocodecError subclasses) with one clear line, never a raw TypeError deep inside numpy or a
codec library, and ``True`` is never taken for 1 Hz.

Component parameters are checked by the components themselves (``Component.__init__``: unknown
names, ``limits`` ranges, types of the defaults); this module checks the arguments of ``api``.
"""

from __future__ import annotations

import numbers
import os
from typing import Any

from .errors import InputError

RATE_RANGE = (1000, 384000)  # output rates decode accepts, Hz


def is_number(value: Any) -> bool:
    """A real number that is not a bool (True is not 1 Hz, nor quality 1)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def is_whole(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_encode_args(source: Any, sample_rate: Any, quality: Any, bits: Any, range_mode: Any, lossless: Any) -> None:
    """The arguments of api.encode; InputError naming the first bad one."""
    import numpy as np

    if not isinstance(source, (str, os.PathLike, np.ndarray, list, tuple)):
        raise InputError(f"encode takes a path or an array of samples, not {type(source).__name__}")
    if sample_rate is not None and not (is_whole(sample_rate) and 1 <= sample_rate <= 1_000_000):
        raise InputError(f"sample rate {sample_rate!r} is not a positive whole number of Hz up to 1 MHz (sample_rate=)")
    if quality is not None and not is_number(quality):
        raise InputError(f"quality takes a number from 0 to 100, not {quality!r}")
    if bits is not None and not is_whole(bits):
        raise InputError(f"bits takes a whole number (8, 10, 12...), not {bits!r}")
    if not isinstance(range_mode, str) or range_mode not in ("adaptive", "fixed"):
        raise InputError(f"range takes 'adaptive' or 'fixed', not {range_mode!r}")
    if not isinstance(lossless, (bool, type(None))) and not (isinstance(lossless, numbers.Integral) and lossless in (0, 1)):
        raise InputError(f"lossless takes True or False, not {lossless!r}")


def check_rate_arg(rate: Any) -> int | str | None:
    """decode's ``rate``: None/"model" → None, "original", or a whole number of Hz in RATE_RANGE."""
    if rate is None or rate == "model":
        return None
    if rate == "original":
        return "original"
    lo, hi = RATE_RANGE
    if not is_whole(rate) or not lo <= rate <= hi:
        raise InputError(f"rate takes 'model', 'original' or a whole number of Hz from {lo} to {hi}, not {rate!r}")
    return int(rate)
