"""`edgekit plan`: what each recipe x artifact costs on a device, and which one to ship.

Every number of an option says where it comes from (`Provenance`): measured on the default
model (the table `benchmarks/run.py` writes to `edgekit/data/benchmarks.json`), or estimated:
sizes from the checkpoint's parameters at the recipe's bits per weight (`edgekit.core.recipes`,
calibrated on the measured artifacts); RAM from the measured peak RSS of the same recipe (else
int8) above the runtime's own base, scaled by size, with the KV cache moved to the requested
context (float32, every layer at full length, as the converters export it); decode speed
scaled from the measured row of the same format by the bytes a token reads (every weight but
the per-layer embedding tables of Gemma 3n/4, of which a token reads one row) and, for LiteRT,
by the KV cache at the requested context: LiteRT-LM attends over a bundle's whole fixed cache
on every step, at a cost per byte measured in the same run from the int8 bundle at two cache
lengths (`cache_byte_cost`); onnxruntime's cache grows with the tokens held. A family with
runs of its own (random-weight checkpoints of its released shapes, which
`benchmarks/conversion_memory.py` writes to `edgekit/data/family_runs.json`) is estimated from
those rather than from the default model (its lookup tables stay mapped, not resident), and
its sizes are corrected by the measured/estimated ratio of the same recipe's run. Float
LiteRT bundles are quoted measured only: on x86 the fp16 bundle peaks far above the fp32 one
(its DEQUANTIZE ops materialise float32 weights). How the estimates compare with
measurements: benchmarks/results.md.

The choice follows the Gemma guide: an instruction-tuned core model with the fewest
parameters, at the source's precision unless memory forces fewer bits; among artifacts of
that precision, the device's preferred runtime.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from enum import StrEnum
from importlib import resources
from typing import Any

from edgekit.app.devices import Device
from edgekit.core.errors import EdgekitError
from edgekit.core.recipes import recipe_named, recipes_for
from edgekit.families import Family
from edgekit.intake.checkpoint import Checkpoint

# The runtime's own peak RSS with edgekit's Python runtime around it and no model weights:
# LiteRT-LM from a line through the measured int8 and int4 peaks; onnxruntime from the int8
# row of 2026-12-06 (peak 608.5 MiB - artifact 294.5 - its 384-token KV cache), measured since
# the runner extends its cache in place.
RUNTIME_BASE_BYTES = {"litert": 337 * 2**20, "onnx": 300 * 2**20}
TOKENIZER_JSON_BYTES_PER_TOKEN = 126  # the ONNX folder's tokenizer.json (33 MB for Gemma 3's 262k)
KV_BYTES = 4
# The benchmark table's model (Gemma 3 270M: 18 layers, one KV head of 256, every layer caching):
# its KV-cache bytes per token, to take the measured cache out of a measured peak.
DEFAULT_MODEL_KV_BYTES_PER_TOKEN = 2 * 18 * 1 * 256 * KV_BYTES


# .task and .litertlm carry the same LiteRT model and run in the same engine.
TWIN = {"task": "litertlm", "litertlm": "task"}


class Provenance(StrEnum):
    MEASURED = "measured"
    ESTIMATED = "estimated"
    EXACT = "exact by construction"
    NOT_MEASURED = "not measured"


def runtime_of(fmt: str) -> str:
    return "onnx" if fmt == "onnx" else "litert"


@dataclass
class Option:
    format: str
    quant: str
    size_bytes: int
    size_provenance: Provenance
    size_source: str
    ram_bytes: int
    ram_provenance: Provenance
    ram_source: str
    decode_tok_s: float | None
    speed_provenance: Provenance
    speed_source: str
    top1: float | None
    kl_mean: float | None
    quality_provenance: Provenance
    quality_source: str
    fits: bool = True
    why_not: str = ""

    def to_json(self) -> dict[str, Any]:
        return {k: v.value if isinstance(v, Provenance) else v for k, v in asdict(self).items()}


def benchmark_table() -> dict[str, Any]:
    return json.loads(resources.files("edgekit").joinpath("data/benchmarks.json").read_text())


def family_run_table() -> dict[str, list[dict[str, Any]]]:
    """{family: measured runs of random-weight checkpoints of its released shapes}."""
    data = resources.files("edgekit").joinpath("data/family_runs.json")
    return json.loads(data.read_text()) if data.is_file() else {}


@dataclass(frozen=True)
class WeightBytes:
    total: int
    lookups: int  # per-layer embedding tables (Gemma 3n, 4): each token reads one row of them

    @property
    def per_token(self) -> int:
        return self.total - self.lookups


def _parameter_groups(ckpt: Checkpoint) -> tuple[int, int, int, int]:
    """(embedding + head, per-layer lookup tables, other matrices, vectors) parameter counts."""
    embedding = lookups = matrices = vectors = 0
    for name, (_, shape) in ckpt.tensors.items():
        count = math.prod(shape)
        role = ckpt.family.tensor_role(name)
        if len(shape) < 2:
            vectors += count
        elif role in ("embedding", "lm_head"):
            embedding += count
        elif role == "per_layer_embedding":
            lookups += count
        else:
            matrices += count
    return embedding, lookups, matrices, vectors


def kv_cache_bytes(family: Family, config: dict[str, Any], context: int) -> int:
    return family.kv_cache_bytes(config, context, KV_BYTES)


def estimated_bytes(ckpt: Checkpoint, fmt: str, quant: str) -> WeightBytes:
    """The artifact's size and its lookup tables' share; both recipes and formats store the
    per-layer tables as embedding lookups, at the embedding's bits."""
    embedding, lookups, matrices, vectors = _parameter_groups(ckpt)
    bits = recipe_named(quant).bits_for(fmt)
    assert bits is not None, f"{quant} sizes are only measured"
    embedding_bits, matrix_bits = bits
    size = ((embedding + lookups) * embedding_bits + matrices * matrix_bits + vectors * 32) / 8
    if fmt == "onnx":
        size += int(ckpt.config["vocab_size"]) * TOKENIZER_JSON_BYTES_PER_TOKEN
    return WeightBytes(int(size), int(lookups * embedding_bits / 8))


