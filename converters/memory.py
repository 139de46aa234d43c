"""Resource guards: estimate a conversion's peak before starting, and measure the real one.

Measured (benchmarks/conversion_memory.md, random-weight Gemma 3 shapes, int8): the LiteRT
conversion peaks in litert-torch's float export at 4.67 GiB for the 270M (1.07 GB fp32) and
8.27 GiB for the 1B (4.0 GB): a fixed ~3.6 GB (tracing, the converter, a 262k-token
vocabulary's logits) plus ~1.32x the float32 weights; the ONNX path stays below it (1B: 7.71
GiB). The estimate is that line, rounded up: 3.7 GB + 1.4x.
"""

from __future__ import annotations

import os
import resource

from edgekit.errors import EdgekitError

PEAK_FACTOR = 1.4
BASE_BYTES = 3.7e9


def estimate_peak_bytes(parameter_count: int) -> int:
    return int(parameter_count * 4 * PEAK_FACTOR + BASE_BYTES)


def available_bytes() -> int:
    """MemAvailable from /proc/meminfo (what the kernel can give without swapping)."""
    override = os.environ.get("EDGEKIT_AVAILABLE_MEMORY")  # lets tests simulate a small machine
    if override:
        return int(float(override))
    with open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


def check_memory(parameter_count: int, force: bool) -> int:
    needed = estimate_peak_bytes(parameter_count)
    have = available_bytes()
    if have and needed > have and not force:
        raise EdgekitError(
            f"converting this {parameter_count / 1e6:.0f}M-parameter model needs about "
            f"{needed / 2**30:.1f} GiB of memory, but only {have / 2**30:.1f} GiB is available",
            "free memory, use a larger machine, or pass --force to try anyway",
        )
    return needed


def peak_rss_bytes() -> int:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# Bytes per parameter in each recipe's LiteRT model (measured on the 270M: int8 271 MiB,
# int4 151, mixed 227, fp16 518, fp32 1030 MiB for 268M parameters), rounded up; auto is
# at most its faithful plan, int8's size.
BYTES_PER_PARAMETER = {"fp32": 4.1, "fp16": 2.1, "int8": 1.1, "auto": 1.1, "mixed": 0.9, "int4": 0.6}


def check_disk(out_dir, parameter_count: int, outputs: list[str], force: bool) -> None:
    """`outputs`: the recipe of every artifact to be written (one per file)."""
    import shutil

    needed = sum(parameter_count * BYTES_PER_PARAMETER[q] for q in outputs)
    needed += parameter_count * 4  # the float export in the work folder
    override = os.environ.get("EDGEKIT_AVAILABLE_DISK")  # lets tests simulate a full disk
    have = int(float(override)) if override else shutil.disk_usage(out_dir).free
    if needed > have and not force:
        raise EdgekitError(
            f"the outputs need about {needed / 2**30:.1f} GiB in {out_dir}, but only {have / 2**30:.1f} GiB is free",
            "free disk space or choose another --out (--force tries anyway)",
        )
