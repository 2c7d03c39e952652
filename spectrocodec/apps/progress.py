"""A one-line progress bar on stderr: files done/total, speed and time left. No dependency.

    bar = Progress(total=40, label="encode", quiet=args.quiet)
    for ...:
        bar.advance()                 # one more done
        bar.write("failed: x.wav: ...")   # a message above the bar (always shown)
    bar.close("encoded 40 files")     # final summary line (not shown with quiet)

The bar is drawn only when stderr is a terminal and not quiet, at most ten times a second;
elsewhere (a pipe, a log file, CI) nothing is printed but the messages and the summary.
"""

from __future__ import annotations

import shutil
import sys
import time
from typing import TextIO


def format_duration(seconds: float) -> str:
    """3725 → '1:02:05', 65 → '1:05', 4.2 → '0:04'."""
    seconds = int(round(max(0.0, seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Progress:
    """Counts finished items out of ``total`` and draws ``label  12/40 [####....] 3.1/s  0:09 left``."""

    def __init__(self, total: int, label: str = "", unit: str = "files", quiet: bool = False,
                 stream: TextIO | None = None) -> None:
        self.total = max(0, int(total))
        self.label = label
        self.unit = unit
        self.quiet = quiet
        self.stream = stream if stream is not None else sys.stderr
        self.done = 0
        self.start = time.monotonic()
        self._last_draw = 0.0
        self._drawn = False
        self.live = not quiet and _is_tty(self.stream)
        self._draw(force=True)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def advance(self, count: int = 1) -> None:
        self.done += count
        self._draw(force=self.done >= self.total)

    def write(self, message: str) -> None:
        """Print a line above the bar (failures, notes); shown even when quiet."""
        self._clear()
        print(message, file=self.stream, flush=True)
        self._draw(force=True)

    def close(self, summary: str = "") -> None:
        """Remove the bar and print the summary line (unless quiet)."""
        self._clear()
        if summary and not self.quiet:
            print(summary, file=self.stream, flush=True)

    def line(self, width: int = 80) -> str:
        """The bar as text, fitted to ``width`` columns."""
        elapsed = self.elapsed
        rate = self.done / elapsed if elapsed > 0 and self.done else 0.0
        left = (self.total - self.done) / rate if rate > 0 else None
        speed = f"{rate:.2f} {self.unit}/s" if rate else f"- {self.unit}/s"
        eta = f"{format_duration(left)} left" if left is not None else "--:-- left"
        head = f"{self.label}  {self.done}/{self.total}" if self.label else f"{self.done}/{self.total}"
        tail = f"{speed}  {eta}"
        room = width - len(head) - len(tail) - 5
        if room >= 10:
            filled = int(room * self.done / self.total) if self.total else room
            return f"{head} [{'#' * filled}{'.' * (room - filled)}] {tail}"
        return f"{head}  {tail}"[: max(0, width - 1)]

    # -- drawing ------------------------------------------------------------------------------
    def _draw(self, force: bool = False) -> None:
        if not self.live:
            return
        now = time.monotonic()
        if not force and now - self._last_draw < 0.1:
            return
        self._last_draw = now
        width = shutil.get_terminal_size((80, 24)).columns
        self.stream.write("\r" + self.line(width) + "\x1b[K")
        self.stream.flush()
        self._drawn = True

    def _clear(self) -> None:
        if self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._drawn = False


def _is_tty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
