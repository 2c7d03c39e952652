"""Silencing what C libraries print on the process's stderr (file descriptor 2).

libpng ("PNG warning: iCCP: too short"), libtiff and libmpg123 write warnings straight to fd 2,
past Python's sys.stderr, so they would break the "one line per error" rule. ``quiet_stderr``
points fd 2 at a temporary file while a decoder runs and restores it afterwards; what was said
is kept in ``last_messages`` (and shown with SPECTROCODEC_DEBUG=1). The redirection is
process-wide for that moment: spectrocodec decodes in one thread per process (batch work uses
processes), so nothing else of ours writes to fd 2 meanwhile.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from typing import Iterator

last_messages: list[str] = []


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """Run the body with fd 2 redirected to a temporary file; keep its lines in last_messages."""
    try:
        saved = os.dup(2)
    except OSError:  # no fd 2 at all: nothing to protect
        yield
        return
    with tempfile.TemporaryFile() as sink:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            text = sink.read(1 << 16).decode("utf-8", "replace")
            last_messages[:] = text.splitlines()
            if text and os.environ.get("SPECTROCODEC_DEBUG"):
                sys.stderr.write(text)
