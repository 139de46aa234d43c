"""A GGUF's Q4_0 blocks carried into a quantized LiteRT model's int4 weights, instead of
rounding the dequantized values a second time.

Q4_0, what Google's quantization-aware-trained Gemma releases ship, stores `d * (q - 8)`:
blocks of 32, one fp16 scale, codes offset by 8 — XNNPACK's blockwise int4 layout. But XNNPACK
refuses a negative scale ("unsupported scale value (-0.070068) ... for INT4 tensor"), and
Q4_0's scale is negative in every block whose largest-magnitude weight is positive
(`d = max / -8`). Such a block is stored as `|d| * (8 - q)`: exact for every weight but the
block's extreme one(s), whose code 8 does not exist in int4 and is stored as 7 (that weight
loses an eighth of its value). Any other scale would move most of the block's 32 weights.
The record counts, per tensor, the blocks stored exactly and the weights clipped.

Weights are found by value (`gguf_match`): the float LiteRT model was exported from the
GGUF's dequantized weights, so its matrices equal the GGUF tensors they came from.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.converters.gguf_match import carried_blocks
from edgekit.converters.tflite_buffers import BlockwiseWeight, blockwise_weights, float_matrices, read_model
from edgekit.formats.gguf import open_gguf
from edgekit.formats.gguf_blocks import Blocks

CARRIED_INTO_INT4 = "Q4_0"  # the one GGUF type whose blocks int4 holds (symmetric, 32, fp16 scale)


def _pack_int4(codes: np.ndarray) -> np.ndarray:
    """Signed codes in [-8, 7] -> bytes, two per byte, the first in the low nibble."""
    nibbles = (codes.astype(np.int8) & 0x0F).astype(np.uint8).reshape(-1, 2)
    return nibbles[:, 0] | (nibbles[:, 1] << 4)


def _store(weight: BlockwiseWeight, blocks: Blocks) -> dict[str, int]:
    """Write `blocks` into the weight's buffers; returns what was exact."""
    rows, cols = weight.shape
    sign = np.where(blocks.scale < 0, -1, 1).astype(np.int16)  # (rows, cols // 32)
    codes = (blocks.q.astype(np.int16) - blocks.zero).reshape(rows, cols // blocks.block, blocks.block)
    codes = codes * sign[..., None]
    over = codes > 7  # only in blocks whose scale was negative: their extreme weight
    weight.codes[:] = _pack_int4(np.minimum(codes, 7).reshape(rows, cols))
    weight.scales[:] = np.abs(blocks.scale).astype(weight.scales.dtype).reshape(-1)
    return {
        "blocks": int(sign.size),
        "exact_blocks": int(sign.size - over.any(axis=-1).sum()),
        "clipped_values": int(over.sum()),
    }


def carry_q4_0_blocks(float_tflite: Path, data: bytearray, gguf_path: Path) -> dict[str, Any] | None:
    """Rewrite, in the quantized model bytes `data`, every int4 weight that a Q4_0 tensor of
    `gguf_path` holds in the same blocks of 32; the others keep the quantizer's rounding.
    Returns the per-tensor record the manifest keeps; None when the model has no int4 weights."""
    targets = {str(i): w for i, w in enumerate(blockwise_weights(read_model(data), data))}
    if not targets:
        return None
    float_bytes = float_tflite.read_bytes()
    floats = float_matrices(read_model(float_bytes), float_bytes)
    matched = carried_blocks(
        gguf_path,
        {key: w.shape for key, w in targets.items() if w.name in floats},
        lambda key, rows: floats[targets[key].name][list(rows)],
        shared=True,
    )
    weights, not_carried = [], Counter()
    for key, weight in targets.items():
        gguf_tensor, blocks = matched.get(key, (None, None))
        entry = {"gguf_tensor": gguf_tensor, "origin": "int4", "shape": list(weight.shape)}
        if blocks is not None and blocks.origin == CARRIED_INTO_INT4 and blocks.block == weight.block:
            entry = {**entry, "origin": blocks.origin, **_store(weight, blocks)}
        elif blocks is not None and blocks.origin == CARRIED_INTO_INT4:
            not_carried[f"Q4_0 (the recipe's blocks of {weight.block})"] += 1
        else:
            not_carried[blocks.origin if blocks else "float"] += 1
        weights.append(entry)
    carried = [w for w in weights if w["origin"] == CARRIED_INTO_INT4]
    return {
        "carried_tensors": len(carried),
        "blocks": sum(w["blocks"] for w in carried),
        "exact_blocks": sum(w["exact_blocks"] for w in carried),
        "clipped_values": sum(w["clipped_values"] for w in carried),
        "requantized": dict(sorted(not_carried.items())),
        "weights": weights,
    }


def holds_q4_0(gguf_path: Path) -> bool:
    """Whether any matrix of the GGUF is in Q4_0 blocks (what int4 can carry)."""
    return any(t.type_name == CARRIED_INTO_INT4 and len(t.shape) == 2 for t in open_gguf(gguf_path).tensors)


def carry_summary(record: dict[str, Any]) -> str:
    """One line for the conversion log: what was carried, what was rounded again and from what."""
    if record["carried_tensors"]:
        line = (
            f"{record['carried_tensors']} int4 weights carry the GGUF's Q4_0 blocks "
            f"({record['exact_blocks'] / record['blocks']:.1%} of blocks exact; {record['clipped_values']} "
            "extreme weights of negative-scale blocks stored as code 7, as XNNPACK takes no negative scale)"
        )
    else:
        line = "no int4 weight carries the GGUF's Q4_0 blocks"
    if record["requantized"]:
        kinds = ", ".join(f"{n} from {origin}" for origin, n in record["requantized"].items())
        line += f"; re-quantized from float: {kinds}"
    return line
