"""`edgekit plan`: what each recipe x artifact costs on a device, and which one to ship.

Where each number comes from (every option says which applies to it):
- size: measured, from `edgekit/data/benchmarks.json` (written by `benchmarks/run.py` on the
  default model); otherwise estimated from the checkpoint's parameters at the recipe's bits per
  weight, calibrated on those measured artifacts (LiteRT int8 8.5 bits, int4 4.74 bits: the
  270M's int8/int4/mixed `.litertlm` come out within 1% of the estimate).
- RAM at run time: measured peak RSS of `edgekit bench` from the same table, with the KV
  cache moved to the requested context; for artifacts not in it, the same-recipe (else int8)
  row's memory above the runtime's own base, scaled by size. The bases, each with edgekit's
  Python runtime around it, come from the 2026-11-22 table: LiteRT-LM 337 MiB (int8 peaks at
  566 MiB for 272 MiB, int4 at 481 MiB for 152 MiB, 1024-token cache: a line through both),
  onnxruntime 568 MiB (int8: 878 MiB for a 296 MiB folder at 384 KV tokens). The KV cache is float32, every layer at full length, as the converters
  export it. Float LiteRT bundles are the surprise: on x86 the fp16 bundle peaks far above
  the fp32 one (its DEQUANTIZE ops materialise float32 weights), so they are quoted measured.
- decode speed: measured rows (machine, threads and date stated); otherwise scaled from the
  measured row of the same format by weight bytes (decode reads every weight once per token),
  marked as an estimate.
- quality: measured teacher-forced top-1 and KL against the source, default model only.

The choice follows the Gemma guide: an instruction-tuned core model with the fewest
parameters, at 16 bits unless memory forces 8 or 4 bits; among artifacts of that precision,
the device's preferred runtime.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from importlib import resources
from typing import Any

from edgekit.intake.checkpoint import Checkpoint
from edgekit.app.devices import Device

# The guide: the source's float weights unless memory forces 8 or 4 bits.
FLOAT = ("fp16", "fp32")
QUANTIZED_PREFERENCE = ("int8", "auto", "mixed", "int4")
RECIPES = {"litert": ("fp32", "fp16", "int8", "mixed", "int4"), "onnx": ("fp32", "int8", "mixed", "int4")}
# (embedding bits, other matrices' bits) per weight; norms stay float32.
BITS = {"fp32": (32.0, 32.0), "fp16": (16.0, 16.0), "int8": (8.5, 8.5), "mixed": (8.5, 4.74), "int4": (4.74, 4.74)}
RUNTIME_BASE_BYTES = {"litert": 337 * 2**20, "onnx": 568 * 2**20}
TOKENIZER_JSON_BYTES_PER_TOKEN = 126  # the ONNX folder's tokenizer.json (33 MB for Gemma 3's 262k)
KV_BYTES = 4
# The benchmark table's model (Gemma 3 270M): its KV-cache shape, to take the measured cache out.
DEFAULT_MODEL_SHAPE = {"num_hidden_layers": 18, "num_key_value_heads": 1, "head_dim": 256}


# .task and .litertlm carry the same LiteRT model and run in the same engine.
TWIN = {"task": "litertlm", "litertlm": "task"}


def runtime_of(fmt: str) -> str:
    return "onnx" if fmt == "onnx" else "litert"


@dataclass
class Option:
    format: str
    quant: str
    size_bytes: int
    size_source: str
    ram_bytes: int
    ram_source: str
    decode_tok_s: float | None
    speed_source: str
    top1: float | None
    kl_mean: float | None
    quality_source: str
    fits: bool = True
    why_not: str = ""


def benchmark_table() -> dict[str, Any]:
    return json.loads(resources.files("edgekit").joinpath("data/benchmarks.json").read_text())


def _parameter_groups(ckpt: Checkpoint) -> tuple[int, int, int]:
    """(embedding + head, other matrices, vectors) parameter counts."""
    embedding = matrices = vectors = 0
    for name, (_, shape) in ckpt.tensors.items():
        count = math.prod(shape)
        if len(shape) < 2:
            vectors += count
        elif "embed" in name or "token_embd" in name or "lm_head" in name or name == "output.weight":
            embedding += count
        else:
            matrices += count
    return embedding, matrices, vectors


def kv_cache_bytes(config: dict[str, Any], context: int) -> int:
    return 2 * int(config["num_hidden_layers"]) * int(config["num_key_value_heads"]) * int(
        config["head_dim"]) * context * KV_BYTES


def _estimated_size(ckpt: Checkpoint, fmt: str, quant: str) -> int:
    embedding, matrices, vectors = _parameter_groups(ckpt)
    embedding_bits, matrix_bits = BITS[quant]
    size = (embedding * embedding_bits + matrices * matrix_bits + vectors * 32) / 8
    if fmt == "onnx":
        size += int(ckpt.config["vocab_size"]) * TOKENIZER_JSON_BYTES_PER_TOKEN
    return int(size)


def options(ckpt: Checkpoint, dev: Device, ram_gb: float, context: int) -> list[Option]:
    table = benchmark_table()
    meta = table["meta"]
    where = f"measured on {meta['machine']}, {meta['threads']} threads, {meta['date']}"
    rows = {(r["format"], r["quant"]): r for r in table["rows"] if r["tool"] == "edgekit"}
    measured = rows if ckpt.is_default else {}  # the table is the default model's
    kv = kv_cache_bytes(ckpt.config, context)
    usable = dev.usable_bytes(ram_gb)
    result = []
    for fmt in dev.formats:
        quants = list(RECIPES[runtime_of(fmt)])
        quants += [q for (f, q) in measured if f == fmt and q not in quants]  # e.g. onnx `auto`
        for quant in quants:
            row = _same_recipe(measured, fmt, quant)
            if row:
                size, size_source = int(row["mib"] * 2**20), where + ("" if row["format"] == fmt else
                                                                       f" (its .{row['format']} twin: same model, same engine)")
            else:
                size, size_source = _estimated_size(ckpt, fmt, quant), "estimate (parameters x bits per weight)"
            reference = row or _same_recipe(rows, fmt, quant) or rows.get((fmt, "int8"))
            ram = _ram(reference, size, ckpt.config, context)
            ram_source = ("estimate: LiteRT-LM's CPU peak; the GPU engine's memory was not measured"
                          if not dev.cpu_runtime else
                          f"measured peak RSS, KV cache moved to {context} tokens" if row else
                          f"estimate: the measured {reference['quant']} {fmt} scaled by size" if reference else
                          "estimate: artifact + KV cache (no measured reference)")
            speed, speed_source = _speed(row, reference, size, fmt, where) if dev.cpu_runtime else (
                None, "not measured: this device's runtime computes on the GPU; the table is CPU only")
            if row:
                top1, kl, quality_source = row["top1"], row["kl_mean"], where
            elif quant == "fp32":
                top1, kl, quality_source = None, None, "exact by construction (tests: fp32 logits within 1e-3)"
            else:
                top1, kl, quality_source = None, None, "not measured: run `edgekit validate --reference`"
            option = Option(fmt, quant, size, size_source, ram, ram_source, speed, speed_source, top1, kl, quality_source)
            if dev.download_budget_mb and size > dev.download_budget_mb * 1e6:
                option.fits, option.why_not = False, (
                    f"is a {size / 1e6:.0f} MB download, over the {dev.download_budget_mb:.0f} MB budget")
            elif ram > usable:
                option.fits, option.why_not = False, (
                    f"needs ~{ram / 2**20:.0f} MiB, the app may use {usable / 2**20:.0f} MiB")
            result.append(option)
    return result


def _same_recipe(rows: dict[tuple[str, str], dict[str, Any]], fmt: str, quant: str) -> dict[str, Any] | None:
    """The row of this recipe in this format, or in its twin (same model, same engine)."""
    return rows.get((fmt, quant)) or rows.get((TWIN.get(fmt, ""), quant))


def _ram(reference: dict[str, Any] | None, size: int, config: dict[str, Any], context: int) -> int:
    """Peak RSS: the reference's memory beyond the runtime base and its KV cache, scaled by size."""
    if reference is None:
        return size + kv_cache_bytes(config, context)
    base = RUNTIME_BASE_BYTES[runtime_of(reference["format"])]
    reference_kv = kv_cache_bytes(DEFAULT_MODEL_SHAPE, reference["run_kv_tokens"])
    weights_part = reference["run_peak_mib"] * 2**20 - base - reference_kv
    return int(base + weights_part * size / (reference["mib"] * 2**20) + kv_cache_bytes(config, context))


