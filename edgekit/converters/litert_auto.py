"""`--quant auto --max-size` for LiteRT bundles: the int8 recipe, with the weight groups whose
int4 blocks cost the least KL in the scan (`litert_scan`) moved to int4 until the bundle fits
(the same 0/1 knapsack as ONNX's, `quant_auto`).

What moving a group saves is measured, not modelled from its weights: beside the weights the
quantizer writes per-op tensors (scales, zero points, a rotation's) that differ by op kind and
by rotation, so a group's saving can be well under or over its weights' bytes. The all-int8
model is written once more per kind of group, with one group of that kind at int4; groups of
one kind and shape (every layer's q/k/v) save alike. What the plan's estimate still misses,
the next try's target takes off (`quant_auto.next_target`)."""

from __future__ import annotations

from dataclasses import dataclass

from edgekit.converters.litert_scan import LiteRtGroup, LiteRtScan
from edgekit.converters.quant_auto import AutoPlan, choose_small_groups
from edgekit.converters.quant_scan import Group
from edgekit.core.recipes import LiteRtRule, recipe_named

ATTEMPTS = 3
BUNDLE_METADATA_BYTES = 64 * 1024  # a bundle's headers and metadata beside its model and tokenizer

GroupKind = tuple[str, tuple[int, ...]]


@dataclass(frozen=True)
class LiteRtBudget:
    scan: LiteRtScan
    max_bytes: int  # the bundle's
    other_bytes: int  # what the bundle holds besides the model (tokenizer, metadata)


def group_kind(group: LiteRtGroup) -> GroupKind:
    return group.kind, group.shape


def one_of_each_kind(scan: LiteRtScan) -> list[LiteRtGroup]:
    """The groups whose measured saving stands for their kind's."""
    return list({group_kind(g): g for g in reversed(scan.groups)}.values())


def plan_groups(scan: LiteRtScan, int8_bytes: int, savings: dict[GroupKind, int], target_bytes: int) -> AutoPlan:
    """Which groups go to int4 for a bundle of `target_bytes`, from the all-int8 bundle's size and
    what one group of each kind saved at int4."""
    saved = {g.label: savings[group_kind(g)] for g in scan.groups}
    return choose_small_groups(
        [Group(label, (label,)) for label in saved],
        scan.costs,
        saved,
        dict.fromkeys(saved, 0),
        int8_bytes - sum(saved.values()),
        target_bytes,
    )


def auto_rules(scan: LiteRtScan, small_groups: list[str]) -> tuple[LiteRtRule, ...]:
    """int8 everywhere (later entries win), then each small group's int4 rules."""
    small = set(small_groups)
    return recipe_named("int8").litert_rules + tuple(
        rule for group in scan.groups if group.label in small for rule in group.int4_rules
    )
