"""Resource guards: estimate a conversion's peak before starting.

Each torch step (golden outputs, each float export) runs in its own child
(`edgekit.converters.isolated`), so the peak is the largest step, not their sum. Measured
(benchmarks/conversion_memory.md, random-weight Gemma 3 shapes, int8, 2026-11-30):
- LiteRT: 4.65 GiB for the 270M (1.07 GB fp32), 5.44 GiB for the 1B (4.0 GB), 16.47 GiB for
  the 4B (15.5 GB). Two lines: litert-torch's export, a fixed ~4.7 GB (tracing, the converter,
  a 262k-token vocabulary's logits) that dominates small models, and the steps that hold the
  float32 model (~1.8 GB + 1.03x) that dominate large ones. Estimate: the larger of
  5.0 GB + 0.3x and 2.0 GB + 1.05x.
- ONNX int8: 2.24 GiB (270M), 5.09 GiB (1B): the golden-output step, the source model in
  float32 plus its logits over the reference text, ~1.3 GB + 1.04x. Estimate: 1.5 GB + 1.15x.
- ONNX int4/mixed run the float graph in onnxruntime to weigh their rounding
  (`activation_energy`): a second float copy; `auto` also scans the float graph with every
  weight as an input, plus full-vocabulary logits (270M: 6.37 GiB, benchmarks/results.md).
  Estimates 1.5 GB + 2.3x and 4.0 GB + 3x, not measured beyond the 270M.
"""

from __future__ import annotations

import os

from edgekit.core.errors import EdgekitError

# (fixed bytes, times the float32 weights): a run's peak is the largest of its lines
_LINES = {
    "litert": ((5.0e9, 0.3), (2.0e9, 1.05)),
    "onnx": ((1.5e9, 1.15),),
    "onnx-calibrated": ((1.5e9, 2.3),),
    "onnx-auto": ((4.0e9, 3.0),),
}


def _kind(fmt: str, quant: str) -> str:
    if fmt != "onnx":
        return "litert"
    return {"int4": "onnx-calibrated", "mixed": "onnx-calibrated", "auto": "onnx-auto"}.get(quant, "onnx")


def estimate_peak_bytes(parameter_count: int, runs: list[tuple[str, str]]) -> int:
    """`runs`: (format, quant) of every artifact the conversion writes."""
    lines = [line for fmt, quant in runs for line in _LINES[_kind(fmt, quant)]]
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


def check_memory(parameter_count: int, runs: list[tuple[str, str]], force: bool) -> int:
    needed = estimate_peak_bytes(parameter_count, runs)
    have = available_bytes()
    if have and needed > have and not force:
        raise EdgekitError(
            f"converting this {parameter_count / 1e6:.0f}M-parameter model needs about "
            f"{needed / 2**30:.1f} GiB of memory, but only {have / 2**30:.1f} GiB is available",
            "free memory, use a larger machine, or pass --force to try anyway",
        )
    return needed


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
