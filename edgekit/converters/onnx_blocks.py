"""Write `Blocks` into an ONNX decoder as onnxruntime `MatMulNBits` weights.

Why not onnxruntime's own MatMulNBitsQuantizer: it can only quantize floats, so a GGUF source
would be quantized a second time (measured: ~70 of 96 teacher-forced top-1 at int4), and it
stores Gemma's tied embedding twice (a Gather table and an untied head: 968 MiB at 8 bits).
Here every weight arrives as `Blocks` (a GGUF's own, carried over, or round-to-nearest), and:

- codes of 4 bits are packed two per byte; wider codes (Q5_0, Q8_0) are split exactly into a
  4-bit MatMulNBits of their top bits and a 2- or 4-bit one of the rest (`container_parts`),
  else (Q6_K, lookup tables) go into 8-bit MatMulNBits; codes are shifted onto the default
  zero point where they fit (onnxruntime's CPU kernels take 2, 4 and 8 bits);
- scales that float16 holds exactly (GGUF stores Q8_0/Q5_0 scales as float16) are stored so
  and cast at load, halving their share of the file;
- the asymmetric types' per-block bias (`w = s*(q-z) + b`) is exact as a second, small product:
  `y += blocksum(x) @ b.T` (float zero points would also be exact, but take a slow path:
  benchmarks/matmulnbits.md); where every product takes int8 activations anyway (`int8-fast`)
  the plan gives such weights as 8-bit codes instead, the bias rounded in (`offset_in_codes`);
- the embedding table and the output projection share one set of codes and scales: the head
  is a MatMulNBits, the lookup gathers rows of the same codes and dequantizes them (an 8-bit
  table may instead be stored as its two nibbles, read by half at decode: `onnx_head`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgekit.formats.gguf_blocks import Blocks

MS_DOMAIN = "com.microsoft"


ROUNDED = ("int4", "int4-asym", "int8")  # Blocks origins that round-to-nearest made, not a GGUF


def container_bits(blocks: Blocks) -> int:
    return 2 if blocks.bits <= 2 else 4 if blocks.bits <= 4 else 8


@dataclass(frozen=True)
class Part:
    """One MatMulNBits of a weight. `float_activations` is False for the low bits of a split
    code, whose error under int8 activations is a fraction of the weight's, and for every part
    when carried codes take int8 activations."""

    blocks: Blocks
    float_activations: bool = True


def container_parts(blocks: Blocks, lookup: bool = False, float_for_carried: bool = True) -> list[Part]:
    """The MatMulNBits that hold these codes, summed: one, or for codes wider than 4 bits an
    exact split into their top 4 bits and the rest (Q5_0: 4 + 1, Q8_0: 4 + 4) when they are a
    GGUF's own (rounded int8 codes would pay a second scale per block; not measured) and their
    top bits are to compute with float activations. Without `float_for_carried` every product
    takes int8 activations and wide codes stay whole in one 8-bit container: fewer, faster
    products for less fidelity (benchmarks/speed.md).

    The top bits (`top_and_low_bits`) carry the weight's magnitude and compute with float
    activations on onnxruntime's fast 4-bit path; the low bits compute with int8 activations,
    whose error they scale down by 2^s. Not split:
    lookup tables, and low bits that would need a 2-bit container with zero points (Q6_K's,
    in blocks of 16: ~90x slower than its 8-bit container, benchmarks/matmulnbits.md)."""
    if not float_for_carried:
        return [Part(blocks, float_activations=False)]
    if lookup or blocks.bits <= 4 or blocks.origin in ROUNDED:
        return [Part(blocks)]
    top, low = top_and_low_bits(blocks)
    if container_bits(low) == 2 and stored_zero(low) != 2:
        return [Part(blocks)]
    return [Part(top), Part(low, float_activations=False)]


def offset_in_codes(blocks: Blocks) -> Blocks:
    """Blocks with a per-block bias (`w = s*(q - z) + b`: Q4_K, asymmetric int4) as symmetric
    8-bit codes around 128 with no bias, for one product per weight instead of a MatMulNBits
    and a bias product (six more nodes). Per block, the codes are stretched by the largest k that
    fits: scale s/k, codes k*(q - z) + round(k*b/s); only the rounding of the bias is lost, at
    most s/(2k) per weight (k is at most 17, and 15-16 where the bias centres a block's 16
    codes, as Q4_K's does). A block whose bias is too large for k = 1 (|b| > ~128 s) is rounded
    from its values instead."""
    rows, cols = blocks.q.shape
    q = blocks.q.reshape(rows, cols // blocks.block, blocks.block).astype(np.int32) - blocks.zero
    low, high = q.min(axis=-1), q.max(axis=-1)
    scale, bias = blocks.scale.astype(np.float64), blocks.bias.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(scale == 0, np.inf, bias / scale)
    stretch = np.zeros(scale.shape, dtype=np.int32)
    for k in range(1, 256):
        offset = np.rint(k * ratio)
        stretch = np.where((k * low + offset >= -128) & (k * high + offset <= 127), k, stretch)
    fitted = stretch > 0
    stretch = np.maximum(stretch, 1)
    codes = stretch[..., None] * q + np.where(fitted, np.rint(stretch * ratio), 0)[..., None]
    new_scale = scale / stretch
    values = q * scale[..., None] + bias[..., None]
    peak = np.abs(values).max(axis=-1)
    rounded_scale = np.where(peak == 0, 1.0, peak / 127)
    codes = np.where(fitted[..., None], codes, np.rint(values / rounded_scale[..., None]))
    new_scale = np.where(fitted, new_scale, rounded_scale)
    return Blocks(
        blocks.origin,
        8,
        blocks.block,
        (codes + 128).astype(np.uint8).reshape(rows, cols),
        new_scale.astype(np.float32),
        128,
        None,
    )


def top_and_low_bits(blocks: Blocks) -> tuple[Blocks, Blocks]:
    """Codes wider than 4 bits (no block bias) as their top 4 bits and the rest, exactly:
    d*(q - z) = 2^s*d*(q>>s - z>>s) + d*(q & (2^s - 1) - z mod 2^s)."""
    shift = blocks.bits - 4
    top = Blocks(blocks.origin, 4, blocks.block, blocks.q >> shift, blocks.scale * 2**shift, blocks.zero >> shift, None)
    low = Blocks(
        blocks.origin, shift, blocks.block, blocks.q & (2**shift - 1), blocks.scale, blocks.zero & (2**shift - 1), None
    )
    return top, low


def stored_zero(blocks: Blocks) -> int:
    """The container's default zero point (2^(bits-1)) when the codes still fit after shifting
    them onto it (then no zero points are stored), else the codes' own."""
    container = container_bits(blocks)
    default = 2 ** (container - 1)
    shift = default - blocks.zero
    fits = shift >= 0 and 2**blocks.bits - 1 + shift <= 2**container - 1
    return default if fits else blocks.zero


def packed_codes(blocks: Blocks) -> np.ndarray:
    """(rows, n_blocks, block * bits / 8) uint8, lowest bits first, shifted onto `stored_zero`."""
    rows, cols = blocks.q.shape
    codes = blocks.q.reshape(rows, cols // blocks.block, blocks.block).astype(np.uint8, copy=False)
    shift = stored_zero(blocks) - blocks.zero  # >= 0, and the shifted codes fit the container
    if shift:
        codes = codes + np.uint8(shift)
    bits = container_bits(blocks)
    if bits == 8:
        return codes
    per_byte = 8 // bits
    packed = np.zeros(codes.shape[:-1] + (blocks.block // per_byte,), dtype=np.uint8)
    for slot in range(per_byte):
        packed |= codes[..., slot::per_byte] << (bits * slot)
    return packed


def _zero_points(blocks: Blocks) -> np.ndarray | None:
    """None when the zero point is MatMulNBits' default, else one per block, packed like codes."""
    bits = container_bits(blocks)
    if stored_zero(blocks) == 2 ** (bits - 1):
        return None
    assert bits < 8
    per_byte = 8 // bits
    rows, cols = blocks.q.shape
    per_row = -(-(cols // blocks.block) // per_byte)
    byte = sum(blocks.zero << (bits * slot) for slot in range(per_byte))
    return np.full(rows * per_row, byte, dtype=np.uint8)


def _half_if_exact(values: np.ndarray) -> np.ndarray:
    """float16 when every value survives the round trip (GGUF's d of Q8_0/Q5_0/Q4_0), else float32."""
    half = values.astype(np.float16)
    return half if np.array_equal(half.astype(np.float32), values) else values


# Graph records per weight besides its tensors (measured on the tiny fixtures: what budgets of
# a few MiB hinge on): the MatMulNBits node and initializer records, and the bias product's nodes.
_RECORD_BYTES, _BIAS_RECORD_BYTES = 450, 950


def storage_bytes(blocks: Blocks, lookup: bool = False, float_for_carried: bool = True) -> int:
    """Bytes this weight takes in the graph: codes, scales, zero points, bias and their records."""
    total = _RECORD_BYTES + (_BIAS_RECORD_BYTES if blocks.bias is not None else 0)
    for part in (p.blocks for p in container_parts(blocks, lookup, float_for_carried)):
        total += part.q.size * container_bits(part) // 8 + _half_if_exact(part.scale).nbytes
        zero_points = _zero_points(part)
        total += 0 if zero_points is None else zero_points.size
    if blocks.bias is not None:
        total += _half_if_exact(blocks.bias).nbytes
    return total


def drop_dead_nodes(graph) -> None:
    """Keep only the nodes the graph's outputs need, in their order (nodes must be sorted)."""
    needed, keep = {o.name for o in graph.output}, []
    for node in reversed(list(graph.node)):
        if any(out in needed for out in node.output):
            keep.append(node)
            needed.update(node.input)
    del graph.node[:]
    graph.node.extend(reversed(keep))


def drop_unused_initializers(graph) -> None:
    used = {i for n in graph.node for i in n.input} | {o.name for o in graph.output}
    keep = [init for init in graph.initializer if init.name in used]
    del graph.initializer[:]
    graph.initializer.extend(keep)


class GraphEditor:
    """Adds initializers and nodes to a loaded `onnx.ModelProto` under unique names."""

    def __init__(self, model) -> None:
        self.model = model
        self.graph = model.graph
        self.initializers = {init.name: init for init in self.graph.initializer}
        self._count = 0
        self.pending: list = []
        if not any(o.domain == MS_DOMAIN for o in model.opset_import):
            from onnx import helper

            model.opset_import.append(helper.make_opsetid(MS_DOMAIN, 1))

    def name(self, stem: str) -> str:
        self._count += 1
        return f"edgekit_{stem}_{self._count}"

    def constant(self, stem: str, array: np.ndarray) -> str:
        from onnx import numpy_helper

        name = self.name(stem)
        self.graph.initializer.append(numpy_helper.from_array(array, name))
        return name

    def float_constant(self, stem: str, array: np.ndarray) -> str:
        """A float32 input stored as float16 when exact: a Cast that onnxruntime folds at load."""
        from onnx import helper

        stored = _half_if_exact(array)
        if stored.dtype == np.float32:
            return self.constant(stem, stored)
        name = self.name(stem)
        self.graph.node.insert(
            0, helper.make_node("Cast", [self.constant(f"{stem}_f16", stored)], [name], name=name, to=1)
        )
        return name

    def folded(self, op: str, inputs: list[str], stem: str) -> str:
        """A node of constants (initializers, or nodes `float_constant` put first), placed after
        their producers at the graph's start; onnxruntime folds it at load."""
        from onnx import helper

        name = self.name(stem)
        after = [i for i, node in enumerate(self.graph.node) if set(node.output) & set(inputs)]
        self.graph.node.insert(max(after, default=-1) + 1, helper.make_node(op, inputs, [name], name=name))
        return name

    def node(self, op: str, inputs: list[str], stem: str, domain: str = "", **attrs) -> str:
        return self.node_outputs(op, inputs, stem, 1, domain, **attrs)[0]

    def node_outputs(self, op: str, inputs: list[str], stem: str, count: int, domain: str = "", **attrs) -> list[str]:
        from onnx import helper

        outs = [self.name(stem) for _ in range(count)]
        self.pending.append(helper.make_node(op, inputs, outs, name=outs[0], domain=domain, **attrs))
        return outs

    def begin(self) -> None:
        """Start collecting the nodes that will replace one node."""
        self.pending = []

    def replace(self, old) -> None:
        """Put the collected nodes where `old` was; the last one takes over `old`'s output."""
        index = list(self.graph.node).index(old)
        self.pending[-1].output[0] = old.output[0]
        del self.graph.node[index]
        for offset, node in enumerate(self.pending):
            self.graph.node.insert(index + offset, node)


class _PartTensors:
    """One container's codes, scales and zero points as graph initializers."""

    def __init__(self, editor: GraphEditor, part: Part, stem: str) -> None:
        blocks = part.blocks
        self.blocks, self.float_activations = blocks, part.float_activations
        rows, cols = blocks.q.shape
        self.codes = editor.constant(f"{stem}_q", packed_codes(blocks))
        self.scales = editor.float_constant(f"{stem}_scales", blocks.scale.reshape(rows, cols // blocks.block))
        zero_points = _zero_points(blocks)
        self.zero_points = None if zero_points is None else editor.constant(f"{stem}_zp", zero_points)


class SharedWeight:
    """One weight as graph initializers: its container parts and its block bias."""

    def __init__(
        self, editor: GraphEditor, blocks: Blocks, stem: str, lookup: bool, float_for_carried: bool = True
    ) -> None:
        self.blocks = blocks
        rows, cols = blocks.q.shape
        self.rows, self.cols, self.n_blocks = rows, cols, cols // blocks.block
        self.parts = [
            _PartTensors(editor, part, f"{stem}p{i}")
            for i, part in enumerate(container_parts(blocks, lookup, float_for_carried))
        ]
        self.codes, self.scales = self.parts[0].codes, self.parts[0].scales
        self.bias = None if blocks.bias is None else editor.float_constant(f"{stem}_bias", blocks.bias)


def part_accuracy_level(part: _PartTensors, accuracy_level: int) -> int:
    """Exact GGUF codes in a 4-bit container, whole or the top bits of a split, compute with
    float32 activations (level 1) even at level 4: onnxruntime's 4-bit float path is fast, and
    int8 activations on carried codes cost the most fidelity (benchmarks/results.md). 8- and
    2-bit containers have no fast float path (benchmarks/matmulnbits.md): level 4 stays for
    them, for the low bits, and for every part when carried codes take int8 activations."""
    blocks = part.blocks
    if accuracy_level == 4 and part.float_activations and container_bits(blocks) == 4 and blocks.origin not in ROUNDED:
        return 1
    return accuracy_level


def matmul(editor: GraphEditor, x: str, weight: SharedWeight, accuracy_level: int) -> None:
    """Appends `y = x @ W.T` to editor.pending; the last pending node's output is y."""
    y = None
    for part in weight.parts:
        inputs = [x, part.codes, part.scales] + ([part.zero_points] if part.zero_points else [])
        product = editor.node(
            "MatMulNBits",
            inputs,
            "matmul",
            domain=MS_DOMAIN,
            K=weight.cols,
            N=weight.rows,
            bits=container_bits(part.blocks),
            block_size=part.blocks.block,
            accuracy_level=part_accuracy_level(part, accuracy_level),
        )
        y = product if y is None else editor.node("Add", [y, product], "sum")
    if weight.bias is None:
        return
    leading = editor.node("Shape", [x], "shape", end=-1)
    grouped = editor.node(
        "Concat", [leading, editor.constant("blocks", np.array([weight.n_blocks, weight.blocks.block]))], "dims", axis=0
    )
    sums = editor.node(
        "ReduceSum",
        [editor.node("Reshape", [x, grouped], "grouped"), editor.constant("axis", np.array([-1]))],
        "blocksum",
        keepdims=0,
    )
    bias_t = editor.node("Transpose", [weight.bias], "bias_t", perm=[1, 0])  # folded at load
    editor.node("Add", [y, editor.node("MatMul", [sums, bias_t], "bias")], "biased")


def unpack_nibbles(editor: GraphEditor, packed: str, ids: str, n_blocks: int, block: int) -> str:
    """Gathered 4-bit codes, two per byte lowest first, (*ids.shape, n_blocks, block / 2) uint8,
    as one code per byte: (*ids.shape, n_blocks, block)."""
    low = editor.node("BitwiseAnd", [packed, editor.constant("mask", np.array(15, dtype=np.uint8))], "low")
    high = editor.node(
        "BitShift", [packed, editor.constant("shift", np.array(4, dtype=np.uint8))], "high", direction="RIGHT"
    )
    pairs = editor.node(
        "Concat",
        [
            editor.node("Unsqueeze", [low, editor.constant("ax", np.array([-1]))], "lo"),
            editor.node("Unsqueeze", [high, editor.constant("ax", np.array([-1]))], "hi"),
        ],
        "pairs",
        axis=-1,
    )
    ids_shape = editor.node("Shape", [ids], "ids_shape")
    unpacked_dims = editor.node(
        "Concat", [ids_shape, editor.constant("blocks", np.array([n_blocks, block]))], "dims", axis=0
    )
    return editor.node("Reshape", [pairs, unpacked_dims], "codes")


def gather_rows(editor: GraphEditor, ids: str, weight: SharedWeight) -> None:
    """Appends the embedding lookup: rows `ids` of W, dequantized, shape (*ids.shape, cols)."""
    assert len(weight.parts) == 1  # lookup tables are never split
    codes = editor.node("Gather", [weight.codes, ids], "rows", axis=0)
    if container_bits(weight.blocks) == 4:
        codes = unpack_nibbles(editor, codes, ids, weight.n_blocks, weight.blocks.block)
    dequantized_rows(editor, codes, ids, weight.scales, stored_zero(weight.blocks), weight.cols, weight.bias)


def dequantized_rows(
    editor: GraphEditor, codes: str, ids: str, scales: str, zero: int, cols: int, bias: str | None = None
) -> None:
    """Appends `s * (codes - zero) (+ b)` for the gathered codes of rows `ids`,
    (*ids.shape, n_blocks, block) uint8, with those rows' scales (and block biases) gathered
    from (rows, n_blocks) tensors; the last pending node's output is (*ids.shape, cols)."""

    def per_block(table: str, stem: str) -> str:
        gathered = editor.node("Gather", [table, ids], stem, axis=0)
        return editor.node("Unsqueeze", [gathered, editor.constant("ax", np.array([-1]))], stem)

    centred = editor.node(
        "Sub",
        [editor.node("Cast", [codes], "float", to=1), editor.constant("zero", np.array(zero, dtype=np.float32))],
        "centred",
    )
    values = editor.node("Mul", [centred, per_block(scales, "row_scales")], "values")
    if bias is not None:
        values = editor.node("Add", [values, per_block(bias, "row_bias")], "biased")
    ids_shape = editor.node("Shape", [ids], "ids_shape")
    dims = editor.node("Concat", [ids_shape, editor.constant("cols", np.array([cols]))], "dims", axis=0)
    editor.node("Reshape", [values, dims], "embedding")
