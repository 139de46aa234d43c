"""Weight-only quantization of the exported ONNX decoder: a plan per weight, written as MatMulNBits.

Each weight has a faithful form and a small one (`Candidates`). When the checkpoint is a GGUF,
the faithful form is the GGUF's own blocks carried over exactly (Q4_0/Q4_1/Q4_K in 4 bits,
Q5_*/Q6_K/Q8_0 in 8 bits) instead of a second quantization of dequantized floats; otherwise
8-bit round-to-nearest. The small form is 4 bits: 4-bit GGUF blocks as they are, else
asymmetric int4 (block `--block-size`) whose rounding minimizes the error weighted by each
input channel's activation energy over the calibration text (`activation_energy`; llama.cpp's
importance matrix); asymmetric blocks keep far more than onnxruntime's symmetric quantizer.
The tied embedding/output projection, which every logit goes through, is rounded in blocks of
`EMBEDDING_INT4_BLOCK` (16) whatever `--block-size`: at 32 the default model's int4 graph
loses the source's first token on a golden prompt (tests/test_convert_onnx.py asserts them).

Which form each weight takes is the recipe's `onnx_forms` (`edgekit.core.recipes`): `int8` all
faithful, `int8-fast` too but with int8 activations on every product, block biases folded into
8-bit codes (`onnx_blocks.offset_in_codes`) and its output projection ranked by the table's top
nibbles, the leaders re-scored exactly (`onnx_head`), `int4` all small, `mixed`
small except the tied embedding/output projection, `auto` small where the scan says it is
cheapest until the graph fits `--max-size`. Measured: benchmarks/results.md, benchmarks/speed.md.

`accuracy_level` is MatMulNBits' compute type for the activations: 4 = int8, the fast path;
0 = float32, under which `int8` from the default GGUF is exact (README). onnxruntime 1.31 has
no fast float path at 8 or 2 bits (benchmarks/matmulnbits.md), so level 4 is the default, with
float32 activations kept for carried 4-bit codes, where they are cheap
(`onnx_blocks.part_accuracy_level`), except under `int8-fast`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.converters.activation_energy import input_energy
from edgekit.converters.block_quant import quantize_asymmetric, quantize_symmetric
from edgekit.converters.gguf_match import carried_blocks
from edgekit.converters.onnx_blocks import offset_in_codes, storage_bytes
from edgekit.converters.onnx_weights import SMALLEST_BLOCK, Weight, apply_blocks, find_weights, float_weight
from edgekit.converters.quant_auto import AutoPlan, choose_small_groups, next_target
from edgekit.converters.quant_scan import Group, scan_groups, weight_groups
from edgekit.core.errors import EdgekitError
from edgekit.core.recipes import OnnxForms, recipe_named, recipes_for
from edgekit.formats.gguf_blocks import Blocks

_FALLBACK_BLOCKS = (128, 64, 32, SMALLEST_BLOCK)
EMBEDDING_INT4_BLOCK = 16


@dataclass(frozen=True)
class PlannedWeight:
    weight: Weight
    blocks: Blocks
    gguf_tensor: str | None  # set when the blocks were carried over from this GGUF tensor

    def record(self, float_for_carried: bool = True) -> dict[str, Any]:
        return {
            "gguf_tensor": self.gguf_tensor,
            "origin": self.blocks.origin,
            "bits": self.blocks.bits,
            "block": self.blocks.block,
            "shape": [self.weight.rows, self.weight.cols],
            "bytes": storage_bytes(self.blocks, self.weight.is_embedding, float_for_carried),
        }


def _block_for(cols: int, wanted: int) -> int:
    """`wanted` if it divides the row, else the largest standard block that does."""
    for block in (wanted, *_FALLBACK_BLOCKS):
        if cols % block == 0:
            return block
    raise EdgekitError(
        f"a weight row of {cols} values cannot be split into blocks of 16 or more",
        "use --target android (LiteRT) for this checkpoint",
    )


class Candidates:
    """Per weight, its faithful form (`keep`: the GGUF's own blocks, else 8 bits) and its small
    form (`small`: 4-bit GGUF blocks as they are, else asymmetric int4), computed on demand."""

    def __init__(
        self,
        model,
        block_size: int,
        gguf_path: Path | None,
        base_dir: str = "",
        importance: dict[str, np.ndarray] | None = None,
    ) -> None:
        self.model = model
        self.importance = importance or {}
        self.base_dir = base_dir
        self.block_size = block_size
        self.weights = find_weights(model)
        self.carried: dict[str, tuple[str, Blocks]] = {}
        if gguf_path is not None:
            by_key = {w.key: w for w in self.weights}
            self.carried = carried_blocks(
                gguf_path,
                {w.key: (w.rows, w.cols) for w in self.weights},
                lambda key, rows: float_weight(model, by_key[key], list(rows), base_dir),
            )
        self._cache: dict[tuple[str, str], PlannedWeight] = {}

    def name(self, key: str) -> str:
        return self.carried[key][0] if key in self.carried else key

    def keep(self, weight: Weight) -> PlannedWeight:
        return self._get(weight, "keep")

    def small(self, weight: Weight) -> PlannedWeight:
        return self._get(weight, "small")

    def _get(self, weight: Weight, form: str) -> PlannedWeight:
        if (weight.key, form) not in self._cache:
            self._cache[(weight.key, form)] = self._make(weight, form)
        return self._cache[(weight.key, form)]

    def _make(self, weight: Weight, form: str) -> PlannedWeight:
        if weight.key in self.carried:
            name, blocks = self.carried[weight.key]
            if form == "keep" or blocks.bits == 4:
                return PlannedWeight(weight, blocks, name)
        values = float_weight(self.model, weight, base_dir=self.base_dir)
        if form == "keep":
            return PlannedWeight(weight, quantize_symmetric(values, 8, _block_for(weight.cols, 32)), None)
        block = EMBEDDING_INT4_BLOCK if weight.is_embedding else self.block_size
        return PlannedWeight(
            weight,
            quantize_asymmetric(values, 4, _block_for(weight.cols, block), importance=self.importance.get(weight.key)),
            None,
        )


def _graph_layout(weight: Weight, values: np.ndarray) -> np.ndarray:
    return values if weight.is_embedding else np.ascontiguousarray(values.T)


def _bytes_besides_weights(model, weights: dict[str, Weight]) -> int:
    """The graph's size without its weight tensors and the nodes that read them (the export
    annotates every node with its source location; the replacements are a few hundred bytes)."""
    weight_bytes = sum(init.ByteSize() for init in model.graph.initializer if init.name in weights)
    reader_bytes = sum(node.ByteSize() for node in model.graph.node if set(node.input) & weights.keys())
    return model.ByteSize() - weight_bytes - reader_bytes


class AutoPlanner:
    """Scans once, then chooses plans for a byte budget (again, if the written graph overshoots)."""

    def __init__(
        self, model, candidates: Candidates, calibration_ids: list[int], on_stage: Callable[[str], None] | None = None
    ) -> None:
        self.candidates = candidates
        self.weights = {w.key: w for w in candidates.weights}
        groups = [
            Group("+".join(candidates.name(k) for k in g.keys), g.keys)
            for g in weight_groups(model, candidates.weights)
        ]
        self.keep = {k: storage_bytes(candidates.keep(w).blocks, w.is_embedding) for k, w in self.weights.items()}
        self.small = {k: storage_bytes(candidates.small(w).blocks, w.is_embedding) for k, w in self.weights.items()}
        self.groups = [g for g in groups if any(self.small[k] < self.keep[k] for k in g.keys)]
        self.fixed_bytes = _bytes_besides_weights(model, self.weights)
        progress = (lambda i, n: on_stage(f"scanning group {i + 1}/{n}")) if on_stage else None
        self.costs = scan_groups(
            model,
            self.groups,
            lambda k: _graph_layout(self.weights[k], candidates.small(self.weights[k]).blocks.dequantize()),
            calibration_ids,
            progress,
        )

    def plan(self, budget_bytes: int) -> tuple[list[PlannedWeight], AutoPlan]:
        auto = choose_small_groups(self.groups, self.costs, self.keep, self.small, self.fixed_bytes, budget_bytes)
        small_keys = {k for g in self.groups if g.label in auto.small_groups for k in g.keys}
        return [
            self.candidates.small(w) if k in small_keys else self.candidates.keep(w) for k, w in self.weights.items()
        ], auto


def plan_recipe(candidates: Candidates, forms: OnnxForms) -> list[PlannedWeight]:
    """Each weight in the recipe's form. Where every product takes int8 activations anyway
    (`int8-fast`), a matrix whose blocks carry a bias (Q4_K) is planned as 8-bit codes with the
    bias rounded in: one product instead of a product and a bias product (`offset_in_codes`)."""

    def planned(weight: Weight) -> PlannedWeight:
        small = (forms.embedding if weight.is_embedding else forms.matrices) == "small"
        chosen = candidates.small(weight) if small else candidates.keep(weight)
        if forms.float_for_carried or weight.is_embedding or chosen.blocks.bias is None:
            return chosen
        return replace(chosen, blocks=offset_in_codes(chosen.blocks))

    return [planned(w) for w in candidates.weights]


def summarize(plan: list[PlannedWeight], forms: OnnxForms) -> dict[str, Any]:
    by_origin: dict[str, dict[str, int]] = {}
    records = [p.record(forms.float_for_carried) for p in plan]
    for planned, record in zip(plan, records):
        entry = by_origin.setdefault(planned.blocks.origin, {"tensors": 0, "values": 0, "bytes": 0})
        entry["tensors"] += 1
        entry["values"] += planned.weight.rows * planned.weight.cols
        entry["bytes"] += record["bytes"]
    summary: dict[str, Any] = {"by_origin": by_origin, "weights": records}
    if forms.head_candidates:
        summary["head_candidates"] = forms.head_candidates
    return summary


def graph_bytes(graph: Path) -> int:
    return graph.stat().st_size + Path(f"{graph}.data").stat().st_size


def _write(
    model, plan: list[PlannedWeight], accuracy_level: int, out: Path, forms: OnnxForms, base_dir: str = ""
) -> int:
    """Replaces the weights of `model` (a float graph, modified in place) and saves it; the
    float tensors left (norms, weights kept float) are read from `base_dir` if still external."""
    import onnx
    from onnx.external_data_helper import load_external_data_for_model

    blocks = {p.weight.key: p.blocks for p in plan}
    apply_blocks(model, blocks, accuracy_level, forms.float_for_carried, forms.head_candidates)
    load_external_data_for_model(model, base_dir)
    Path(f"{out}.data").unlink(missing_ok=True)  # onnx appends to an existing data file
    onnx.save(model, str(out), save_as_external_data=True, location=out.name + ".data")
    return graph_bytes(out)


def _importance(float_model: Path, model, forms: OnnxForms, ids: list[int] | None) -> dict[str, np.ndarray] | None:
    """Activation energy per input column, for recipes that round weights to 4 bits."""
    if forms.matrices == forms.embedding == "keep" or not ids:
        return None
    return input_energy(float_model, find_weights(model), ids)


def quantize_onnx(
    float_model: Path,
    quant: str,
    block_size: int,
    out: Path,
    accuracy_level: int = 4,
    gguf_path: Path | None = None,
    max_size_bytes: int | None = None,
    calibration_ids: list[int] | None = None,
    on_stage: Callable[[str], None] | None = None,
    forms: OnnxForms | None = None,
) -> dict[str, Any]:
    """Writes `out` (+ `out.data`); returns the plan summary recorded in the manifest. `forms`
    replaces the recipe's weight forms (benchmarks/speed.py times forms no recipe names)."""
    import onnx

    forms = forms or recipe_named(quant).onnx_forms
    if forms is None:
        quantized = [r.name for r in recipes_for("onnx") if r.onnx_forms]
        raise EdgekitError(f"--quant {quant} has no ONNX weight plan", f"use one of {', '.join(quantized)}")
    if "scan" not in (forms.matrices, forms.embedding):  # weights read one at a time (the energy probe is gone)
        base_dir = str(float_model.parent)
        model = onnx.load(str(float_model), load_external_data=False)
        importance = _importance(float_model, model, forms, calibration_ids)
        plan = plan_recipe(Candidates(model, block_size, gguf_path, base_dir, importance), forms)
        summary = summarize(plan, forms)
        summary["graph_bytes"] = _write(model, plan, accuracy_level, out, forms, base_dir)
        return summary
    model = onnx.load(str(float_model))  # the sensitivity scan runs the whole float graph
    candidates = Candidates(
        model, block_size, gguf_path, importance=_importance(float_model, model, forms, calibration_ids)
    )
    if max_size_bytes is None or calibration_ids is None:
        raise EdgekitError("--quant auto needs --max-size", "pass e.g. --max-size 250 (MiB)")
    planner = AutoPlanner(model, candidates, calibration_ids, on_stage)
    target = max_size_bytes
    for attempt in range(3):  # the graph's own bytes are estimated: aim lower by the estimate's error
        plan, auto = planner.plan(target)  # every candidate form is computed by now
        graph = model if attempt == 0 else onnx.load(str(float_model))
        written = _write(graph, plan, accuracy_level, out, forms)
        if written <= max_size_bytes:
            summary = summarize(plan, forms)
            summary["graph_bytes"] = written
            summary["auto"] = auto.record()
            return summary
        target = next_target(max_size_bytes, auto, written)
    raise EdgekitError(
        f"no plan fits --max-size {max_size_bytes / 2**20:.2f} MiB (closest: {written / 2**20:.2f} MiB)",
        "raise --max-size",
    )
