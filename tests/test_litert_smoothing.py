"""Activation outliers migrated into the weights before the LiteRT export: the float model
stays the source (tests/test_convert_litert.py's fp32 logits test runs on the migrated
export), and an int8 bundle of a model with outlier channels keeps more of it."""

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


def test_migrated_outliers_keep_more_of_the_source_in_int8(outlier_checkpoint, tmp_path):
    args = ("--target", "litertlm", "--quant", "int8", "--prefill", "32", "--max-tokens", "256")
    smoothed = convert(outlier_checkpoint, *args, "--out", tmp_path / "smoothed")["int8"]
    plain = convert(outlier_checkpoint, *args, "--no-smoothing", "--out", tmp_path / "plain")["int8"]
    recorded = json.loads(manifest_path(smoothed).read_text())["recipe"]["litert_smoothing"]
    assert recorded["alpha"] == 0.5
    assert json.loads(manifest_path(plain).read_text())["recipe"]["litert_smoothing"] is None
    smoothed_kl, plain_kl = _kl(smoothed), _kl(plain)
    assert smoothed_kl < 0.75 * plain_kl, (smoothed_kl, plain_kl)  # measured: 0.0111 vs 0.0188
