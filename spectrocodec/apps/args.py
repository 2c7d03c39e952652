"""Argument helpers shared by the command-line applications (cli, batch, report, bench)."""

from __future__ import annotations

import argparse
import json
from typing import Any, Sequence

from ..core.errors import InputError


class Parser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def parse_params(pairs: Sequence[str] | None) -> dict[str, Any]:
    """["speed=8", "tag=x"] → {"speed": 8, "tag": "x"} (values parsed as JSON when they can be)."""
    out: dict[str, Any] = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InputError(f"--param takes KEY=VALUE, not '{pair}'")
        if key in out:
            raise InputError(f"--param {key} is given twice; give it once")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


def split_list(text: str) -> list[str]:
    """"avif, jxl" → ["avif", "jxl"]: the comma-separated lists of report and bench."""
    return [part.strip() for part in str(text).split(",") if part.strip()]


def number_list(text: str, what: str, cast=float) -> list:
    """"30,50" → [30.0, 50.0]; InputError naming ``--what`` if empty or not numbers."""
    try:
        values = [cast(part) for part in split_list(text)]
    except ValueError:
        values = []
    if not values:
        raise InputError(f"--{what} takes comma-separated numbers, not '{text}'")
    return values



def parse_rate(text: str) -> int:
    try:
        rate = int(text)
    except ValueError:
        rate = 0
    if not 1000 <= rate <= 384000:
        raise InputError(f"--rate takes 'model', 'original' or a rate in Hz from 1000 to 384000, not '{text}'")
    return rate


def vocoder_name(name: str, tell: Any = None) -> str:
    """A --vocoder of report/bench → the vocoder name to run: "auto" → the one it picks here for
    speecht5 features (``tell(note)`` is given the reason); "none" unchanged; others checked to
    exist and run here (PluginError otherwise)."""
    if name == "none":
        return name
    from ..core import api

    cls, note = api.resolve_vocoder(name)
    if note and tell:
        tell(note)
    return cls.name


# -- numbers as text -------------------------------------------------------------------------------
def num(value: float) -> str:
    """A number as short text: 50.0 → "50", 12.5 → "12.5" (the inverse of number_list)."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def fixed(value: Any, digits: int | None = 2, missing: str = "–", grouping: bool = False) -> str:
    """A table cell: ``missing`` for None or ""; a float (an int too with ``grouping``) with
    ``digits`` decimals, thousands separated when ``grouping`` and digits is 0; else str(value)."""
    if value is None or value == "":
        return missing
    if digits is None or not (isinstance(value, float) or grouping and isinstance(value, int)):
        return str(value)
    return f"{value:,.{digits}f}" if grouping and digits == 0 else f"{value:.{digits}f}"
