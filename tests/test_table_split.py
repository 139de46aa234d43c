"""`int8-rare4`: the tied embedding/output table exported as two tensors, the vocabulary's rare
rows stored in 4-bit blocks and the rest in 8 bits."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgekit.converters.table_split import rare_rows
from edgekit.core.manifest import manifest_path
from tests.cli import assert_one_line_error, edgekit

# Gemma 2 scales its embedding in the model's forward, Gemma 3 in the embedding module; the
# export traces the same modules, so the bundle tests convert Gemma 3 only.
SPLIT_FAMILIES = ("gemma2", "gemma3")


def test_the_rare_rows_are_the_later_half_of_the_merged_pieces(tiny_hf) -> None:
    from sentencepiece import sentencepiece_model_pb2 as spm

    model = spm.ModelProto()
    model.ParseFromString((tiny_hf["gemma3"] / "tokenizer.model").read_bytes())
    merged = [i for i, p in enumerate(model.pieces) if p.type == 1 and len(p.piece.replace("\u2581", "")) > 1]
    rows = rare_rows(tiny_hf["gemma3"] / "tokenizer.model")
    assert rows.stop == merged[-1] + 1 and 0.45 < sum(i in rows for i in merged) / len(merged) <= 0.55
    assert all(model.pieces[i].type == 1 for i in rows)  # no control, byte or user-defined piece is small


@pytest.mark.parametrize("family", SPLIT_FAMILIES)
def test_the_split_table_gives_the_models_logits(tiny_hf, family) -> None:
    """Ids on both sides of each boundary, and the first and last, come out as before the split."""
    import torch

    from edgekit.converters.golden import load_source_model
    from edgekit.converters.table_split import split_model_table

    model = load_source_model(tiny_hf[family])
    rows = rare_rows(tiny_hf[family] / "tokenizer.model")
    vocab = model.config.vocab_size
    ids = torch.tensor([[2, 0, rows.start - 1, rows.start, rows.start + 1, rows.stop - 1, rows.stop, vocab - 1, 7]])
    with torch.no_grad():
        before = model(ids).logits
        split_model_table(model, rows)
        after = model(ids).logits
    assert torch.allclose(before, after, atol=1e-5)


@pytest.fixture(scope="module")
def rare4(tiny_hf, tmp_path_factory) -> dict[str, Path]:
    """{quant: bundle} for Gemma 3's fp32 and int8-rare4, from one (split) export."""
    folder = tmp_path_factory.mktemp("rare4")
    result = edgekit(
        "convert", tiny_hf["gemma3"], "--target", "litertlm", "--quant", "fp32,int8-rare4", "--out", folder, "--json"
    )
    assert result.code == 0, result.stderr[-3000:]
    return {a["quant"]: Path(a["artifact"]) for a in result.json()["artifacts"]}


def test_the_split_fp32_bundle_matches_the_source(rare4, tiny_hf) -> None:
    from edgekit.converters.golden import load_source_model, source_logits
    from edgekit.runtime.artifact import open_artifact
    from edgekit.runtime.tflite_runner import TfliteRunner

    artifact = open_artifact(rare4["fp32"])
    ids = artifact.manifest.golden.reference.ids[:64]
    bundle = np.stack(list(TfliteRunner(artifact).logits(ids)))
    assert np.abs(bundle - source_logits(load_source_model(tiny_hf["gemma3"]), ids)).max() < 1e-3


def test_only_the_rare_rows_are_4_bit_and_the_bundle_validates(rare4, tiny_hf) -> None:
    from edgekit.converters.tflite_buffers import blockwise_weights, read_model
    from edgekit.runtime.artifact import open_artifact

    data = open_artifact(rare4["int8-rare4"]).model_bytes()
    small = [weight.shape for weight in blockwise_weights(read_model(data), data)]
    rows = rare_rows(tiny_hf["gemma3"] / "tokenizer.model")
    assert small == [(len(rows), 64)]  # hidden size 64: one table tensor, nothing else
    manifest = json.loads(manifest_path(rare4["int8-rare4"]).read_text())
    assert manifest["recipe"]["litert_rare_rows"] == [rows.start, rows.stop]
    report = edgekit("validate", rare4["int8-rare4"], "--json")
    assert report.code == 0, report.json()["checks"]


def test_int8_rare4_is_refused_for_bundles_litert_torch_exports(tiny_next, tmp_path) -> None:
    result = edgekit("convert", tiny_next["gemma4"], "--target", "litertlm", "--quant", "int8-rare4", "--out", tmp_path)
    assert_one_line_error(result, "--quant int8-rare4", "Gemma 1, 2 and 3")
    assert not any(tmp_path.iterdir())


def test_the_table_scopes_name_each_half_of_the_split_table(rare4, tiny_hf) -> None:
    """Recipes reach the split table's halves by scope, matched as the quantizer matches them (on
    each op's output names): `KEPT_ROWS_SCOPE` names only the ops that read the kept rows and
    `RARE_ROWS_SCOPE` only those that read the rare rows, though the rare output projection's
    name holds its kept sibling's."""
    import re

    from ai_edge_quantizer.utils import tfl_flatbuffer_utils as quantizer_model

    from edgekit.core.recipes import EMBEDDING, FC, KEPT_ROWS_SCOPE, RARE_ROWS_SCOPE
    from edgekit.runtime.artifact import open_artifact

    rows = rare_rows(tiny_hf["gemma3"] / "tokenizer.model")
    model = quantizer_model.read_model(open_artifact(rare4["fp32"]).model_bytes())
    weight_ops = {
        index
        for index, code in enumerate(model.operatorCodes)
        if quantizer_model.TFL_OP_CODE_TO_NAME.get(code.builtinCode) in (FC, EMBEDDING)
    }
    read: dict[str, list[int]] = {KEPT_ROWS_SCOPE: [], RARE_ROWS_SCOPE: []}
    for subgraph in model.subgraphs:
        for op in subgraph.operators:
            scope = quantizer_model.get_op_scope(op, subgraph.tensors)
            tables = [subgraph.tensors[i].shape for i in op.inputs if i >= 0 and len(subgraph.tensors[i].shape) == 2]
            for pattern, found in read.items():
                if op.opcodeIndex in weight_ops and re.search(pattern, scope):
                    found += [int(shape[0]) for shape in tables if shape[1] == 64]
    assert set(read[RARE_ROWS_SCOPE]) == {len(rows)}
    assert set(read[KEPT_ROWS_SCOPE]) == {512 - len(rows)}
    assert len(read[KEPT_ROWS_SCOPE]) == len(read[RARE_ROWS_SCOPE]) >= 2  # a lookup and the output projection
