"""Graph rewrites on hand-built graphs: the RMSNorm rewrite computes the same and lets
onnxruntime fuse the norm into one kernel; weight blocks written as MatMulNBits compute
like their dequantized floats."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from edgekit.converters.block_quant import quantize_asymmetric, quantize_symmetric  # noqa: E402
from edgekit.converters.onnx_fusions import residual_adds_into_norms, rsqrt_as_division  # noqa: E402
from edgekit.converters.onnx_weights import apply_blocks  # noqa: E402

HIDDEN = 64


def _norm_constants(rng: np.random.Generator) -> list[onnx.TensorProto]:
    """The exponent, axis, epsilon and (1 + w) scale of Gemma's norm."""
    return [
        numpy_helper.from_array(np.array(2.0, np.float32), "two"),
        numpy_helper.from_array(np.array([-1], np.int64), "axes"),
        numpy_helper.from_array(np.array(1e-6, np.float32), "eps"),
        numpy_helper.from_array((1 + rng.normal(0, 0.1, HIDDEN)).astype(np.float32), "scale"),
    ]


def _rms_norm_graph() -> onnx.ModelProto:
    """`x * Reciprocal(Sqrt(mean(x^2) + eps)) * (1 + w)`, as torch's exporter writes Gemma's norm."""
    rng = np.random.default_rng(0)
    nodes = [
        helper.make_node("Pow", ["x", "two"], ["sq"]),
        helper.make_node("ReduceMean", ["sq", "axes"], ["mean"], keepdims=1),
        helper.make_node("Add", ["mean", "eps"], ["var"]),
        helper.make_node("Sqrt", ["var"], ["std"]),
        helper.make_node("Reciprocal", ["std"], ["inv"]),
        helper.make_node("Mul", ["x", "inv"], ["normed"]),
        helper.make_node("Mul", ["normed", "scale"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "norm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, HIDDEN])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, HIDDEN])],
        _norm_constants(rng),
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)], ir_version=10)


def _run(model: onnx.ModelProto, feeds: dict[str, np.ndarray], optimized: Path | None = None) -> np.ndarray:
    options = ort.SessionOptions()
    if optimized is not None:
        options.optimized_model_filepath = str(optimized)
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, feeds)[0]


def test_rms_norm_as_division_computes_the_same_and_fuses(tmp_path):
    x = np.random.default_rng(1).normal(size=(1, 3, HIDDEN)).astype(np.float32)
    model = _rms_norm_graph()
    before = _run(model, {"x": x})
    assert rsqrt_as_division(model) == 1
    assert "Reciprocal" not in {n.op_type for n in model.graph.node}
    optimized = tmp_path / "optimized.onnx"
    after = _run(model, {"x": x}, optimized)
    np.testing.assert_allclose(after, before, rtol=1e-5, atol=1e-6)
    fused = {n.op_type for n in onnx.load(str(optimized)).graph.node}
    assert "SimplifiedLayerNormalization" in fused and "Sqrt" not in fused


def test_a_reciprocal_with_other_users_is_left_alone():
    model = _rms_norm_graph()
    model.graph.node.append(helper.make_node("Identity", ["inv"], ["also"]))
    assert rsqrt_as_division(model) == 0


def _matmul_graph(weight: np.ndarray) -> onnx.ModelProto:
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "mm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, weight.shape[0]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, weight.shape[1]])],
        [numpy_helper.from_array(weight, "w")],
    )
    return helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 20), helper.make_opsetid("com.microsoft", 1)], ir_version=10
    )


@pytest.mark.parametrize("form", ["int8 symmetric", "int4 asymmetric"])
def test_weight_blocks_compute_like_their_dequantized_floats(form):
    rng = np.random.default_rng(2)
    rows, cols = 48, 128  # HF layout (out, in); the graph multiplies by its transpose
    weight = rng.normal(0, 0.05, (rows, cols)).astype(np.float32)
    blocks = quantize_symmetric(weight, 8, 32) if form.startswith("int8") else quantize_asymmetric(weight, 4, 32)
    x = rng.normal(size=(2, cols)).astype(np.float32)
    model = _matmul_graph(np.ascontiguousarray(weight.T))
    from edgekit.converters.onnx_weights import find_weights

    (found,) = find_weights(model)
    apply_blocks(model, {found.key: blocks}, accuracy_level=0)
    assert "MatMulNBits" in {n.op_type for n in model.graph.node}
    np.testing.assert_allclose(_run(model, {"x": x}), x @ blocks.dequantize().T, rtol=1e-4, atol=1e-4)


