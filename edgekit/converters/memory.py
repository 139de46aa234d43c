"""Resource guards: estimate a conversion's peak memory and disk before starting.

Each torch step (golden outputs, each float export) runs in its own child
(`converters.isolated`), so the peak is the largest step, not their sum: the largest of the
memory lines the recipe table gives for every artifact written (measured in
benchmarks/conversion_memory.md).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from edgekit.core.errors import EdgekitError
from edgekit.core.recipes import recipe_named

BUNDLE_ROUTE = "litertlm-bundle"  # litert-torch's own export and packaging (Gemma 3n, 4)


def estimate_peak_bytes(
    parameter_count: int, runs: list[tuple[str, str]], bundle_lines: tuple[tuple[float, float], ...] = ()
) -> int:
    """`runs`: (format, or BUNDLE_ROUTE, and quant) of every artifact the conversion writes;
    `bundle_lines`: the family's memory lines for BUNDLE_ROUTE."""
    lines = [
        line
        for route, quant in runs
        for line in (bundle_lines if route == BUNDLE_ROUTE else recipe_named(quant).memory_lines(route))
    ]
    return int(max(base + factor * 4 * parameter_count for base, factor in lines))


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


def check_memory(
    parameter_count: int,
    runs: list[tuple[str, str]],
    force: bool,
    bundle_lines: tuple[tuple[float, float], ...] = (),
) -> int:
    needed = estimate_peak_bytes(parameter_count, runs, bundle_lines)
    have = available_bytes()
    if have and needed > have and not force:
        raise EdgekitError(
            f"converting this {parameter_count / 1e6:.0f}M-parameter model needs about "
            f"{needed / 2**30:.1f} GiB of memory, but only {have / 2**30:.1f} GiB is available",
            "free memory, use a larger machine, or pass --force to try anyway",
        )
    return needed


def float_copies(routes: list[tuple[str, str]], merges_adapter: bool = False) -> int:
    """Float32-sized files the work folder holds at once: one float export per container kind
    (the ONNX graph, the LiteRT model), litert-torch's bundle route also the source folder it
    writes under renamed tensors beside its export (seen: 17 + 19 GB for Gemma 3n E2B), and a
    merged adapter's checkpoint."""
    kinds = {route for route, _ in routes}
    exports = ("onnx" in kinds) + bool(kinds & {"litertlm", "task"}) + 2 * (BUNDLE_ROUTE in kinds)
    return max(1, exports) + merges_adapter


def disk_bytes(parameter_count: int, outputs: list[str], float_copies: int = 1) -> int:
    """`outputs`: the recipe of every artifact to be written (one per file), plus the float
    copies in the work folder (the export; a merged adapter's checkpoint)."""
    written = sum(parameter_count * recipe_named(q).disk_bytes_per_parameter for q in outputs)
    return int(written + parameter_count * 4 * float_copies)


def check_disk(out_dir: Path, parameter_count: int, outputs: list[str], force: bool, float_copies: int = 1) -> None:
    needed = disk_bytes(parameter_count, outputs, float_copies)
    override = os.environ.get("EDGEKIT_AVAILABLE_DISK")  # lets tests simulate a full disk
    have = int(float(override)) if override else shutil.disk_usage(out_dir).free
    if needed > have and not force:
        raise EdgekitError(
            f"the outputs need about {needed / 2**30:.1f} GiB in {out_dir}, but only {have / 2**30:.1f} GiB is free",
            "free disk space or choose another --out (--force tries anyway)",
        )
