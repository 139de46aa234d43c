"""Apply one of edgekit's recipes to the float LiteRT model with ai-edge-quantizer, then carry
a Q4_0 GGUF's own blocks into its int4 weights (`litert_carry`); `auto` plans its recipe for a
size budget first (`litert_auto`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgekit.converters.litert_auto import (
    ATTEMPTS,
    LiteRtBudget,
    auto_rules,
    group_kind,
    one_of_each_kind,
    plan_groups,
)
from edgekit.converters.litert_carry import carry_q4_0_blocks
from edgekit.converters.litert_fixups import repair_zero_scales
from edgekit.converters.quant_auto import AutoPlan, next_target
from edgekit.converters.recipes import recipe, rule_entries
from edgekit.core.errors import EdgekitError


@dataclass(frozen=True)
class QuantizedTflite:
    path: Path
    weights: dict[str, Any] | None = None  # which int4 weights carried GGUF blocks (litert_carry)
    quantizer_recipe: list[dict[str, Any]] | None = None  # what the quantizer was given
    auto: dict[str, Any] | None = None  # the budget plan (`AutoPlan.record`)


def quantize_tflite(
    float_tflite: Path,
    quant: str,
    block_size: int,
    out: Path,
    int8_scope: str | None = None,
    gguf: Path | None = None,
    rotate: bool = True,
    budget: LiteRtBudget | None = None,
    on_stage: Callable[[str], None] = lambda note: None,
) -> QuantizedTflite:
    """Write the quantized model to `out`; fp32 returns the float model unchanged. `gguf`: the
    Q4_0 checkpoint the float model was exported from, whose blocks int4 weights carry
    (unrotated, so that they hold the GGUF's values);
    `rotate`: see `recipe`; `budget`: `auto`'s scan and size; `on_stage`: its progress."""
    if budget is not None:
        return _within_budget(float_tflite, budget, block_size, out, int8_scope, rotate, on_stage)
    plan = recipe(quant, block_size, int8_scope, rotate, rotate_blocks=gguf is None)
    if plan is None:
        return QuantizedTflite(float_tflite)
    return QuantizedTflite(out, _quantize(float_tflite, plan, out, gguf), plan)


def _quantize(float_tflite: Path, plan: list[dict[str, Any]], out: Path, gguf: Path | None) -> dict[str, Any] | None:
    from ai_edge_quantizer import quantizer

    qt = quantizer.Quantizer(str(float_tflite))
    qt.load_quantization_recipe(plan)
    qt.quantize().export_model(str(out), overwrite=True)
    data = bytearray(out.read_bytes())
    weights = None
    if gguf is not None:
        weights = carry_q4_0_blocks(float_tflite, data, gguf)
    repair_zero_scales(data)  # after the carry: an all-zero Q4_0 block has scale 0 too
    out.write_bytes(data)
    return weights


def _within_budget(
    float_tflite: Path,
    budget: LiteRtBudget,
    block_size: int,
    out: Path,
    int8_scope: str | None,
    rotate: bool,
    on_stage: Callable[[str], None],
) -> QuantizedTflite:
    def written(small_groups: list[str]) -> tuple[list[dict[str, Any]], int]:
        plan = rule_entries(auto_rules(budget.scan, small_groups), block_size, int8_scope, rotate)
        _quantize(float_tflite, plan, out, None)
        return plan, out.stat().st_size + budget.other_bytes

    plan, size = written([])
    if size <= budget.max_bytes:
        return QuantizedTflite(out, None, plan, AutoPlan(budget.max_bytes, size, costs=budget.scan.costs).record())
    int8_bytes, kinds = size, one_of_each_kind(budget.scan)
    savings = {}
    for index, group in enumerate(kinds):
        on_stage(f"measuring what int4 saves, kind {index + 1}/{len(kinds)} ({group.kind})")
        savings[group_kind(group)] = int8_bytes - written([group.label])[1]
    target = budget.max_bytes
    for attempt in range(ATTEMPTS):
        auto = plan_groups(budget.scan, int8_bytes, savings, target)
        on_stage(f"writing the plan for {target / 2**20:.2f} MiB (try {attempt + 1}/{ATTEMPTS})")
        plan, size = written(auto.small_groups)
        if size <= budget.max_bytes:
            return QuantizedTflite(out, None, plan, auto.record())
        target = next_target(budget.max_bytes, auto, size)
    raise EdgekitError(
        f"no plan fits --max-size {budget.max_bytes / 2**20:.2f} MiB (closest: {size / 2**20:.2f} MiB)",
        "raise --max-size",
    )