@dataclass(frozen=True)
class StepBytes:
    """What one decode step reads: weights (`WeightBytes.per_token`) and the KV cache it attends
    over, weighted by `cache_cost` weight bytes per cache byte (0 where the runtime's cache grows
    with the tokens held rather than being read whole)."""

    weights: int
    cache: int
    cache_cost: float

    @property
    def weighted(self) -> float:
        return self.weights + self.cache_cost * self.cache


def cache_byte_cost(table: dict[str, Any]) -> float:
    """Weight bytes' worth of LiteRT-LM decode time per byte of KV cache, from the table's int8
    `.litertlm` at two cache lengths, with a step's time proportional to weights + cost x cache."""
    short, long = sorted(
        (r for r in table["rows"] if (r["tool"], r["format"], r["quant"]) == ("edgekit", "litertlm", "int8")),
        key=lambda r: r["cache_length"],
    )
    short_cache, long_cache = (DEFAULT_MODEL_KV_BYTES_PER_TOKEN * r["cache_length"] for r in (short, long))
    slowdown = short["decode_tok_s"] / long["decode_tok_s"]
    return max(0.0, short["weight_bytes"] * (slowdown - 1) / (long_cache - slowdown * short_cache))


def measured_rows(table: dict[str, Any], context: int) -> dict[tuple[str, str], dict[str, Any]]:
    """edgekit's rows by (format, recipe); where a recipe was measured at several cache lengths,
    the one nearest the requested context."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for row in (r for r in table["rows"] if r["tool"] == "edgekit"):
        key = (row["format"], row["quant"])
        if key not in rows or abs(row["cache_length"] - context) < abs(rows[key]["cache_length"] - context):
            rows[key] = row
    return rows


def options(ckpt: Checkpoint, dev: Device, ram_gb: float, context: int) -> list[Option]:
    table = benchmark_table()
    meta = table["meta"]
    where = f"measured on {meta['machine']}, {meta['threads']} threads, {meta['date']}"
    rows = measured_rows(table, context)
    cache_cost = cache_byte_cost(table)
    measured = rows if ckpt.is_default else {}  # the table is the default model's
    own = {(r["format"], r["quant"]): r for r in family_run_table().get(ckpt.family.name, [])}
    usable = dev.usable_bytes(ram_gb)
    result = []
    for fmt in (f for f in dev.formats if f in ckpt.family.formats):
        # recipes whose size follows from the parameters, and any other the table measured (`auto`)
        quants = [r.name for r in recipes_for(fmt) if r.bits is not None or (fmt, r.name) in measured]
        for quant in quants:
            row = _same_recipe(measured, fmt, quant)
            reference = (
                row
                or _same_recipe(own, fmt, quant)
                or next((r for (f, _), r in own.items() if f == fmt), None)
                or _same_recipe(rows, fmt, quant)
                or rows.get((fmt, "int8"))
            )
            lookups = 0  # the default model, the only one measured, has no per-layer tables
            if row:
                size, size_source = (
                    int(row["mib"] * 2**20),
                    where + ("" if row["format"] == fmt else f" (its .{row['format']} twin: same model, same engine)"),
                )
            else:
                estimate, size_source = estimated_bytes(ckpt, fmt, quant), "parameters x bits per weight"
                scale = 1.0
                if reference and "estimated_mib" in reference and reference["quant"] == quant:
                    # bits per weight are the default model's; the family's own artifact corrects them
                    scale = reference["mib"] / reference["estimated_mib"]
                    size_source += f", corrected by the measured artifact of {_reference_model(reference)}"
                size, lookups = int(estimate.total * scale), int(estimate.lookups * scale)
            size_provenance = Provenance.MEASURED if row else Provenance.ESTIMATED
            ram = _ram(reference, size, ckpt.family, ckpt.config, context)
            ram_provenance = Provenance.MEASURED if row and dev.cpu_runtime else Provenance.ESTIMATED
            ram_source = (
                "LiteRT-LM's CPU peak; the GPU engine's memory was not measured"
                if not dev.cpu_runtime
                else f"peak RSS, KV cache moved to {context} tokens"
                if row
                else f"the measured {reference['quant']} {reference['format']} of {_reference_model(reference)} scaled by size"
                if reference
                else "artifact + KV cache (no measured reference)"
            )
            step = StepBytes(
                size - lookups,
                kv_cache_bytes(ckpt.family, ckpt.config, context),
                cache_cost if runtime_of(fmt) == "litert" else 0.0,
            )
            speed, speed_provenance, speed_source = (
                _speed(row, reference, step, where)
                if dev.cpu_runtime
                else (None, Provenance.NOT_MEASURED, "this device's runtime computes on the GPU; the table is CPU only")
            )
            if row:
                top1, kl, quality_provenance, quality_source = row["top1"], row["kl_mean"], Provenance.MEASURED, where
            elif recipe_named(quant).name == "fp32":
                top1, kl, quality_provenance, quality_source = (
                    None,
                    None,
                    Provenance.EXACT,
                    "tests: fp32 logits within 1e-3",
                )
            else:
                top1, kl, quality_provenance, quality_source = (
                    None,
                    None,
                    Provenance.NOT_MEASURED,
                    "run `edgekit validate --reference`",
                )
            option = Option(
                fmt,
                quant,
                size,
                size_provenance,
                size_source,
                ram,
                ram_provenance,
                ram_source,
                speed,
                speed_provenance,
                speed_source,
                top1,
                kl,
                quality_provenance,
                quality_source,
            )
            if dev.download_budget_mb and size > dev.download_budget_mb * 1e6:
                option.fits, option.why_not = (
                    False,
                    (f"is a {size / 1e6:.0f} MB download, over the {dev.download_budget_mb:.0f} MB budget"),
                )
            elif ram > usable:
                option.fits, option.why_not = (
                    False,
                    (f"needs ~{ram / 2**20:.0f} MiB, the app may use {usable / 2**20:.0f} MiB"),
                )
            result.append(option)
    return result


def _same_recipe(rows: dict[tuple[str, str], dict[str, Any]], fmt: str, quant: str) -> dict[str, Any] | None:
    """The row of this recipe in this format, or in its twin (same model, same engine)."""
    return rows.get((fmt, quant)) or rows.get((TWIN.get(fmt, ""), quant))


def _reference_kv_bytes(reference: dict[str, Any]) -> int:
    """The KV cache held in the reference's measured run."""
    if "run_kv_bytes" in reference:  # a family's own run records its cache
        return reference["run_kv_bytes"]
    return DEFAULT_MODEL_KV_BYTES_PER_TOKEN * reference["run_kv_tokens"]


