"""`--quant auto --max-size`: which weight groups to store small, from the measured scan.

Start with every weight at its faithful width (the GGUF's own blocks, else 8 bits) and move
to int4 the set of groups that saves enough bytes at the least summed KL (a 0/1 knapsack: a
greedy KL-per-byte order measured worse, taking the whole embedding to save a few MiB). KL
costs of separate groups roughly add up at these magnitudes, which is what makes the sum a
fair objective; the result is then measured like any other artifact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edgekit.converters.quant_scan import Group
from edgekit.core.errors import EdgekitError

MIB = 2**20


@dataclass
class AutoPlan:
    budget_bytes: int
    estimated_bytes: int
    small_groups: list[str] = field(default_factory=list)
    costs: dict[str, float] = field(default_factory=dict)
    savings: dict[str, int] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        return {
            "budget_mib": round(self.budget_bytes / MIB, 1),
            "estimated_mib": round(self.estimated_bytes / MIB, 1),
            "groups_at_int4": self.small_groups,
            "scan_kl_at_int4": {label: round(kl, 5) for label, kl in self.costs.items()},
            "saved_mib_at_int4": {label: round(b / MIB, 2) for label, b in self.savings.items()},
        }


def next_target(budget_bytes: int, plan: AutoPlan, written_bytes: int) -> int:
    """The budget to plan for after `plan` was written `written_bytes` large, over the budget:
    lowered by the estimate's own error on that plan (what only writing shows: headers,
    padding), so the next plan's estimate is below the last one's and the plan changes.
    Lowering by the overshoot alone chose the same plan again where the knapsack had slack
    (the default model's ONNX auto at 250 MiB: three tries, the same 250.00 MiB graph)."""
    return budget_bytes - (written_bytes - plan.estimated_bytes)


def choose_small_groups(
    groups: list[Group],
    costs: dict[str, float],
    keep_bytes: dict[str, int],
    small_bytes: dict[str, int],
    fixed_bytes: int,
    budget_bytes: int,
) -> AutoPlan:
    total = fixed_bytes + sum(keep_bytes.values())
    savings = {g.label: sum(keep_bytes[k] - small_bytes[k] for k in g.keys) for g in groups}
    plan = AutoPlan(budget_bytes, total, costs=costs, savings=savings)
    smallest = fixed_bytes + sum(min(keep_bytes[k], small_bytes[k]) for k in keep_bytes)
    if smallest > budget_bytes:
        raise EdgekitError(
            f"--max-size {budget_bytes / MIB:.2f} MiB is below the smallest plan for this checkpoint "
            f"({smallest / MIB:.2f} MiB with every weight at int4)",
            f"pass --max-size {smallest / MIB + 0.01:.2f} or more",
        )
    need = total - budget_bytes
    if need > 0:
        plan.small_groups = _cheapest_cover([g for g in groups if savings[g.label] > 0], costs, savings, need)
        total -= sum(savings[label] for label in plan.small_groups)
    plan.estimated_bytes = total
    return plan


def _cheapest_cover(groups: list[Group], costs: dict[str, float], savings: dict[str, int], need: int) -> list[str]:
    """0/1 knapsack: the groups whose savings reach `need` bytes at the least summed KL.

    Savings are counted in units of at most 64 KiB (1/2048 of the need), rounded down, so the
    chosen set never saves less than it claims; if rounding leaves no cover, every group goes."""
    unit = max(1, min(64 * 1024, need // 2048))
    target = -(-need // unit)
    best: list[tuple[float, tuple[int, ...]] | None] = [None] * (target + 1)
    best[0] = (0.0, ())
    for index, group in enumerate(groups):
        gain = savings[group.label] // unit
        for reached in range(target, -1, -1):
            if best[reached] is None:
                continue
            cost, chosen = best[reached]
            to = min(target, reached + gain)
            candidate = (cost + costs[group.label], chosen + (index,))
            if best[to] is None or candidate[0] < best[to][0]:
                best[to] = candidate
    if best[target] is None:
        return [g.label for g in groups]
    return [groups[i].label for i in best[target][1]]
