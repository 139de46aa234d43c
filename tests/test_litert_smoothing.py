"""Activation outliers migrated into the weights before the LiteRT export: the float model
stays the source (tests/test_convert_litert.py's fp32 logits test runs on the migrated
export), and the quantized bundles of a model with outlier channels keep more of it."""

from __future__ import annotations

import json

import pytest
from safetensors.numpy import load_file, save_file

from edgekit.core.manifest import manifest_path
from tests.cli import convert, edgekit
from tests.fixtures.tiny_models import write_tiny_checkpoint

OUTLIER_CHANNELS = [3, 17]
OUTLIER_SCALE = 30.0  # Gemma scales by 1 + w


@pytest.fixture(scope="module")
def outlier_checkpoint(tmp_path_factory, tiny_tokenizer_model):
    """A tiny Gemma 3 whose pre-attention and pre-MLP norms blow two channels up, as the
    released models' norms do."""
    folder = write_tiny_checkpoint("gemma3", tmp_path_factory.mktemp("outliers") / "gemma3", tiny_tokenizer_model)
    weights = load_file(folder / "model.safetensors")
    for name, value in weights.items():
        if name.endswith(("input_layernorm.weight", "pre_feedforward_layernorm.weight")):
            value[OUTLIER_CHANNELS] = OUTLIER_SCALE - 1.0
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
    return folder


def _kl(bundle) -> float:
    result = edgekit("validate", bundle, "--json")
    assert result.code == 0, result.stderr[-2000:]
    return result.json()["teacher_forced"]["kl_mean"]


def test_migrated_outliers_keep_more_of_the_source(outlier_checkpoint, tmp_path):
    """int4 keeps clearly more of the source with the migration, its blocks rotated or not;
    int8, whose inputs the Hadamard rotation already flattens, keeps about as much."""
    args = ("--target", "litertlm", "--quant", "int8,int4", "--prefill", "32", "--max-tokens", "256")
    smoothed = convert(outlier_checkpoint, *args, "--out", tmp_path / "smoothed")
    plain = convert(outlier_checkpoint, *args, "--no-smoothing", "--out", tmp_path / "plain")
    recorded = json.loads(manifest_path(smoothed["int4"]).read_text())["recipe"]["litert_smoothing"]
    assert recorded["alpha"] == 0.5
    assert json.loads(manifest_path(plain["int4"]).read_text())["recipe"]["litert_smoothing"] is None
    kl = {quant: (_kl(smoothed[quant]), _kl(plain[quant])) for quant in ("int8", "int4")}
    assert kl["int4"][0] < 0.9 * kl["int4"][1], kl  # measured with unrotated blocks: 0.185 vs 0.219
    assert kl["int8"][0] <= 1.25 * kl["int8"][1], kl  # measured with the rotation: 0.0049 vs 0.0053, 0.0048 vs 0.0043