def _ram(reference: dict[str, Any] | None, size: int, family: Family, config: dict[str, Any], context: int) -> int:
    """Peak RSS: the reference's memory beyond the runtime base and its KV cache, scaled by size."""
    if reference is None:
        return size + kv_cache_bytes(family, config, context)
    base = RUNTIME_BASE_BYTES[runtime_of(reference["format"])]
    weights_part = reference["run_peak_mib"] * 2**20 - base - _reference_kv_bytes(reference)
    return int(base + weights_part * size / (reference["mib"] * 2**20) + kv_cache_bytes(family, config, context))


def _reference_model(reference: dict[str, Any]) -> str:
    if "shape" in reference:
        return f"a random-weight {reference['shape']} (benchmarks/conversion_memory.md)"
    return "the default model"


def _speed(
    row: dict[str, Any] | None, reference: dict[str, Any] | None, step: StepBytes, where: str
) -> tuple[float | None, Provenance, str]:
    """Decode tok/s of a step reading `step`: the measured row, its cache moved to the requested
    context, or the reference's speed scaled by what a step reads."""
    if row:
        measured = StepBytes(step.weights, _reference_kv_bytes(row), step.cache_cost)
        if step.cache_cost == 0 or step.cache == measured.cache:
            return row["decode_tok_s"], Provenance.MEASURED, where
        return (
            round(row["decode_tok_s"] * measured.weighted / step.weighted, 1),
            Provenance.ESTIMATED,
            f"{where} with a {row['run_kv_tokens']}-token KV cache ({row['decode_tok_s']} tok/s), "
            "scaled to this context's cache by its measured cost",
        )
    if reference is None:
        return None, Provenance.NOT_MEASURED, "no measured row of this format"
    reference_step = StepBytes(
        int(reference.get("per_token_mib", reference["mib"]) * 2**20), _reference_kv_bytes(reference), step.cache_cost
    )
    measured = f"the measured {reference['quant']} {reference['format']} of {_reference_model(reference)}"
    if step.weighted < reference_step.weighted:  # per-token overheads do not shrink with the weights
        return (
            reference["decode_tok_s"],
            Provenance.ESTIMATED,
            f"at least {measured} ({reference['decode_tok_s']} tok/s), which reads more per token",
        )
    scaled = reference["decode_tok_s"] * reference_step.weighted / step.weighted
    return (
        round(scaled, 1),
        Provenance.ESTIMATED,
        f"{measured} ({reference['decode_tok_s']} tok/s) scaled by the bytes a token reads"
        + (", the KV cache at its measured cost" if step.cache_cost else ""),
    )


