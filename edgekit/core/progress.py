"""Staged progress on stderr for long work: `[2/5] quantizing … 41.3 s`, with the process's
peak memory so far, so a user (and a benchmark) sees which stage costs the memory."""

from __future__ import annotations

import contextlib
import resource
import sys
import time
from collections.abc import Iterator

from rich.console import Console


def own_peak_rss_bytes() -> int:
    """This process's own peak since exec (VmHWM). Not `ru_maxrss`: Linux carries a process's
    high-water mark across fork and exec, so a command started by a large process (a benchmark
    that has just written a checkpoint, a hand-off that has just validated) would report its
    parent's peak."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)


def peak_rss_bytes() -> int:
    """Peak resident set size of this process or of any child it has waited for (conversion
    steps run in children: edgekit/converters/isolated.py). Linux reports KiB."""
    return max(own_peak_rss_bytes(), resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)


class Stages:
    """Numbered stages with elapsed time; quiet when the caller wants JSON only."""

    def __init__(self, total: int, quiet: bool = False) -> None:
        self.total = total
        self.done = 0
        self.started = time.monotonic()
        self.console = Console(stderr=True, highlight=False, quiet=quiet)

    @contextlib.contextmanager
    def stage(self, title: str) -> Iterator[None]:
        self.done += 1
        t0 = time.monotonic()
        self.console.print(f"[bold][{self.done}/{self.total}][/bold] {title} …")
        yield
        peak_gib = peak_rss_bytes() / 2**30
        self.console.print(
            f"      done in {time.monotonic() - t0:.1f} s (total {time.monotonic() - self.started:.1f} s,"
            f" peak RSS {peak_gib:.2f} GiB)"
        )

    def note(self, text: str) -> None:
        self.console.print(f"      {text}", soft_wrap=True, markup=False)  # paths: never wrapped or parsed
