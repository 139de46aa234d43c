"""A recipe of the table (`edgekit.core.recipes`) as an ai-edge-quantizer per-op recipe list.

Scopes are matched against op output names; later entries win where several match. Only the
ops that hold the model's weights are named: quantizing every supported op ("*") also hits
constant tensors such as Gemma 1's all-zero ones, whose zero int4 scale XNNPACK refuses.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from edgekit.core.errors import EdgekitError
from edgekit.core.recipes import BLOCK_SIZES, FC, LiteRtRule, recipe_named, recipes_for


def quantizer_entry(
    rule: LiteRtRule, block_size: int, algorithm: str = "min_max_uniform_quantize", integer_compute: bool = True
) -> dict[str, Any]:
    """`rule` as one entry of the quantizer's recipe list. `algorithm` (the quantizer's rounding:
    OCTAV, MSE, GPTQ, ...) and `integer_compute=False` (weights dequantized to float at run
    time) are for the lever measurements in benchmarks/; the shipped recipes use the defaults."""
    granularity = f"BLOCKWISE_{block_size}" if rule.granularity == "BLOCKWISE" else rule.granularity
    weights: dict[str, Any] = {"num_bits": rule.bits, "symmetric": True, "granularity": granularity, "dtype": "INT"}
    if rule.rotation:
        weights["algorithm_params"] = {"max_hadamard_size": rule.rotation}
    return {
        "regex": rule.scope,
        "operation": rule.op,
        # rotated ops: a reshape and float matmul around the op (runs everywhere LiteRT does)
        "algorithm_key": "DECOMPOSED_HADAMARD_ROTATION" if rule.rotation else algorithm,
        "op_config": {
            "weight_tensor_config": weights,
            "compute_precision": "INTEGER" if integer_compute else "FLOAT",
            "explicit_dequantize": not integer_compute,
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


def recipe(
    quant: str,
    block_size: int = 32,
    int8_scope: str | None = None,
    rotate: bool = True,
    rotate_blocks: bool = True,
) -> list[dict[str, Any]] | None:
    """The quantizer recipe for `quant`; None means keep float32 weights. `int8_scope` names
    fully-connected ops whose inputs are narrower than a block (a family's, e.g. Gemma 3n's AltUp
    mixing): they get 8 bits per channel where the recipe has blocks. `rotate=False` drops the
    rules' Hadamard rotation (litert-torch's Gemma 3n/4 models have fully-connected ops whose
    weights are not constants, which the quantizer cannot rotate); `rotate_blocks=False` drops
    it from the int4 blocks only, which then carry a GGUF's Q4_0 blocks in the weights' own
    basis (`litert_carry`)."""
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
    return rule_entries(chosen.litert_rules, block_size, int8_scope, rotate, rotate_blocks)


def rule_entries(
    rules: tuple[LiteRtRule, ...],
    block_size: int,
    int8_scope: str | None = None,
    rotate: bool = True,
    rotate_blocks: bool = True,
) -> list[dict[str, Any]]:
    """`rules` as the quantizer's recipe list, under the family's `int8_scope`, `rotate` and
    `rotate_blocks` (see `recipe`); also how `--quant auto` writes its plan (`litert_auto`)."""
    kept = [
        rule if rotate and (rotate_blocks or rule.granularity != "BLOCKWISE") else replace(rule, rotation=0)
        for rule in rules
    ]
    if int8_scope and any(rule.granularity == "BLOCKWISE" for rule in kept):
        kept.append(LiteRtRule(8, "CHANNELWISE", FC, int8_scope))  # later entries win
    return [quantizer_entry(rule, block_size) for rule in kept]