def _residual_norm_graph(bias: bool = False) -> onnx.ModelProto:
    """`s = a + b` (b: a computed tensor, or with `bias` a constant), read by Gemma's norm in its
    division form and by the next residual Add: `y = norm(s)`, `z = s + y`."""
    rng = np.random.default_rng(5)
    nodes = [
        helper.make_node("Relu", ["b_in"], ["b"]),
        helper.make_node("Add", ["a", "bias" if bias else "b"], ["s"]),
        helper.make_node("Pow", ["s", "two"], ["sq"]),
        helper.make_node("ReduceMean", ["sq", "axes"], ["mean"], keepdims=1),
        helper.make_node("Add", ["mean", "eps"], ["var"]),
        helper.make_node("Sqrt", ["var"], ["std"]),
        helper.make_node("Div", ["s", "std"], ["normed"]),
        helper.make_node("Mul", ["normed", "scale"], ["y"]),
        helper.make_node("Add", ["s", "y"], ["z"]),
    ]
    inits = [*_norm_constants(rng), numpy_helper.from_array(rng.normal(0, 1, HIDDEN).astype(np.float32), "bias")]
    shape = [1, 3, HIDDEN]
    graph = helper.make_graph(
        nodes,
        "residual",
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, shape) for name in ("a", "b_in")],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, shape) for name in ("y", "z")],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)], ir_version=10)


def test_a_residual_add_goes_into_the_norm_that_reads_it():
    """One SkipSimplifiedLayerNormalization replaces the Add and the norm's six nodes, and gives
    the norm's output and the sum (for the next residual Add) as the nodes did."""
    rng = np.random.default_rng(6)
    feeds = {name: (rng.normal(0, 30, (1, 3, HIDDEN))).astype(np.float32) for name in ("a", "b_in")}
    model = _residual_norm_graph()
    options = ort.SessionOptions()

    def outputs(m: onnx.ModelProto) -> list[np.ndarray]:
        return ort.InferenceSession(m.SerializeToString(), options, providers=["CPUExecutionProvider"]).run(None, feeds)

    before = outputs(model)
    assert residual_adds_into_norms(model) == 1
    assert [n.op_type for n in model.graph.node] == ["Relu", "SkipSimplifiedLayerNormalization", "Add"]
    for after, expected in zip(outputs(model), before):
        np.testing.assert_allclose(after, expected, rtol=1e-5, atol=1e-5)


def test_a_norm_after_adding_a_constant_is_left_to_onnxruntime():
    model = _residual_norm_graph(bias=True)
    assert residual_adds_into_norms(model) == 0


@pytest.mark.parametrize(("recipe", "products"), [("int8", ["MatMulNBits", "MatMul"]), ("int8-fast", ["MatMulNBits"])])
def test_int8_fast_plans_a_carried_block_bias_into_one_product(recipe, products):
    """A GGUF's asymmetric blocks (Q4_K's `s*q + b`) stay exact under `int8`, a bias product
    beside the MatMulNBits; `int8-fast` plans them as 8-bit codes with the bias rounded in, one
    product, and both compute like the dequantized floats."""
    from edgekit.converters.onnx_quantize import Candidates, plan_recipe
    from edgekit.core.recipes import recipe_named

    rng = np.random.default_rng(8)
    weight = rng.normal(0, 0.05, (48, 128)).astype(np.float32)
    blocks = quantize_asymmetric(weight, 4, 32)
    x = rng.normal(size=(2, 128)).astype(np.float32)
    model = _matmul_graph(np.ascontiguousarray(weight.T))
    candidates = Candidates(model, 32, None)
    (found,) = candidates.weights
    candidates.carried[found.key] = ("blk.0.attn_output.weight", blocks)
    (planned,) = plan_recipe(candidates, recipe_named(recipe).onnx_forms)
    apply_blocks(model, {found.key: planned.blocks}, 4, recipe_named(recipe).onnx_forms.float_for_carried)
    ops = [n.op_type for n in model.graph.node]
    assert [op for op in ops if op in ("MatMulNBits", "MatMul")] == products
    expected = x @ blocks.dequantize().T
    np.testing.assert_allclose(_run(model, {"x": x}), expected, atol=0.02 * np.abs(expected).max())
