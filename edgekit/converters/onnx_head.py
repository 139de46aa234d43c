"""The tied 8-bit embedding/output table read by half at decode: rank by the top nibbles, re-score
the leaders exactly.

A 262k-vocabulary output projection in 8 bits is the largest read of a small Gemma's decode step
(benchmarks/speed.md's profile). Here the table's codes are stored as their two nibbles, in the
same bytes. The output projection is one 4-bit MatMulNBits of the top nibbles (half the bytes),
plus each row's mean low-nibble contribution; TopK takes the `candidates` highest of these
estimates, and their rows, gathered whole from both nibbles, are multiplied with float
activations: exact logits where the distribution's mass is, 4-bit estimates in its tail. The
embedding lookup gathers both nibbles: exact. Fidelity and speed: benchmarks/speed.md.
"""

from __future__ import annotations

import numpy as np

from edgekit.converters.onnx_blocks import (
    MS_DOMAIN,
    GraphEditor,
    dequantized_rows,
    packed_codes,
    top_and_low_bits,
    unpack_nibbles,
)
from edgekit.formats.gguf_blocks import Blocks


def splits_into_nibbles(blocks: Blocks) -> bool:
    """8-bit codes centred on 128 without a block bias (Q8_0's, int8's): the top nibbles are
    4-bit codes on MatMulNBits' default zero point, so no zero points are stored."""
    return blocks.bits == 8 and blocks.bias is None and blocks.zero >> 4 == 8


class NibbleTable:
    """An 8-bit table's top and low nibbles (packed, two codes a byte) and its one set of scales."""

    def __init__(self, editor: GraphEditor, blocks: Blocks, stem: str) -> None:
        assert splits_into_nibbles(blocks)
        top, low = top_and_low_bits(blocks)
        self.rows, self.cols = blocks.q.shape
        self.block, self.n_blocks = blocks.block, self.cols // blocks.block
        self.zero = blocks.zero
        self.top = editor.constant(f"{stem}_top", packed_codes(top))
        self.low = editor.constant(f"{stem}_low", packed_codes(low))
        self.scales = editor.float_constant(f"{stem}_scales", blocks.scale.reshape(self.rows, self.n_blocks))
        self.top_scales = editor.folded("Mul", [self.scales, editor.constant("sixteen", np.float32(16))], "top_scales")
        # What the top nibbles leave out, per row: its blocks' mean low-nibble value; times the
        # sum of the activations it approximates the low nibbles' product.
        low_means = (low.q.reshape(self.rows, self.n_blocks, self.block).mean(-1) - low.zero) * low.scale
        self.low_offset = editor.constant(f"{stem}_low_offset", low_means.mean(-1).astype(np.float32))

    def codes_at(self, editor: GraphEditor, ids: str) -> str:
        """The whole 8-bit codes of rows `ids`, (*ids.shape, n_blocks, block) uint8."""

        def nibbles(packed: str, stem: str) -> str:
            gathered = editor.node("Gather", [packed, ids], stem, axis=0)
            return unpack_nibbles(editor, gathered, ids, self.n_blocks, self.block)

        four = editor.constant("four", np.array(4, dtype=np.uint8))
        top = editor.node("BitShift", [nibbles(self.top, "top"), four], "top", direction="LEFT")
        return editor.node("BitwiseOr", [top, nibbles(self.low, "low")], "codes")


def lookup(editor: GraphEditor, ids: str, table: NibbleTable) -> None:
    """Appends the embedding lookup: rows `ids` dequantized exactly, (*ids.shape, cols)."""
    dequantized_rows(editor, table.codes_at(editor, ids), ids, table.scales, table.zero, table.cols)


def rescored_logits(editor: GraphEditor, x: str, table: NibbleTable, candidates: int) -> None:
    """Appends `logits = x @ W.T`: 4-bit estimates, the `candidates` highest re-scored exactly."""
    top_product = editor.node(
        "MatMulNBits",
        [x, table.top, table.top_scales],
        "matmul",
        domain=MS_DOMAIN,
        K=table.cols,
        N=table.rows,
        bits=4,
        block_size=table.block,
        accuracy_level=4,  # only ranks: int8 activations cost it nothing that re-scoring keeps
    )
    activation_sum = editor.node("ReduceSum", [x, editor.constant("ax", np.array([-1]))], "x_sum", keepdims=1)
    estimate = editor.node(
        "Add", [top_product, editor.node("Mul", [activation_sum, table.low_offset], "low_estimate")], "estimate"
    )
    count = editor.constant("k", np.array([min(candidates, table.rows)]))
    _, leader_ids = editor.node_outputs("TopK", [estimate, count], "leaders", 2, axis=-1)
    # The leaders' rows exactly: (codes * d) . x - zero * (d . block sums of x). Their scaled
    # codes are the float tensor as large as (positions, candidates, cols): a prompt's every row
    # (validation, onnxruntime-genai) holds ~1.3x its logits' bytes in it.
    codes = editor.node("Cast", [table.codes_at(editor, leader_ids)], "float", to=1)  # (B, S, k, nb, block)
    scales = editor.node("Gather", [table.scales, leader_ids], "row_scales", axis=0)  # (B, S, k, nb)
    scaled = editor.node(
        "Mul", [codes, editor.node("Unsqueeze", [scales, editor.constant("ax", np.array([-1]))], "d")], "scaled"
    )
    rows = editor.node("Reshape", [scaled, editor.constant("rows", np.array([0, 0, 0, table.cols]))], "rows")
    column = editor.node("Unsqueeze", [x, editor.constant("ax", np.array([-1]))], "x_column")  # (B, S, cols, 1)
    x_blocks = editor.node(
        "Reshape", [x, editor.constant("x_blocks", np.array([0, 0, table.n_blocks, table.block]))], "x_blocks"
    )
    block_sums = editor.node("ReduceSum", [x_blocks, editor.constant("ax", np.array([-1]))], "block_sums")
    zero_terms = editor.node(
        "Mul",
        [editor.node("MatMul", [scales, block_sums], "d_sums"), editor.constant("zero", np.float32(table.zero))],
        "zero_terms",
    )  # (B, S, k, 1)
    exact = editor.node("Sub", [editor.node("MatMul", [rows, column], "dots"), zero_terms], "exact")
    exact = editor.node("Squeeze", [exact, editor.constant("ax", np.array([-1]))], "exact")
    editor.node("ScatterElements", [estimate, leader_ids, exact], "logits", axis=-1)
