"""Weight-only quantization of the ONNX decoder with onnxruntime's MatMulNBits.

Gemma ties its output projection to the embedding, and the export emits it as
`Transpose(embedding) -> MatMul`: the quantizer needs a constant weight, so the projection is
untied first (a transposed copy). int4 and int8 then quantize every MatMul (block
`--block-size`, symmetric) and the embedding Gather; `mixed` keeps the embedding and the output
projection at 8 bits. `accuracy_level` is MatMulNBits' compute type for the activations
(4 = int8, the fastest on CPUs with int8 dot products; 0/1 = float32).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekit.errors import EdgekitError


def untie_output_projection(model) -> None:
    from onnx import numpy_helper

    initializers = {init.name: init for init in model.graph.initializer}
    producers = {out: node for node in model.graph.node for out in node.output}
    for node in model.graph.node:
        if node.op_type != "MatMul" or "logits" not in node.output[0]:
            continue
        transpose = producers.get(node.input[1])
        if transpose is None or transpose.op_type != "Transpose" or transpose.input[0] not in initializers:
            return
        weight = numpy_helper.to_array(initializers[transpose.input[0]])
        untied = numpy_helper.from_array(np.ascontiguousarray(weight.T), name="lm_head.weight_untied")
        model.graph.initializer.append(untied)
        node.input[1] = untied.name
        model.graph.node.remove(transpose)
        return


def _logits_matmul(model) -> str:
    return next(n.name for n in model.graph.node if n.op_type == "MatMul" and "logits" in n.output[0])


def quantize_onnx(float_model: Path, quant: str, block_size: int, out: Path, accuracy_level: int = 4) -> Path:
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    if quant not in ("int8", "int4", "mixed"):
        raise EdgekitError(f"--quant {quant} is not available for ONNX", "use int8, int4, mixed or fp32")
    model = onnx.load(str(float_model))
    untie_output_projection(model)
    if quant == "mixed":
        head = _logits_matmul(model)
        embedding = [n.name for n in model.graph.node if n.op_type == "Gather" and "embedding" in n.output[0]]
        passes = [(4, None, [head, *embedding]), (8, [head, *embedding], None)]
    else:
        passes = [(4 if quant == "int4" else 8, None, None)]
    for bits, include, exclude in passes:
        quantizer = MatMulNBitsQuantizer(
            model, bits=bits, block_size=block_size, is_symmetric=True, accuracy_level=accuracy_level,
            nodes_to_include=include, nodes_to_exclude=exclude,
            op_types_to_quantize=("MatMul", "Gather"), quant_axes=(("MatMul", 0), ("Gather", 1)),
        )
        quantizer.process()
        model = quantizer.model.model
    onnx.save(model, str(out), save_as_external_data=True, location=out.name + ".data")
    return out
