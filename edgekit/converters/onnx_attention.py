"""Fuse each exported attention block into onnxruntime's `GroupQueryAttention` kernel.

torch's exporter writes a layer's attention as ~17 small nodes: the KV cache `Concat`s, the
repeat of the shared KV head (`Unsqueeze`/`Expand`/`Reshape`), `QK^T`, scale, mask, softmax
(Gemma 2 adds tanh soft-capping), `PV` and the transposes back. onnxruntime's CPU kernel does
all of it in one call, reading the one KV head in place instead of expanding it per query head
(what onnxruntime-genai's own builder emits). The kernel takes q/k/v as (B,S,N*D), so the q/k
paths are moved off the exporter's (B,N,S,D): its head transposes are bypassed (the q/k norms
read either layout). Rotary goes inside the kernel too (`do_rotary`), which reads cos/sin
tables of one row per position up to the artifact's context length: the exporter's own angle
nodes, evaluated on every such position from constants, so onnxruntime computes them once at
load. That bounds a sequence to the context length, which the artifact declares anyway (the
KV cache of its manifest and genai_config.json), and saves the ~9 rotary nodes per q and k of
every layer at each step (benchmarks/speed.md). The rewrite is checked against torch past the
sliding window in tests/test_convert_onnx.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgekit.converters.onnx_blocks import MS_DOMAIN, drop_dead_nodes, drop_unused_initializers
from edgekit.formats.onnx_graph import ATTENTION_MASK, POSITION_IDS, PRESENT_KEY, PRESENT_VALUE

INT32 = 6  # onnx.TensorProto.INT32: GroupQueryAttention's length inputs
_LAYOUT_FREE = {"Mul", "Div", "Add", "Pow", "Sqrt", "Reciprocal", "ReduceMean", "Constant"}


@dataclass(frozen=True)
class LayerAttention:
    """What one layer's kernel needs beyond its tensors (from the model's own attention modules)."""

    heads: int
    kv_heads: int
    head_dim: int
    scale: float
    softcap: float  # 0: none
    window: int | None  # sliding-window layers: how many keys each query sees, itself included


def layer_attention(model) -> list[LayerAttention]:
    """Read from a transformers Gemma model (any family: 1 has no window or soft-cap)."""
    config = model.config
    layers = []
    for layer in model.model.layers:
        attention = layer.self_attn
        layers.append(
            LayerAttention(
                heads=config.num_attention_heads,
                kv_heads=config.num_key_value_heads,
                head_dim=config.head_dim,
                scale=float(attention.scaling),
                softcap=float(getattr(config, "attn_logit_softcapping", None) or 0.0),
                window=getattr(attention, "sliding_window", None),
            )
        )
    return layers


class _Rewriter:
    """Index of the exported graph, and the nodes and constants to add to it."""

    def __init__(self, model) -> None:
        self.model = model
        self.producer = {out: node for node in model.graph.node for out in node.output}
        self.consumers: dict[str, list] = {}
        for node in model.graph.node:
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)
        self.nodes: list = []
        self.constants: dict[bytes, str] = {}
        self.shared: dict[str | tuple[str, str], str] = {}  # per cos/sin tensor: its unsqueezed form or table

    def only_consumer(self, name: str, op: str):
        users = self.consumers.get(name, [])
        if len(users) != 1 or users[0].op_type != op:
            raise ValueError(f"{name}: expected one {op} consumer, found {[u.op_type for u in users]}")
        return users[0]

    def follow(self, name: str, ops: list[str]):
        """The chain of single consumers `ops` starting at `name`; returns the last node."""
        node = None
        for op in ops:
            node = self.only_consumer(name, op)
            name = node.output[0]
        return node

    def produced_by(self, name: str, op: str):
        node = self.producer.get(name)
        if node is None or node.op_type != op:
            raise ValueError(f"{name}: expected a {op}, found {node.op_type if node else 'an input'}")
        return node

    def add(self, op: str, inputs: list[str], domain: str = "", names: list[str] | None = None, **attrs) -> str:
        from onnx import helper

        stem = f"edgekit_gqa_{op.lower()}_{len(self.nodes)}"
        self.nodes.append(helper.make_node(op, inputs, names or [stem], name=stem, domain=domain, **attrs))
        return (names or [stem])[0]

    def constant(self, values: list[int] | int) -> str:
        from onnx import numpy_helper

        array = np.array(values, dtype=np.int64)
        key = array.tobytes() + bytes([array.ndim])
        if key not in self.constants:
            self.constants[key] = f"edgekit_gqa_const_{len(self.constants)}"
            self.model.graph.initializer.append(numpy_helper.from_array(array, self.constants[key]))
        return self.constants[key]

    def unsqueezed(self, name: str) -> str:
        """(B,S,D) cos or sin as (B,S,1,D), once for all the layers that share it."""
        if name not in self.shared:
            self.shared[name] = self.add("Unsqueeze", [name, self.constant([2])])
        return self.shared[name]

    def unrotated(self, rotated: str) -> tuple[str, str, str]:
        """For the exported rotary `x*cos + rotate_half(x)*sin` in (B,N,S,D), return the
        (B,N,S,D) x and the (B,S,D) cos and sin."""
        x = cos = sin = None
        for term in (self.produced_by(name, "Mul") for name in self.produced_by(rotated, "Add").input):
            kinds = [getattr(self.producer.get(name), "op_type", None) for name in term.input]
            if "Unsqueeze" not in kinds:
                break
            at = kinds.index("Unsqueeze")
            if kinds[1 - at] == "Concat":
                sin = self.producer[term.input[at]].input[0]
            else:
                x, cos = term.input[1 - at], self.producer[term.input[at]].input[0]
        if x is None or cos is None or sin is None:
            raise ValueError(f"{rotated}: not the exported rotary embedding")
        return x, cos, sin

    def head_transpose(self, x: str):
        """The (B,S,N,D) -> (B,N,S,D) Transpose that `x` is computed from through ops that do
        not care which of those layouts they see (Gemma 3's q/k norm: elementwise ops and a
        mean over D), so that the same ops can read the (B,S,N,D) tensor instead."""
        found, stack, seen = [], [x], set()
        while stack:
            name = stack.pop()
            node = self.producer.get(name)
            if node is None or name in seen:
                continue
            seen.add(name)
            if node.op_type == "Transpose":
                if list(node.attribute[0].ints) != [0, 2, 1, 3]:
                    raise ValueError(f"{name}: unexpected transpose")
                found.append(node)
                continue
            if node.op_type not in _LAYOUT_FREE or (node.op_type == "ReduceMean" and not self._over_last_axis(node)):
                raise ValueError(f"{x} is computed by a {node.op_type}, which depends on the layout")
            stack.extend(node.input)
        if len(found) != 1:
            raise ValueError(f"{x}: expected one head transpose, found {len(found)}")
        return found[0]

    def _over_last_axis(self, node) -> bool:
        from onnx import numpy_helper

        axes = next((i for i in self.model.graph.initializer if i.name == node.input[1]), None)
        return axes is not None and numpy_helper.to_array(axes).tolist() == [-1]

    def reroute(self, old: str, new: str) -> None:
        """The exported nodes that read `old` read `new` instead."""
        for user in self.consumers.get(old, []):
            for slot, name in enumerate(user.input):
                if name == old:
                    user.input[slot] = new

    def rotary_flat(self, x: str, cos: str, sin: str, heads: int, head_dim: int) -> str:
        """Rotary on x (B,S,N,D) in that layout, flattened to (B,S,N*D): the separate-node form
        that `fuse_attention(rotary_positions=None)` keeps (benchmarks/speed.py's baseline).
        Transposing the exported result instead measured right but stopped the q/k norm fusion:
        onnxruntime pushes such transposes through the norms."""
        half = head_dim // 2
        first = self.add("Slice", [x, self.constant([0]), self.constant([half]), self.constant([-1])])
        second = self.add("Slice", [x, self.constant([half]), self.constant([head_dim]), self.constant([-1])])
        rotated_half = self.add("Concat", [self.add("Neg", [second]), first], axis=-1)
        out = self.add(
            "Add", [self.add("Mul", [x, self.unsqueezed(cos)]), self.add("Mul", [rotated_half, self.unsqueezed(sin)])]
        )
        return self.flat(out, heads * head_dim)

    def rotary_table(self, angles: str, head_dim: int, positions: int) -> str:
        """The kernel's (positions, D/2) table of the exported (B,S,D) cos or sin `angles`: the
        nodes computing it from position_ids, copied to read 0..positions-1 instead. Its two
        halves repeat (rotate_half's cat(freqs, freqs)), and the kernel takes one. Once for all
        the layers that share it."""
        key = ("table", angles)
        if key not in self.shared:
            every = self.add("Range", [self.constant(0), self.constant(positions), self.constant(1)])
            copies = {POSITION_IDS: self.add("Unsqueeze", [every, self.constant([0])])}
            table = self.add("Squeeze", [self.copied(angles, copies), self.constant([0])])
            half = head_dim // 2
            self.shared[key] = self.add(
                "Slice", [table, self.constant([0]), self.constant([half]), self.constant([-1])]
            )
        return self.shared[key]

    def copied(self, name: str, copies: dict[str, str]) -> str:
        """A copy of the exported nodes that compute `name`, reading `copies` in place of the
        tensors they name (and sharing constants)."""
        from onnx import helper

        if name in copies or name not in self.producer:
            return copies.get(name, name)
        original = self.producer[name]
        inputs = [self.copied(i, copies) if i else i for i in original.input]
        stem = f"edgekit_gqa_table_{len(self.nodes)}"
        outputs = [f"{stem}_{i}" for i in range(len(original.output))]
        copy = helper.make_node(original.op_type, inputs, outputs, name=stem, domain=original.domain)
        copy.attribute.extend(original.attribute)
        self.nodes.append(copy)
        copies.update(zip(original.output, outputs))
        return copies[name]

    def flat(self, x: str, width: int) -> str:
        return self.add("Reshape", [x, self.constant([0, 0, width])])

    def sequence_inputs(self) -> tuple[str, str]:
        """seqlens_k (int32 [batch]: the last position's index) and total_sequence_length
        (int32 scalar), from the attention mask, once for all layers."""
        total = self.add("ReduceSum", [ATTENTION_MASK, self.constant([1])], keepdims=0)
        last = self.add("Cast", [self.add("Sub", [total, self.constant(1)])], to=INT32)
        length = self.add("Slice", [self.add("Shape", [ATTENTION_MASK]), self.constant([1]), self.constant([2])])
        return last, self.add("Cast", [self.add("Squeeze", [length])], to=INT32)


def fuse_attention(model, layers: list[LayerAttention], rotary_positions: int | None) -> int:
    """Rewrite `model` (the exported decoder, without its external data) in place; returns the
    number of layers fused. `rotary_positions`: the context length the kernel's rotary tables
    cover; None keeps rotary as separate nodes before the kernel, with no bound. Raises
    ValueError before changing anything if a layer does not have the exported shape."""
    from onnx import helper

    r = _Rewriter(model)
    plans = []
    for index, spec in enumerate(layers):
        present_key, present_value = PRESENT_KEY % index, PRESENT_VALUE % index
        key_concat = r.produced_by(present_key, "Concat")
        value_concat = r.produced_by(present_value, "Concat")
        value_matmul = r.follow(present_value, ["Unsqueeze", "Expand", "Reshape", "MatMul"])
        key_transpose = r.follow(present_key, ["Unsqueeze", "Expand", "Reshape", "Transpose"])
        query = r.only_consumer(key_transpose.output[0], "MatMul").input[0]
        value = r.produced_by(value_concat.input[1], "Transpose").input[0]
        output = r.follow(value_matmul.output[0], ["Transpose", "Reshape"]).output[0]
        query, key = r.unrotated(query), r.unrotated(key_concat.input[1])
        if query[1:] != key[1:]:
            raise ValueError(f"layer {index}: q and k are rotated by different angles")
        transposes = [r.head_transpose(query[0]), r.head_transpose(key[0])]
        # Gemma 1/2 rotate the transpose's output itself: read its input
        query, key = [(t.input[0] if x == t.output[0] else x, *rest) for (x, *rest), t in zip((query, key), transposes)]
        plans.append((index, spec, key_concat, value_concat, query, key, value, output, transposes))

    seqlens, total = r.sequence_inputs()
    for index, spec, key_concat, value_concat, query, key, value, output, transposes in plans:
        for transpose in transposes:  # its readers are layout-free (`head_transpose`): the q/k
            r.reroute(transpose.output[0], transpose.input[0])  # paths now run in (B,S,N,D)
        attrs = dict(
            num_heads=spec.heads,
            kv_num_heads=spec.kv_heads,
            scale=spec.scale,
            do_rotary=int(rotary_positions is not None),
            local_window_size=spec.window if spec.window else -1,
        )
        if spec.softcap:
            attrs["softcap"] = spec.softcap
        if rotary_positions is None:
            rotated = [
                r.rotary_flat(*query, spec.heads, spec.head_dim),
                r.rotary_flat(*key, spec.kv_heads, spec.head_dim),
            ]
            tables = []
        else:
            rotated = [r.flat(query[0], spec.heads * spec.head_dim), r.flat(key[0], spec.kv_heads * spec.head_dim)]
            tables = [r.rotary_table(angles, spec.head_dim, rotary_positions) for angles in query[1:]]
        fused = f"edgekit_gqa_output_{index}"
        r.add(
            "GroupQueryAttention",
            [
                *rotated,
                r.flat(value, spec.kv_heads * spec.head_dim),
                key_concat.input[0],
                value_concat.input[0],
                seqlens,
                total,
                *tables,
            ],
            domain=MS_DOMAIN,
            names=[fused, PRESENT_KEY % index, PRESENT_VALUE % index],
            **attrs,
        )
        for node in (key_concat, value_concat):
            model.graph.node.remove(node)
        r.reroute(output, fused)

    model.graph.node.extend(r.nodes)
    # The exporter's recorded shapes are stale where the q/k paths changed layout (a norm
    # output recorded as (B,N,S,D) is now (B,S,N,D)); onnxruntime infers them again.
    del model.graph.value_info[:]
    topological_sort(model)
    drop_dead_nodes(model.graph)
    drop_unused_initializers(model.graph)
    if not any(o.domain == MS_DOMAIN for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid(MS_DOMAIN, 1))
    return len(plans)


def topological_sort(model) -> None:
    """New nodes were appended or moved; onnx wants every input produced before use."""
    graph = model.graph
    nodes = list(graph.node)
    producer = {out: i for i, node in enumerate(nodes) for out in node.output}
    order: list[int] = []
    state: dict[int, bool] = {}  # False: being visited, True: placed

    def visit(start: int) -> None:
        stack = [(start, iter(nodes[start].input))]
        state[start] = False
        while stack:
            index, inputs = stack[-1]
            for name in inputs:
                before = producer.get(name)
                if before is None or state.get(before):
                    continue
                if before in state:
                    raise ValueError("the rewritten graph has a cycle")
                state[before] = False
                stack.append((before, iter(nodes[before].input)))
                break
            else:
                stack.pop()
                state[index] = True
                order.append(index)

    for index in range(len(nodes)):
        if index not in state:
            visit(index)
    copies = [type(nodes[0])() for _ in order]
    for copy, index in zip(copies, order):
        copy.CopyFrom(nodes[index])
    del graph.node[:]
    graph.node.extend(copies)