def _speed(row: dict[str, Any] | None, reference: dict[str, Any] | None, size: int, fmt: str,
           where: str) -> tuple[float | None, str]:
    if row:
        return row["decode_tok_s"], where
    if reference is None:
        return None, "not measured"
    reference_bytes = reference["mib"] * 2**20
    if size < reference_bytes:  # per-token overheads do not shrink with the weights
        return reference["decode_tok_s"], (f"estimate: at least the measured {reference['quant']} {fmt} "
                                           f"({reference['decode_tok_s']} tok/s) of a larger model")
    scaled = reference["decode_tok_s"] * reference_bytes / size
    return round(scaled, 1), (f"estimate: the measured {reference['quant']} {fmt} "
                              f"({reference['decode_tok_s']} tok/s) scaled by size")


def _precision_class(quant: str) -> int:
    """0: the source's float weights (fp16 or fp32), then fewer bits (the guide's order)."""
    return 0 if quant in FLOAT else 1 + QUANTIZED_PREFERENCE.index(quant) if quant in QUANTIZED_PREFERENCE else 9


def recommend(opts: list[Option], dev: Device) -> tuple[Option | None, str]:
    """The guide's pick among what fits, and why: full precision unless memory (or, on the
    web, the download) forces fewer bits; among float artifacts the one needing least RAM."""
    fitting = [o for o in opts if o.fits]
    if not fitting:
        smallest = min(opts, key=lambda o: o.ram_bytes)
        return None, (f"nothing fits: the smallest, {smallest.quant} {smallest.format}, {smallest.why_not}; "
                      "use a device with more memory, a shorter --context, or a smaller model")
    best = min(fitting, key=lambda o: (_precision_class(o.quant), o.ram_bytes if o.quant in FLOAT else 0,
                                       dev.formats.index(o.format)))
    if best.quant in FLOAT:
        why = f"the source's full precision fits ({best.quant} {best.format}: ~{best.ram_bytes / 2**20:.0f} MiB)"
        other = next((o for o in opts if o.quant in FLOAT and o.quant != best.quant and o.format == best.format), None)
        if other:
            why += f"; {other.quant} needs ~{other.ram_bytes / 2**20:.0f} MiB"
        int8 = next((o for o in fitting if o.quant == "int8" and o.format == best.format), None)
        if int8 and int8.decode_tok_s and best.decode_tok_s and int8.top1 is not None:
            why += (f"; int8 {best.format} would decode {int8.decode_tok_s / best.decode_tok_s:.1f}x faster"
                    f" in {int8.ram_bytes / best.ram_bytes:.0%} of the memory, at {int8.top1:.1%} top-1")
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
        return (f"this checkpoint is pretrained ({evidence}): it continues text and does not follow chat turns; "
                "for a chat app convert the instruction-tuned (-it) variant")
    if tuned is None:
        return f"cannot tell whether this checkpoint is instruction-tuned ({evidence}); a chat app needs an -it model"
    return None


def plan(ckpt: Checkpoint, dev: Device, ram_gb: float | None, context: int, app: str) -> dict[str, Any]:
    ram = ram_gb if ram_gb is not None else dev.default_ram_gb
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
            "path": str(ckpt.path), "family": ckpt.family.display_name, "parameters": ckpt.parameter_count,
            "instruction_tuned": tuned, "variant_evidence": evidence, "default_model": ckpt.is_default,
        },
        "options": [asdict(o) for o in opts],
        "recommendation": asdict(best) if best else None,
        "why": why,
        "warnings": [w for w in (chat_warning(ckpt, app),) if w],
    }