def _precision_class(quant: str) -> int:
    """0: the source's float weights (fp16 or fp32), then fewer bits (the guide's order)."""
    return recipe_named(quant).precision_rank


def _is_float(quant: str) -> bool:
    return recipe_named(quant).is_float


def recommend(opts: list[Option], dev: Device) -> tuple[Option | None, str]:
    """The guide's pick among what fits, and why: full precision unless memory (or, on the
    web, the download) forces fewer bits; among float artifacts the one needing least RAM."""
    fitting = [o for o in opts if o.fits]
    if not fitting:
        smallest = min(opts, key=lambda o: o.ram_bytes)
        return None, (
            f"nothing fits: the smallest, {smallest.quant} {smallest.format}, {smallest.why_not}; "
            "use a device with more memory, a shorter --context, or a smaller model"
        )
    best = min(
        fitting,
        key=lambda o: (
            _precision_class(o.quant),
            o.ram_bytes if _is_float(o.quant) else 0,
            dev.formats.index(o.format),
        ),
    )
    if _is_float(best.quant):
        why = f"the source's full precision fits ({best.quant} {best.format}: ~{best.ram_bytes / 2**20:.0f} MiB)"
        other = next(
            (o for o in opts if _is_float(o.quant) and o.quant != best.quant and o.format == best.format), None
        )
        if other:
            why += f"; {other.quant} needs ~{other.ram_bytes / 2**20:.0f} MiB"
        int8 = next((o for o in fitting if o.quant == "int8" and o.format == best.format), None)
        if int8 and int8.decode_tok_s and best.decode_tok_s and int8.top1 is not None:
            why += (
                f"; int8 {best.format} would decode {int8.decode_tok_s / best.decode_tok_s:.1f}x faster"
                f" in {int8.ram_bytes / best.ram_bytes:.0%} of the memory, at {int8.top1:.1%} top-1"
            )
    else:
        forced = [o for o in opts if _precision_class(o.quant) < _precision_class(best.quant) and not o.fits]
        reasons = "; ".join(f"{o.quant} {o.format} {o.why_not}" for o in forced if o.format == best.format)
        why = f"nothing more precise fits ({reasons or 'see the table'}), so {best.quant} it is"
        if any("download" in o.why_not for o in forced):
            why += f" ({dev.download_note})"
    why += f"; {best.format}: the first of {dev.name}'s formats in preference order ({', '.join(dev.formats)}): {dev.runtime_note}"
    return best, why


