"""A recipe of the table (`edgekit.core.recipes`) as an ai-edge-quantizer per-op recipe list.

Scopes are matched against op output names; later entries win where several match. Only the
ops that hold the model's weights are named: quantizing every supported op ("*") also hits
constant tensors such as Gemma 1's all-zero ones, whose zero int4 scale XNNPACK refuses.
"""

from __future__ import annotations

from typing import Any

from edgekit.core.errors import EdgekitError
from edgekit.core.recipes import BLOCK_SIZES, FC, LiteRtRule, recipe_named, recipes_for


def _weights(rule: LiteRtRule, block_size: int) -> dict[str, Any]:
    granularity = f"BLOCKWISE_{block_size}" if rule.granularity == "BLOCKWISE" else rule.granularity
    return {
        "regex": rule.scope,
        "operation": rule.op,
        "algorithm_key": "min_max_uniform_quantize",
        "op_config": {
            "weight_tensor_config": {
                "num_bits": rule.bits,
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


def recipe(quant: str, block_size: int = 32, int8_scope: str | None = None) -> list[dict[str, Any]] | None:
    """The quantizer recipe for `quant`; None means keep float32 weights. `int8_scope` names
    fully-connected ops whose inputs are narrower than a block (a family's, e.g. Gemma 3n's AltUp
    mixing): they get 8 bits per channel where the recipe has blocks."""
    if block_size not in BLOCK_SIZES:
        raise EdgekitError(
            f"block size {block_size} is not supported", f"use one of {', '.join(map(str, BLOCK_SIZES))}"
        )
    chosen = recipe_named(quant)
    if "litertlm" not in chosen.formats:
        raise EdgekitError(
            f"--quant {quant} is not available for LiteRT bundles",
            f"use one of {', '.join(r.name for r in recipes_for('litertlm'))}",
        )
    if chosen.litert_float16:
        return [_float16()]
    if not chosen.litert_rules:
        return None
    rules = list(chosen.litert_rules)
    if int8_scope and any(rule.granularity == "BLOCKWISE" for rule in rules):
        rules.append(LiteRtRule(8, "CHANNELWISE", FC, int8_scope))  # later entries win
    return [_weights(rule, block_size) for rule in rules]
