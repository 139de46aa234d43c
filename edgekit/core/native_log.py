"""Native libraries write to file descriptor 2, past Python's `sys.stderr`: their chatter (the
LiteRT interpreter's "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.") goes to
edgekit's log file instead of the user's terminal, around the calls that print it."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from edgekit.core.paths import cache_dir


def native_log() -> Path:
    folder = cache_dir() / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / "native.log"


@contextmanager
def native_stderr_to_log() -> Iterator[None]:
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(native_log(), "a") as handle:
            os.dup2(handle.fileno(), 2)
            yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