def chat_warning(ckpt: Checkpoint, app: str) -> str | None:
    if app != "chat":
        return None
    tuned, evidence = ckpt.variant()
    if tuned is False:
        return (
            f"this checkpoint is pretrained ({evidence}): it continues text and does not follow chat turns; "
            "for a chat app convert the instruction-tuned (-it) variant"
        )
    if tuned is None:
        return f"cannot tell whether this checkpoint is instruction-tuned ({evidence}); a chat app needs an -it model"
    return None


def plan(ckpt: Checkpoint, dev: Device, ram_gb: float | None, context: int, app: str) -> dict[str, Any]:
    ram = ram_gb if ram_gb is not None else dev.default_ram_gb
    if not set(dev.formats) & set(ckpt.family.formats):
        raise EdgekitError(
            f"{ckpt.family.display_name} converts to {', '.join(ckpt.family.formats)} only, and {dev.name}'s runtimes "
            f"load {', '.join(dev.formats)}",
            f"plan for a device that loads {', '.join(ckpt.family.formats)} (e.g. --device desktop)",
        )
    opts = options(ckpt, dev, ram, context)
    best, why = recommend(opts, dev)
    tuned, evidence = ckpt.variant()
    return {
        "device": dev.name,
        "ram_gb": ram,
        "ram_note": "given with --ram" if ram_gb is not None else f"default: {dev.ram_note}",
        "usable_mib": round(dev.usable_bytes(ram) / 2**20),
        "download_budget_mb": dev.download_budget_mb,
        "context": context,
        "checkpoint": {
            "path": str(ckpt.path),
            "family": ckpt.family.display_name,
            "parameters": ckpt.parameter_count,
            "effective_parameters": ckpt.effective_parameter_count,
            "instruction_tuned": tuned,
            "variant_evidence": evidence,
            "default_model": ckpt.is_default,
        },
        "options": [o.to_json() for o in opts],
        "recommendation": best.to_json() if best else None,
        "why": why,
        "validate_note": dev.validate_note or None,
        "warnings": [w for w in (chat_warning(ckpt, app),) if w],
    }
