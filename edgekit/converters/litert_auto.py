"""`--quant auto --max-size` for LiteRT bundles: the int8 recipe, with the weight groups whose
int4 blocks cost the least KL in the scan (`litert_scan`) moved to int4 until the bundle fits
(the same 0/1 knapsack as ONNX's, `quant_auto`). Sizes come from two written models, all int8
and all int4: what the int4 one holds besides its weights is fixed, and what the int8 one holds
beyond that and its weights is the rotation's ops, shared out per rotated op."""

from __future__ import annotations

from dataclasses import dataclass

from edgekit.converters.litert_scan import LiteRtScan
from edgekit.converters.quant_auto import AutoPlan, choose_small_groups
from edgekit.converters.quant_scan import Group
from edgekit.core.recipes import LiteRtRule, recipe_named

ATTEMPTS = 3
BUNDLE_METADATA_BYTES = 64 * 1024  # a bundle's headers and metadata beside its model and tokenizer


@dataclass(frozen=True)
class LiteRtBudget:
    scan: LiteRtScan
    max_bytes: int  # the bundle's
    other_bytes: int  # what the bundle holds besides the model (tokenizer, metadata)


@dataclass(frozen=True)
class Anchors:
    """Bundle bytes with every group at int8, and at int4."""

    int8_bytes: int
    int4_bytes: int


def plan_groups(scan: LiteRtScan, anchors: Anchors, target_bytes: int) -> AutoPlan:
    """Which groups go to int4 for a bundle of `target_bytes`."""
    int8_weights = sum(g.int8_bytes for g in scan.groups)
    int4_weights = sum(g.int4_bytes for g in scan.groups)
    fixed = anchors.int4_bytes - int4_weights
    per_op = max(0, anchors.int8_bytes - int8_weights - fixed) / sum(g.ops for g in scan.groups)
    return choose_small_groups(
        [Group(g.label, (g.label,)) for g in scan.groups],
        scan.costs,
        {g.label: g.int8_bytes + round(per_op * g.ops) for g in scan.groups},
        {g.label: g.int4_bytes for g in scan.groups},
        fixed,
        target_bytes,
    )


def auto_rules(scan: LiteRtScan, small_groups: list[str]) -> tuple[LiteRtRule, ...]:
    """int8 everywhere (later entries win), then each small group's int4 rules."""
    small = set(small_groups)
    return recipe_named("int8").litert_rules + tuple(
        rule for group in scan.groups if group.label in small for rule in group.int4_rules
    )
