"""Sensitivity scan: what quantizing each group of weights to int4 costs, in KL to the source.

One onnxruntime session on the float graph, with every weight made an overridable input: a
group's int4 values are fed in its place and the logits over the calibration text are compared
with the float graph's (mean KL per position). A group is the weights that read the same input
(q/k/v; gate/up), or a weight alone (o, down, the tied embedding), so no names are needed.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgekit.converters.onnx_weights import Weight
from edgekit.formats.onnx_graph import LOGITS
from edgekit.runtime.metrics import log_softmax
from edgekit.runtime.onnx_runner import cpu_session, decoder_feeds, empty_past


@dataclass(frozen=True)
class Group:
    label: str
    keys: tuple[str, ...]


def weight_groups(model, weights: list[Weight]) -> list[Group]:
    by_key = {w.key: w for w in weights}
    groups: dict[str, list[str]] = {}
    for node in model.graph.node:
        if node.op_type == "MatMul" and node.input[1] in by_key and not by_key[node.input[1]].is_embedding:
            groups.setdefault(node.input[0], []).append(node.input[1])
    found = [Group(f"matmuls reading {source}", tuple(dict.fromkeys(keys))) for source, keys in groups.items()]
    found += [Group("embedding / output projection", (w.key,)) for w in weights if w.is_embedding]
    return found


def scan_groups(
    model,
    groups: list[Group],
    int4_values: Callable[[str], np.ndarray],
    ids: list[int],
    on_group: Callable[[int, int], None] | None = None,
) -> dict[str, float]:
    """{group label: mean KL(source || group at int4)} over `ids`. int4_values(key) is in graph layout."""
    import onnx

    scanned = onnx.ModelProto()
    scanned.CopyFrom(model)
    initializers = {init.name: init for init in scanned.graph.initializer}
    for key in {k for g in groups for k in g.keys}:
        init = initializers[key]
        scanned.graph.input.append(onnx.helper.make_tensor_value_info(key, init.data_type, list(init.dims)))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "scan.onnx"
        onnx.save(scanned, str(path), save_as_external_data=True, location="scan.onnx.data")
        del scanned
        session = cpu_session(path)
    feeds = decoder_feeds(ids, 0, empty_past(session))
    source = log_softmax(session.run([LOGITS], feeds)[0][0])
    costs = {}
    for index, group in enumerate(groups):
        if on_group:
            on_group(index, len(groups))
        got = log_softmax(session.run([LOGITS], {**feeds, **{k: int4_values(k) for k in group.keys}})[0][0])
        costs[group.label] = float((np.exp(source) * (source - got)).sum(axis=-1).mean())
    return costs
