"""Weight-only quantization of the exported ONNX decoder: a plan per weight, written as MatMulNBits.

Per weight, by recipe: `int8` stores 8-bit codes, `int4` 4-bit codes (block `--block-size`),
`mixed` 4-bit with the tied embedding/output projection at 8 bits. When the checkpoint is a
GGUF, a weight whose GGUF blocks fit the recipe's width is carried over exactly (Q4_0/Q4_1/
Q4_K into 4 bits; Q5_*/Q6_K/Q8_0 into 8 bits) instead of being re-quantized from its
dequantized floats; the rest is quantized round-to-nearest. Measured on the default Gemma 3
270M (Q4_K_M): see benchmarks/results.md. `accuracy_level` is MatMulNBits' compute type for the
activations (4 = int8, the fast path; 0 = float32, which onnxruntime 1.31 runs 40x slower at 8 bits).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from converters.block_quant import quantize_blocks
from converters.gguf_match import carried_blocks
from converters.onnx_blocks import storage_bytes
from converters.onnx_weights import Weight, apply_blocks, find_weights, float_weight
from edgekit.errors import EdgekitError
from edgekit.formats.gguf_blocks import Blocks

ONNX_QUANTS = ("int8", "int4", "mixed")
_FALLBACK_BLOCKS = (128, 64, 32, 16)


@dataclass(frozen=True)
class PlannedWeight:
    weight: Weight
    blocks: Blocks
    gguf_tensor: str | None  # set when the blocks were carried over from this GGUF tensor

    def record(self) -> dict[str, Any]:
        return {"gguf_tensor": self.gguf_tensor, "origin": self.blocks.origin, "bits": self.blocks.bits,
                "block": self.blocks.block, "shape": [self.weight.rows, self.weight.cols],
                "bytes": storage_bytes(self.blocks)}


def _block_for(cols: int, wanted: int) -> int:
    """`wanted` if it divides the row, else the largest standard block that does."""
    for block in (wanted, *_FALLBACK_BLOCKS):
        if cols % block == 0:
            return block
    raise EdgekitError(f"a weight row of {cols} values cannot be split into blocks of 16 or more",
                       "use --target android (LiteRT) for this checkpoint")


def recipe_bits(quant: str, weight: Weight) -> int:
    return 8 if quant == "int8" or (quant == "mixed" and weight.is_embedding) else 4


def plan_weights(model, quant: str, block_size: int, gguf_path: Path | None) -> list[PlannedWeight]:
    weights = find_weights(model)
    carried: dict[str, tuple[str, Blocks]] = {}
    if gguf_path is not None:
        by_key = {w.key: w for w in weights}

        def rows_of(key: str, rows: tuple[int, ...]) -> np.ndarray:
            from onnx import numpy_helper

            init = next(i for i in model.graph.initializer if i.name == key)
            array = numpy_helper.to_array(init)
            return array[list(rows)] if by_key[key].is_embedding else array[:, list(rows)].T

        carried = carried_blocks(gguf_path, {w.key: (w.rows, w.cols) for w in weights}, rows_of)
    plan = []
    for weight in weights:
        bits = recipe_bits(quant, weight)
        if weight.key in carried:
            name, blocks = carried[weight.key]
            if blocks.bits == 4 or bits == 8:  # the GGUF's own blocks fit the recipe's width
                plan.append(PlannedWeight(weight, blocks, name))
                continue
        block = _block_for(weight.cols, 32 if bits == 8 else block_size)
        plan.append(PlannedWeight(weight, quantize_blocks(float_weight(model, weight), bits, block), None))
    return plan


def summarize(plan: list[PlannedWeight]) -> dict[str, Any]:
    by_origin: dict[str, dict[str, int]] = {}
    for planned in plan:
        entry = by_origin.setdefault(planned.blocks.origin, {"tensors": 0, "values": 0, "bytes": 0})
        entry["tensors"] += 1
        entry["values"] += planned.weight.rows * planned.weight.cols
        entry["bytes"] += storage_bytes(planned.blocks)
    return {"by_origin": by_origin, "weights": [p.record() for p in plan]}


def quantize_onnx(float_model: Path, quant: str, block_size: int, out: Path, accuracy_level: int = 4,
                  gguf_path: Path | None = None) -> dict[str, Any]:
    """Writes `out` (+ `out.data`); returns the plan summary recorded in the manifest."""
    import onnx

    if quant not in ONNX_QUANTS:
        raise EdgekitError(f"--quant {quant} is not available for ONNX", "use int8, int4, mixed or fp32")
    model = onnx.load(str(float_model))
    plan = plan_weights(model, quant, block_size, gguf_path)
    apply_blocks(model, {p.weight.key: p.blocks for p in plan}, accuracy_level)
    onnx.save(model, str(out), save_as_external_data=True, location=out.name + ".data")
    return summarize(plan)
