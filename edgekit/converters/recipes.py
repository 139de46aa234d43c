"""Quantization recipes for the LiteRT path, as ai-edge-quantizer per-op recipe lists.

Scopes are matched against op output names: in litert-torch's export the output projection is
the decode signature's `decode_logits_output` fully-connected op, and the embedding is the one
EMBEDDING_LOOKUP. Later entries win where several match.
"""

from __future__ import annotations

from typing import Any

from edgekit.core.errors import EdgekitError

QUANT_CHOICES = ("int8", "int4", "mixed", "fp16", "fp32")
BLOCK_SIZES = (32, 64, 128, 256)
LOGITS_SCOPE = "logits"
# Only the ops that hold the model's weights: quantizing every supported op ("*") also hits
# constant tensors such as Gemma 1's all-zero ones, whose zero int4 scale XNNPACK refuses.
WEIGHT_OPS = ("FULLY_CONNECTED", "EMBEDDING_LOOKUP")


def _weights(bits: int, granularity: str, operation: str, regex: str = ".*") -> dict[str, Any]:
    return {
        "regex": regex,
        "operation": operation,
        "algorithm_key": "min_max_uniform_quantize",
        "op_config": {
            "weight_tensor_config": {
                "num_bits": bits,
                "symmetric": True,
                "granularity": granularity,
                "dtype": "INT",
            },
            "compute_precision": "INTEGER",
            "explicit_dequantize": False,
            "skip_checks": False,
            "min_weight_elements": 0,
        },
    }


def _float16() -> dict[str, Any]:
    return {
        "regex": ".*",
        "operation": "*",
        "algorithm_key": "float_casting",
        "op_config": {
            "weight_tensor_config": {"num_bits": 16, "dtype": "FLOAT"},
            "compute_precision": "FLOAT",
            "explicit_dequantize": True,
            "skip_checks": False,
            "min_weight_elements": 0,
        },
    }


def recipe(quant: str, block_size: int = 32) -> list[dict[str, Any]] | None:
    """The recipe for `quant`; None means keep float32 weights."""
    if block_size not in BLOCK_SIZES:
        raise EdgekitError(
            f"block size {block_size} is not supported",
            f"use one of {', '.join(map(str, BLOCK_SIZES))}",
        )
    blockwise = f"BLOCKWISE_{block_size}"
    if quant == "fp32":
        return None
    if quant == "fp16":
        return [_float16()]
    if quant == "int8":
        return [_weights(8, "CHANNELWISE", op) for op in WEIGHT_OPS]
    if quant == "int4":
        return [_weights(4, blockwise, op) for op in WEIGHT_OPS]
    if quant == "mixed":
        # int4 transformer blocks; int8 where int4 error costs most on small models:
        # the token embedding and the output projection.
        return [
            _weights(4, blockwise, "FULLY_CONNECTED"),
            _weights(8, "CHANNELWISE", "EMBEDDING_LOOKUP"),
            _weights(8, "CHANNELWISE", "FULLY_CONNECTED", regex=LOGITS_SCOPE),
        ]
    raise EdgekitError(f"unknown quantization {quant!r}", f"use one of {', '.join(QUANT_CHOICES)}")
