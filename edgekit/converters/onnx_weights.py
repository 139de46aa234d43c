"""Find the weights of an exported ONNX decoder and replace them by `Blocks`.

The torch export emits each linear layer as `MatMul(x, B)` with a constant `B = W.T`, and
Gemma's tied embedding as `Gather(E, ids)` plus `Transpose(E) -> MatMul` for the logits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgekit.converters.onnx_blocks import GraphEditor, SharedWeight, drop_unused_initializers, gather_rows, matmul
from edgekit.converters.onnx_head import NibbleTable, lookup, rescored_logits, splits_into_nibbles
from edgekit.formats.gguf_blocks import Blocks

EMBEDDING = "embedding"
SMALLEST_BLOCK = 16  # MatMulNBits' smallest block: a row must split into whole blocks


@dataclass(frozen=True)
class Weight:
    """A weight as the quantizer sees it: W (rows = outputs), whatever layout the graph keeps."""

    key: str  # the float initializer's name
    rows: int
    cols: int
    is_embedding: bool


def find_weights(model) -> list[Weight]:
    initializers = {init.name: init for init in model.graph.initializer}
    found: dict[str, Weight] = {}
    for node in model.graph.node:
        if node.op_type == "Gather" and node.input[0] in initializers and EMBEDDING in node.output[0]:
            rows, cols = initializers[node.input[0]].dims
            found[node.input[0]] = Weight(node.input[0], rows, cols, True)
        elif node.op_type == "MatMul" and node.input[1] in initializers:
            k, n = initializers[node.input[1]].dims
            if k % SMALLEST_BLOCK == 0:  # rows shorter than a block (Gemma 3n's AltUp mixers) stay float
                found.setdefault(node.input[1], Weight(node.input[1], n, k, False))
    return list(found.values())


def float_weight(model, weight: Weight, rows: list[int] | None = None, base_dir: str = "") -> np.ndarray:
    """W in (rows, cols) order; only `rows` of it if given. A graph loaded without its external
    data reads the weight from `base_dir` now, so only one float weight is in memory at a time."""
    from onnx import numpy_helper

    init = next(i for i in model.graph.initializer if i.name == weight.key)
    array = numpy_helper.to_array(init, base_dir)
    if weight.is_embedding:
        return array if rows is None else array[rows]
    return np.ascontiguousarray(array.T if rows is None else array[:, rows].T)


def apply_blocks(
    model, plan: dict[str, Blocks], accuracy_level: int, float_for_carried: bool = True, head_candidates: int = 0
) -> None:
    """Replace every planned weight's float initializer by its blocks; the rest stays float.
    `float_for_carried`: a GGUF's own codes compute with float activations where that is fast
    (`onnx_blocks.container_parts`). `head_candidates` > 0: a tied 8-bit table's output
    projection ranks by its top nibbles and re-scores that many leaders exactly (`onnx_head`)."""
    editor = GraphEditor(model)
    producers = {out: node for node in model.graph.node for out in node.output}
    lookups = {w.key for w in find_weights(model) if w.is_embedding}
    tables = {
        key: NibbleTable(editor, blocks, f"w{i}")
        for i, (key, blocks) in enumerate(plan.items())
        if head_candidates and key in lookups and splits_into_nibbles(blocks)
    }
    shared = {
        key: SharedWeight(editor, blocks, f"w{i}", key in lookups, float_for_carried)
        for i, (key, blocks) in enumerate(plan.items())
        if key not in tables
    }
    for node in list(model.graph.node):
        if node.op_type == "Gather" and node.input[0] in tables:
            editor.begin()
            lookup(editor, node.input[1], tables[node.input[0]])
            editor.replace(node)
        elif node.op_type == "Gather" and node.input[0] in shared:
            editor.begin()
            gather_rows(editor, node.input[1], shared[node.input[0]])
            editor.replace(node)
        elif node.op_type == "MatMul":
            weight_name = node.input[1]
            tied = producers.get(weight_name)
            if tied is not None and tied.op_type == "Transpose" and tied.input[0] in shared.keys() | tables.keys():
                weight_name = tied.input[0]  # the tied output projection: MatMul(x, Transpose(E))
                model.graph.node.remove(tied)
            if weight_name in tables:
                editor.begin()
                rescored_logits(editor, node.input[0], tables[weight_name], head_candidates)
                editor.replace(node)
            elif weight_name in shared:
                editor.begin()
                matmul(editor, node.input[0], shared[weight_name], accuracy_level)
                editor.replace(node)
    drop_unused_initializers(model.graph)
