"""Rewrites of the exported decoder graph that let onnxruntime's own load-time fusions apply.

torch's exporter writes Gemma's RMSNorm as `x * Reciprocal(Sqrt(mean(x^2) + eps))`; the
fusion into one `SimplifiedLayerNormalization` kernel matches only `x / Sqrt(...)`. Written as
a division, every norm fuses at session load: 7 nodes each become one
(tests/test_convert_onnx.py checks that none is left unfused). A norm that reads a residual
sum takes the Add in too (`residual_adds_into_norms`), which onnxruntime does not do at load.
Attention is rewritten into one kernel per layer by `onnx_attention`. The output projection
reads only the positions whose logits are asked for (`logits_to_keep`): a prompt needs one row
to start generating, and the projection onto Gemma's 262k-token vocabulary at every prompt
position was most of prefill's time (benchmarks/speed.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekit.converters.onnx_attention import LayerAttention, fuse_attention, topological_sort
from edgekit.converters.onnx_blocks import MS_DOMAIN
from edgekit.formats.onnx_graph import LOGITS, LOGITS_TO_KEEP

INT64 = 7  # onnx.TensorProto.INT64


def rsqrt_as_division(model) -> int:
    """`Mul(x, Reciprocal(Sqrt(v)))` -> `Div(x, Sqrt(v))` in place; returns how many."""
    from onnx import helper

    graph = model.graph
    producer = {out: node for node in graph.node for out in node.output}
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    rewritten = 0
    for reciprocal in [n for n in graph.node if n.op_type == "Reciprocal"]:
        sqrt = producer.get(reciprocal.input[0])
        users = consumers.get(reciprocal.output[0], [])
        if sqrt is None or sqrt.op_type != "Sqrt" or len(users) != 1 or users[0].op_type != "Mul":
            continue
        mul = users[0]
        numerator = mul.input[1] if mul.input[0] == reciprocal.output[0] else mul.input[0]
        index = list(graph.node).index(mul)
        graph.node.remove(mul)
        graph.node.insert(index, helper.make_node("Div", [numerator, sqrt.output[0]], list(mul.output), name=mul.name))
        graph.node.remove(reciprocal)
        rewritten += 1
    return rewritten


def _scalar(graph, name: str) -> float | None:
    from onnx import numpy_helper

    for init in graph.initializer:
        if init.name == name:
            value = numpy_helper.to_array(init)
            return float(value.reshape(-1)[0]) if value.size == 1 else None
    return None


def residual_adds_into_norms(model) -> int:
    """`s = Add(a, b)` read by the division-form RMSNorm (`Pow(s, 2)`, `ReduceMean(-1)`, `+ eps`,
    `Sqrt`, `Div(s, ...)`, `Mul(..., gamma)`) -> one `SkipSimplifiedLayerNormalization(a, b,
    gamma)` whose fourth output is `s` for its other readers (the next residual Add), as
    onnxruntime-genai's builder writes Gemma's residual stream: onnxruntime does not fuse this
    itself, and each node costs a kernel launch per step. Returns how many."""
    from onnx import helper

    graph = model.graph
    constants = {init.name for init in graph.initializer}
    constants |= {out for node in graph.node if node.op_type == "Constant" for out in node.output}
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    def only_reader(name: str, op: str):
        readers = consumers.get(name, [])
        return readers[0] if len(readers) == 1 and readers[0].op_type == op else None

    fused = 0
    for add in [n for n in graph.node if n.op_type == "Add" and len(n.input) == 2]:
        total = add.output[0]
        readers = consumers.get(total, [])
        power = next((n for n in readers if n.op_type == "Pow" and _scalar(graph, n.input[1]) == 2.0), None)
        division = next((n for n in readers if n.op_type == "Div" and n.input[0] == total), None)
        # a constant term (a bias) may broadcast, which the kernel cannot
        if power is None or division is None or any(i in constants for i in add.input):
            continue
        mean = only_reader(power.output[0], "ReduceMean")
        plus_eps = only_reader(mean.output[0], "Add") if mean else None
        root = only_reader(plus_eps.output[0], "Sqrt") if plus_eps else None
        scale = only_reader(division.output[0], "Mul")
        if root is None or scale is None or root.output[0] != division.input[1]:
            continue
        eps = _scalar(graph, plus_eps.input[1])
        if len(mean.input) != 2 or _scalar(graph, mean.input[1]) != -1 or eps is None:
            continue
        gamma = scale.input[1] if scale.input[0] == division.output[0] else scale.input[0]
        node = helper.make_node(
            "SkipSimplifiedLayerNormalization",
            [add.input[0], add.input[1], gamma],
            [scale.output[0], "", "", total],
            name=f"edgekit_skip_norm_{fused}",
            domain=MS_DOMAIN,
            epsilon=eps,
        )
        for old in (add, power, mean, plus_eps, root, division, scale):
            graph.node.remove(old)
        graph.node.append(node)
        fused += 1
    if fused:
        topological_sort(model)
        if not any(o.domain == MS_DOMAIN for o in model.opset_import):
            model.opset_import.append(helper.make_opsetid(MS_DOMAIN, 1))
    return fused


def logits_for_last_positions(model) -> None:
    """Slice the output projection's input to its last `logits_to_keep` positions (0: all, the
    default): `Slice(x, -k, end)` on the sequence axis, added as an overridable input so every
    caller that does not feed it gets the graph it had."""
    from onnx import helper, numpy_helper

    graph = model.graph
    producer = {out: node for node in graph.node for out in node.output}
    head = producer[LOGITS]
    while head.op_type != "MatMul":  # back through a final soft-cap (Gemma 2, 3n): Div, Tanh, Mul
        head = producer[next(name for name in head.input if name in producer)]
    graph.input.append(helper.make_tensor_value_info(LOGITS_TO_KEEP, INT64, [1]))
    graph.initializer.append(numpy_helper.from_array(np.array([0], dtype=np.int64), LOGITS_TO_KEEP))
    constants = {"end": [np.iinfo(np.int64).max], "axis": [1]}
    for stem, value in constants.items():
        graph.initializer.append(numpy_helper.from_array(np.array(value, dtype=np.int64), f"edgekit_keep_{stem}"))
    start, kept = "edgekit_keep_start", "edgekit_kept_positions"
    index = list(graph.node).index(head)
    graph.node.insert(index, helper.make_node("Neg", [LOGITS_TO_KEEP], [start], name=start))
    graph.node.insert(
        index + 1,
        helper.make_node("Slice", [head.input[0], start, "edgekit_keep_end", "edgekit_keep_axis"], [kept], name=kept),
    )
    head.input[0] = kept


def fuse_for_onnxruntime(graph_path: Path, attention: list[LayerAttention], rotary_positions: int | None) -> None:
    """Rewrite the graph file in place; its external data file is left as it is.
    `rotary_positions`: see `onnx_attention.fuse_attention`."""
    import onnx

    model = onnx.load(str(graph_path), load_external_data=False)
    rsqrt_as_division(model)
    logits_for_last_positions(model)
    if attention:
        fuse_attention(model, attention, rotary_positions)
    residual_adds_into_norms(model)
    onnx.save(model, str(graph_path))
