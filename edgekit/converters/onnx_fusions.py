"""Rewrites of the exported decoder graph that let onnxruntime's own load-time fusions apply.

torch's exporter writes Gemma's RMSNorm as `x * Reciprocal(Sqrt(mean(x^2) + eps))`; the
fusion into one `SimplifiedLayerNormalization` kernel matches only `x / Sqrt(...)`. Written as
a division, every norm fuses at session load: 7 nodes each become one
(tests/test_convert_onnx.py checks that none is left unfused). Attention is rewritten into one
kernel per layer by `onnx_attention`.
"""

from __future__ import annotations

from pathlib import Path

from edgekit.converters.onnx_attention import LayerAttention, fuse_attention


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


def fuse_for_onnxruntime(graph_path: Path, attention: list[LayerAttention]) -> None:
    """Rewrite the graph file in place; its external data file is left as it is."""
    import onnx

    model = onnx.load(str(graph_path), load_external_data=False)
    rsqrt_as_division(model)
    if attention:
        fuse_attention(model, attention)
    onnx.save(model, str(graph_path))
