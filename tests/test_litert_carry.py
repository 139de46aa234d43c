"""A Q4_0 GGUF (the layout of Google's quantization-aware-trained releases) into LiteRT int4:
its blocks carried over, read back from the bundle's own tflite, and measured against rounding
the same values again."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgekit.converters.tflite_buffers import blockwise_weights, read_model
from edgekit.core.manifest import manifest_path
from edgekit.formats.gguf import open_gguf
from edgekit.formats.gguf_blocks import decode_blocks
from edgekit.intake.checkpoint import load_checkpoint
from edgekit.runtime.artifact import open_artifact
from tests.cli import convert, edgekit
from tests.fixtures.gguf_writer import write_gguf


@pytest.fixture(scope="module")
def q4_0_gguf(tiny_hf, tmp_path_factory):
    """Q4_0 matrices, the token embedding Q8_0 (a type int4 cannot hold)."""
    out = tmp_path_factory.mktemp("q4_0") / "tiny-q4_0.gguf"
    return write_gguf(tiny_hf["gemma3"], out, qtype="Q4_0", embedding_qtype="Q8_0")


@pytest.fixture(scope="module")
def carried(q4_0_gguf, tmp_path_factory):
    out = tmp_path_factory.mktemp("carried")
    result = edgekit("convert", q4_0_gguf, "--target", "litertlm", "--quant", "int4", "--prefill", "32", "--out", out)
    assert result.code == 0, result.stderr[-3000:]
    return next(out.glob("*.litertlm")), result.stderr


def _int4_values(bundle) -> list[np.ndarray]:
    """Each int4 weight's values (rows, cols), read back from the bundle."""
    data = open_artifact(bundle).model_bytes()
    return [weight.values() for weight in blockwise_weights(read_model(data), data)]


def test_q4_0_blocks_are_the_bundles_int4_weights(carried, q4_0_gguf):
    """Every Q4_0 block comes back from the bundle's tflite: bit for bit where its scale is
    positive; where negative (XNNPACK takes none) as |d| and negated codes, all but the
    extreme weight exact."""
    bundle, _ = carried
    record = json.loads(manifest_path(bundle).read_text())["recipe"]["litert_weights"]
    stored = _int4_values(bundle)
    gguf = open_gguf(q4_0_gguf)
    by_name = {t.name: t for t in gguf.tensors}
    names = [w for w in record["weights"] if w["origin"] == "Q4_0"]
    assert record["carried_tensors"] == len(names) > 0
    by_shape = {}
    for values in stored:
        by_shape.setdefault(values.shape, []).append(values)
    for entry in names:
        blocks = decode_blocks(gguf, by_name[entry["gguf_tensor"]])
        source = blocks.dequantize()
        matches = []
        for values in by_shape[tuple(entry["shape"])]:
            negative = np.repeat(blocks.scale < 0, 32, axis=1)
            differs = values != source
            if not differs[~negative].any():
                matches.append((values, differs, negative))
        assert matches, entry["gguf_tensor"]
        values, differs, negative = matches[0]
        # the only changed weights: extreme ones of negative-scale blocks, 8|d| stored as 7|d|
        step = np.repeat(np.abs(blocks.scale), 32, axis=1)
        np.testing.assert_array_equal(values[differs], source[differs] - step[differs])
        assert differs.sum() == entry["clipped_values"]
    assert 0.3 < record["exact_blocks"] / record["blocks"] < 0.7  # Q4_0's scale sign is the max's, opposite


def test_a_type_int4_cannot_hold_is_rounded_again_and_named_in_the_log(carried):
    bundle, log = carried
    record = json.loads(manifest_path(bundle).read_text())["recipe"]["litert_weights"]
    assert record["requantized"] == {"Q8_0": 1}  # the tied embedding: lookup and output projection share it
    assert "re-quantized from float: 1 from Q8_0" in log
    assert "int4 weights carry the GGUF's Q4_0 blocks" in log


def test_carried_blocks_keep_more_of_their_gguf_than_rounding_again(carried, q4_0_gguf, tmp_path):
    """The same values through the HF folder the GGUF reads as (no blocks to carry): rounded
    onto int4 a second time. Both are judged against the Q4_0 model's own outputs."""
    folder = load_checkpoint(q4_0_gguf).hf_folder()
    rounded = convert(folder, "--target", "litertlm", "--quant", "int4", "--prefill", "32", "--out", tmp_path)["int4"]

    def kl(bundle) -> float:
        result = edgekit("validate", bundle, "--json")
        assert result.code in (0, 1), result.stderr[-2000:]
        return result.json()["teacher_forced"]["kl_mean"]

    carried_kl, rounded_kl = kl(carried[0]), kl(rounded)
    # measured: 0.039 vs 0.074 (the Q8_0 embedding is rounded onto int4 in both)
    assert carried_kl < 0.7 * rounded_kl, (carried_kl, rounded_kl)


def test_the_runtime_refuses_a_negative_scale_which_is_why_such_blocks_are_flipped(carried):
    """Writing a Q4_0 block as it is (negative scale) makes XNNPACK refuse the model; the day it
    accepts one, negative-scale blocks can be carried bit for bit."""
    from ai_edge_litert.interpreter import Interpreter

    data = bytearray(open_artifact(carried[0]).model_bytes())
    Interpreter(model_content=bytes(data), num_threads=1).allocate_tensors()  # as written: loads
    weight = next(blockwise_weights(read_model(data), data))
    weight.scales[0] = -weight.scales[0]
    with pytest.raises(RuntimeError, match="unsupported scale value"):
        Interpreter(model_content=bytes(data), num_threads=1).allocate_tensors()
