"""MatMulNBits weights written from `Blocks` must compute what the dequantized floats compute."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgekit.converters.onnx_weights import Weight, apply_blocks, find_weights
from edgekit.formats.gguf_blocks import Blocks
from edgekit.runtime.artifact import open_artifact
from edgekit.runtime.onnx_runner import OnnxRunner

# (bits of the codes, block, zero, asymmetric): the shapes of Q4_0, Q4_K, Q5_0, Q5_1, Q6_K and Q8_0
LAYOUTS = {
    "Q4_0": (4, 32, 8, False),
    "Q4_K": (4, 32, 0, True),
    "Q5_0": (5, 32, 16, False),
    "Q5_1": (5, 32, 0, True),
    "Q6_K": (6, 16, 32, False),
    "Q8_0": (8, 32, 128, False),
}


def _random_blocks(weight: Weight, layout: str, rng: np.random.Generator) -> Blocks:
    bits, block, zero, asymmetric = LAYOUTS[layout]
    n_blocks = weight.cols // block
    scale = (rng.random((weight.rows, n_blocks)) * 0.02 / 2 ** (bits - 4) + 1e-3).astype(np.float32)
    return Blocks(
        origin=layout,
        bits=bits,
        block=block,
        zero=zero,
        q=rng.integers(0, 2**bits, (weight.rows, weight.cols), dtype=np.uint8),
        scale=scale,
        bias=(rng.standard_normal((weight.rows, n_blocks)) * 0.02).astype(np.float32) if asymmetric else None,
    )


def _with_float_weights(model, plan: dict[str, Blocks], weights: dict[str, Weight]) -> None:
    from onnx import numpy_helper

    for init in model.graph.initializer:
        if init.name in plan:
            values = plan[init.name].dequantize()
            values = values if weights[init.name].is_embedding else np.ascontiguousarray(values.T)
            init.CopyFrom(numpy_helper.from_array(values, init.name))


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_blocks_compute_like_their_dequantized_floats(layout, onnx_converted, tmp_path: Path) -> None:
    import onnx

    graph = onnx_converted["gemma3"]["fp32"] / "model.onnx"
    rng = np.random.default_rng(7)
    model = onnx.load(str(graph))
    weights = {w.key: w for w in find_weights(model)}
    assert sum(w.is_embedding for w in weights.values()) == 1 and len(weights) > 1
    plan = {key: _random_blocks(w, layout, rng) for key, w in weights.items()}

    reference = onnx.load(str(graph))
    _with_float_weights(reference, plan, weights)
    onnx.save(reference, str(tmp_path / "float.onnx"), save_as_external_data=True, location="float.onnx.data")
    apply_blocks(model, plan, accuracy_level=0)
    assert not any(n.op_type == "Transpose" and n.input[0] in weights for n in model.graph.node)
    onnx.save(model, str(tmp_path / "blocks.onnx"), save_as_external_data=True, location="blocks.onnx.data")

    ids = list(range(3, 40))
    expected = np.stack(list(OnnxRunner(open_artifact(tmp_path / "float.onnx")).logits(ids)))
    actual = np.stack(list(OnnxRunner(open_artifact(tmp_path / "blocks.onnx")).logits(ids)))
    np.testing.assert_allclose(actual, expected, rtol=0, atol=1e-5 * np.abs(expected).max())


@pytest.mark.parametrize("quantize", ["quantize_symmetric", "quantize_asymmetric"])
def test_row_chunked_quantization_equals_whole(quantize, monkeypatch) -> None:
    """Chunks of rows (bounded memory) give exactly the codes of the whole weight."""
    from edgekit.converters import block_quant

    weight = np.random.default_rng(0).standard_normal((37, 64)).astype(np.float32)
    whole = getattr(block_quant, quantize)(weight, 4, 32)
    monkeypatch.setattr(block_quant, "VALUES_PER_CHUNK", 5 * 64)  # 5 rows a chunk
    chunked = getattr(block_quant, quantize)(weight, 4, 32)
    for field in ("q", "scale", "bias"):
        np.testing.assert_array_equal(getattr(chunked, field), getattr(whole, field), err_msg=field)
    assert chunked.q.shape == weight.shape


def test_chunks_carry_the_importance_too(monkeypatch) -> None:
    from edgekit.converters import block_quant

    rng = np.random.default_rng(1)
    weight = rng.standard_normal((37, 64)).astype(np.float32)
    importance = rng.gamma(0.3, size=64).astype(np.float32)
    whole = block_quant.quantize_asymmetric(weight, 4, 32, importance=importance)
    monkeypatch.setattr(block_quant, "VALUES_PER_CHUNK", 5 * 64)  # 5 rows a chunk
    chunked = block_quant.quantize_asymmetric(weight, 4, 32, importance=importance)
    np.testing.assert_array_equal(chunked.q, whole.q)


def test_importance_lowers_the_error_where_activations_are_large() -> None:
    """Weighted by the activation energy of each column, the error of importance-aware
    rounding is lower than that of plain rounding (what the output actually sees)."""
    from edgekit.converters.block_quant import quantize_asymmetric

    rng = np.random.default_rng(2)
    weight = rng.standard_normal((512, 256)).astype(np.float32)
    importance = rng.gamma(0.3, size=256).astype(np.float32)  # heavy-tailed, as real activations are

    def weighted_error(blocks) -> float:
        return float((np.square(blocks.dequantize() - weight) * importance).sum())

    plain, aware = quantize_asymmetric(weight, 4, 32), quantize_asymmetric(weight, 4, 32, importance=importance)
    assert weighted_error(aware) < 0.8 * weighted_error(plain)


@pytest.mark.parametrize("layout", ["Q5_0", "Q8_0"])
def test_split_codes_keep_int8_activation_error_to_their_low_bits(layout, onnx_converted, tmp_path: Path) -> None:
    """At accuracy level 4 (int8 activations), codes split into top 4 bits (float activations)
    and low bits (int8) are several times closer to their dequantized floats than one container,
    which is what `int8-fast` writes: one 8-bit product per weight, int8 activations throughout.
    The embedding (a lookup, never split) stays float here so that only the split weights differ."""
    import onnx

    graph = onnx_converted["gemma3"]["fp32"] / "model.onnx"
    model = onnx.load(str(graph))
    weights = {w.key: w for w in find_weights(model) if not w.is_embedding}
    plan = {key: _random_blocks(w, layout, np.random.default_rng(3)) for key, w in weights.items()}
    reference = onnx.load(str(graph))
    _with_float_weights(reference, plan, weights)
    onnx.save(reference, str(tmp_path / "float.onnx"), save_as_external_data=True, location="float.onnx.data")
    ids = list(range(3, 40))
    expected = np.stack(list(OnnxRunner(open_artifact(tmp_path / "float.onnx")).logits(ids)))

    def error(name: str, float_for_carried: bool) -> float:
        candidate = onnx.load(str(graph))
        apply_blocks(candidate, plan, 4, float_for_carried)
        products = [n for n in candidate.graph.node if n.op_type == "MatMulNBits"]
        levels = {a.i for n in products for a in n.attribute if a.name == "accuracy_level"}
        assert len(products) == len(weights) * (2 if float_for_carried else 1)
        assert levels == ({1, 4} if float_for_carried else {4})
        onnx.save(candidate, str(tmp_path / f"{name}.onnx"), save_as_external_data=True, location=f"{name}.onnx.data")
        return float(
            np.abs(np.stack(list(OnnxRunner(open_artifact(tmp_path / f"{name}.onnx")).logits(ids))) - expected).max()
        )

    assert 0 < error("split", True) < error("whole", False) / 3  # measured: 1/11 (Q5_0), 1/5 (Q8_0)


def test_rescored_head_is_exact_at_its_leaders_and_estimates_the_rest(onnx_converted, tmp_path: Path) -> None:
    """With `head_candidates`, a Q8_0 table's lookup stays exact and its output projection gives
    exactly the 8-bit logits at the `k` leaders, the true top few among them, and a 4-bit
    estimate elsewhere; at float activations, so only the head's two passes differ."""
    import onnx

    graph = onnx_converted["gemma3"]["fp32"] / "model.onnx"
    model = onnx.load(str(graph))
    weights = {w.key: w for w in find_weights(model)}
    plan = {key: _random_blocks(w, "Q8_0", np.random.default_rng(4)) for key, w in weights.items()}
    ids, k = list(range(3, 40)), 16

    def logits(name: str, head_candidates: int) -> np.ndarray:
        candidate = onnx.load(str(graph))
        apply_blocks(candidate, plan, 0, head_candidates=head_candidates)
        onnx.save(candidate, str(tmp_path / f"{name}.onnx"), save_as_external_data=True, location=f"{name}.onnx.data")
        return np.stack(list(OnnxRunner(open_artifact(tmp_path / f"{name}.onnx")).logits(ids)))

    whole, rescored = logits("whole", 0), logits("rescored", k)
    # re-scored: within 3e-7 of the largest logit (float sums in another order); estimates: 3e-6 and more
    exact = np.isclose(rescored, whole, rtol=0, atol=1e-6 * np.abs(whole).max())
    # the leaders, and beyond them only the rare estimate that lands as close by chance
    assert (exact.sum(-1) >= k).all() and (exact.sum(-1) <= k + 2).all()
    true_top = np.argsort(-whole, -1)[:, :3]
    assert np.take_along_axis(exact, true_top, -1).all()
    assert np.abs(rescored - whole).max() < 0.1 * (whole.max(-1) - whole.min(-1)).min()


