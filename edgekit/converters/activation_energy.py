"""How much each input channel of each weight matters: the mean square of the activation it
multiplies, measured on the float ONNX graph over the calibration text.

An error in column j of W costs E[x_j^2] times its square in the output (llama.cpp's
"importance matrix"), so block quantization that rounds weights to 4 bits minimizes the
error weighted by it rather than the plain squared error.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from edgekit.converters.onnx_weights import Weight
from edgekit.runtime.onnx_runner import cpu_session, decoder_feeds, empty_past


def _inputs_by_weight(model, weights: list[Weight]) -> dict[str, str]:
    """{weight key: the activation its MatMul multiplies}; the tied embedding's is the one its
    output projection (`MatMul(x, Transpose(E))`) reads."""
    keys = {w.key for w in weights}
    transposed = {
        node.output[0]: node.input[0]
        for node in model.graph.node
        if node.op_type == "Transpose" and node.input[0] in keys
    }
    found = {}
    for node in model.graph.node:
        if node.op_type == "MatMul":
            key = transposed.get(node.input[1], node.input[1])
            if key in keys:
                found[key] = node.input[0]
    return found


def input_energy(float_model: Path, weights: list[Weight], ids: list[int], threads: int = 2) -> dict[str, np.ndarray]:
    """{weight key: mean x_j^2 per input column j (length = weight.cols)} over `ids`."""
    import onnx

    model = onnx.load(str(float_model), load_external_data=False)
    inputs = _inputs_by_weight(model, weights)
    known = {o.name for o in model.graph.output}
    for name in dict.fromkeys(inputs.values()):
        if name not in known:
            model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    # Saved beside the float graph, so its external data (a relative location) is found.
    with tempfile.NamedTemporaryFile(suffix=".onnx", dir=float_model.parent) as probe:
        onnx.save(model, probe.name)
        session = cpu_session(Path(probe.name), threads)
    names = list(dict.fromkeys(inputs.values()))
    values = dict(zip(names, session.run(names, decoder_feeds(ids, 0, empty_past(session)))))
    energy = {name: np.square(v.astype(np.float64)).reshape(-1, v.shape[-1]).mean(axis=0) for name, v in values.items()}
    return {key: energy[name].astype(np.float32) for key, name in inputs.items()}
