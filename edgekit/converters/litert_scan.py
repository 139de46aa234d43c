"""Sensitivity scan for `--quant auto` LiteRT bundles: what storing each group of weights in
int4 blocks costs, in KL to the float model.

Measured in torch on the folder the LiteRT model is exported from (outliers already migrated),
one group at a time, rounded as the bundle stores them: the weights' inputs rotated in the
recipe's Hadamard blocks (the basis is pinned by a test against a converted bundle), then
symmetric int4 blocks, scale = block max / 7, codes clipped to [-8, 7]. The quantizer's
rotation also clips each block's scale (OCTAV), which the scan leaves out: it only ranks the
groups. A group is the ops that read one input (q/k/v; gate/up), o and down of each layer,
and the tied embedding/output projection, or, where the export splits that table
(`table_split`), its rare rows and the rest as two groups, unrotated; each names its ops by a
scope on litert-torch's op names, which end with the module path
(`DecoderLayer_3/.../Linear_k_proj;1`). Quantizing activations to int8 at run time is left
out of the scan: adding it (int8, one scale per token, on each int4 group's inputs) gave the
default model's 241 MiB plan no better top-1. Runs torch: callers run it in its own process.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgekit.core.recipes import (
    EMBEDDING,
    FC,
    HADAMARD_BLOCK,
    KEPT_ROWS_SCOPE,
    LOGITS_SCOPE,
    RARE_ROWS_SCOPE,
    LiteRtRule,
    table_int4_rules,
)
from edgekit.runtime.metrics import log_softmax


@dataclass(frozen=True)
class LiteRtGroup:
    label: str
    kind: str  # groups of one kind and shape save the same bytes at int4 (`litert_auto`)
    shape: tuple[int, ...]  # the weights it holds: (rows, columns) of each matrix
    modules: tuple[str, ...]  # the torch module names of its weights
    int4_rules: tuple[LiteRtRule, ...]  # what storing it small adds to the int8 recipe
    rows: tuple[range, ...] = ()  # the rows of its one matrix it holds; () for all
    rotation: int = HADAMARD_BLOCK  # of its int4 blocks' inputs; 0 for none


@dataclass(frozen=True)
class LiteRtScan:
    groups: tuple[LiteRtGroup, ...]
    costs: dict[str, float]  # {label: mean KL(float || this group at int4)} over the calibration text


def _scope(layer: int, modules: str) -> str:
    """The quantizer matches its scope to the op's output names, joined and ended by ';'. The
    export sometimes names an op after a sibling (a prefill k projection's name can end with
    `q_proj;;`), so siblings that read one input share a group and a scope."""
    return rf"DecoderLayer_{layer}/[^;]*Linear_(?:{modules})(?:;\d*)?;$"


def _groups(model, split_rows: range | None) -> list[LiteRtGroup]:
    found = []
    shapes = {name: tuple(module.weight.shape) for name, module in model.named_modules() if hasattr(module, "weight")}
    for layer in range(len(model.model.layers)):
        prefix = f"model.layers.{layer}."
        for kind, parent, names in (
            ("q/k/v", "self_attn", ("q_proj", "k_proj", "v_proj")),
            ("o", "self_attn", ("o_proj",)),
            ("gate/up", "mlp", ("gate_proj", "up_proj")),
            ("down", "mlp", ("down_proj",)),
        ):
            modules = tuple(f"{prefix}{parent}.{name}" for name in names)
            rule = LiteRtRule(4, "BLOCKWISE", FC, _scope(layer, "|".join(names)), HADAMARD_BLOCK)
            found.append(
                LiteRtGroup(f"layer {layer} {kind}", kind, sum((shapes[m] for m in modules), ()), modules, (rule,))
            )
    table = "embedding / output projection"
    vocabulary, width = shapes["model.embed_tokens"]
    if not split_rows:
        rules = (
            LiteRtRule(4, "BLOCKWISE", EMBEDDING, rotation=HADAMARD_BLOCK),
            LiteRtRule(4, "BLOCKWISE", FC, LOGITS_SCOPE, HADAMARD_BLOCK),
        )
        return [*found, LiteRtGroup(table, table, (vocabulary, width), ("model.embed_tokens",), rules)]
    kept = (range(split_rows.start), range(split_rows.stop, vocabulary))
    for label, rows, scope in (("rare rows", (split_rows,), RARE_ROWS_SCOPE), ("kept rows", kept, KEPT_ROWS_SCOPE)):
        held = (sum(map(len, rows)), width)
        rules = table_int4_rules(scope)
        found.append(LiteRtGroup(f"{table}, {label}", label, held, ("model.embed_tokens",), rules, rows, 0))
    return found


def hadamard(size: int) -> np.ndarray:
    """The normalized Sylvester Hadamard matrix the quantizer rotates with (symmetric, its own
    inverse)."""
    matrix = np.ones((1, 1), np.float32)
    while len(matrix) < size:
        matrix = np.block([[matrix, matrix], [matrix, -matrix]])
    return matrix / np.sqrt(size, dtype=np.float32)


def turned(matrix: np.ndarray, rotation: int = HADAMARD_BLOCK) -> np.ndarray:
    """`matrix` with its last (input) axis rotated as the quantizer rotates a weight: in Hadamard
    blocks of the largest power of two that divides it, at most `rotation`. Its own inverse."""
    size = min(math.gcd(matrix.shape[-1], 2**30), rotation)
    return (matrix.reshape(-1, size) @ hadamard(size)).reshape(matrix.shape)


def int4_blocks(weight, block_size: int, rotation: int = HADAMARD_BLOCK):
    """`weight` (a float32 torch matrix) as the recipe's int4 blocks give it back: turned (when
    `rotation`), rounded in symmetric blocks, turned back."""
    import torch

    rows, cols = weight.shape
    matrix = turned(weight.numpy(), rotation) if rotation else weight.numpy()
    blocks = matrix.reshape(rows, cols // block_size, block_size)
    scale = np.maximum(np.abs(blocks).max(-1, keepdims=True), 1e-9) / 7
    rounded = (np.clip(np.round(blocks / scale), -8, 7) * scale).reshape(rows, cols)
    return torch.from_numpy(turned(rounded, rotation) if rotation else rounded)


def _rounded(weight, group: LiteRtGroup, block_size: int):
    """`weight` with the rows `group` holds as its int4 blocks give them back."""
    rounded = weight.clone()
    for rows in group.rows or (range(len(weight)),):
        rounded[rows.start : rows.stop] = int4_blocks(weight[rows.start : rows.stop], block_size, group.rotation)
    return rounded


def scan_litert_groups(
    hf_dir: Path,
    calibration_ids: list[int],
    block_size: int,
    on_group: Callable[[int, int], None] | None = None,
    split_rows: range | None = None,
) -> LiteRtScan:
    """`split_rows`: the table's rows the export stores apart (`table_split`)."""
    import torch

    from edgekit.converters.golden import load_source_model, source_logits

    model = load_source_model(hf_dir)
    groups = _groups(model, split_rows)
    source = log_softmax(source_logits(model, calibration_ids))
    modules = dict(model.named_modules())
    costs = {}
    for index, group in enumerate(groups):
        if on_group:
            on_group(index, len(groups))
        kept = {name: modules[name].weight.data.clone() for name in group.modules}
        with torch.no_grad():
            for name in group.modules:
                modules[name].weight.data = _rounded(kept[name], group, block_size)
            got = log_softmax(source_logits(model, calibration_ids))
            for name, weight in kept.items():
                modules[name].weight.data = weight
        costs[group.label] = float((np.exp(source) * (source - got)).sum(axis=-1).mean())
    return LiteRtScan(tuple(groups), costs)