def test_a_block_bias_goes_into_8bit_codes_within_half_their_step() -> None:
    """Q4_K's `s*q + b` as symmetric 8-bit codes (what `int8-fast` writes, one product per
    weight): each value moves by at most half the new step, which is s/15 or finer for Q4_K's
    usual bias (about -7.5 s); a block of one value, and one whose bias dwarfs its step, too."""
    from edgekit.converters.onnx_blocks import offset_in_codes

    rng = np.random.default_rng(7)
    rows, cols = 8, 256
    scale = (rng.random((rows, cols // 32)) * 0.02 + 1e-3).astype(np.float32)
    bias = (-(7 + rng.random(scale.shape)) * scale).astype(np.float32)
    scale[0, 0], bias[0, 0] = 0.0, 0.3  # every value 0.3
    bias[0, 1] = 1000 * scale[0, 1]
    q = rng.integers(0, 16, (rows, cols), dtype=np.uint8)
    blocks = Blocks("Q4_K", 4, 32, q, scale, 0, bias)
    folded = offset_in_codes(blocks)
    assert (folded.bits, folded.zero, folded.bias) == (8, 128, None)
    moved = np.abs(folded.dequantize() - blocks.dequantize()).reshape(rows, -1, 32).max(-1)
    assert (moved <= folded.scale / 2 + 1e-7).all()
    assert np.allclose(folded.dequantize()[0, :32], 0.3)
    ordinary = np.ones(scale.shape, dtype=bool)
    ordinary[0, :2] = False
    assert (folded.scale[ordinary] <= scale[ordinary] / 15 * (1 + 1e-6)).all()
