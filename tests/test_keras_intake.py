"""KerasHub presets as a third input format: presets saved by keras-hub itself, read without
Keras, checked against keras-hub's own forward pass and against its own HF export."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from edgekit.intake.checkpoint import load_checkpoint
from edgekit.runtime import open_runner
from edgekit.runtime.artifact import open_artifact
from edgekit.runtime.tflite_runner import TfliteRunner
from tests.cli import assert_one_line_error, edgekit
from tests.conftest import FAMILIES
from tests.fixtures.keras_presets import keras_logits

IDS = list(range(4, 44))  # 40 tokens: past the sliding window of 16


@pytest.mark.parametrize("family", FAMILIES)
def test_preset_reads_as_the_model_keras_hub_runs(tiny_keras, family):
    import torch
    import transformers

    ckpt = load_checkpoint(tiny_keras[family])
    assert (ckpt.kind, ckpt.family.name) == ("keras", family)
    assert ckpt.instruction_tuned is True  # from the preset name, as KerasHub names its presets
    model = transformers.AutoModelForCausalLM.from_pretrained(ckpt.hf_folder(), attn_implementation="eager").eval()
    with torch.no_grad():
        ours = model(torch.tensor([IDS])).logits.numpy()
    theirs = keras_logits(tiny_keras[family], IDS)
    assert np.abs(ours - theirs).max() < 1e-4


def test_preset_converts_like_keras_hubs_own_hf_export(tiny_keras, tmp_path):
    """The same weights through two routes (edgekit's Keras intake; keras-hub's
    export_to_transformers, then edgekit's HF intake) give fp32 bundles with identical logits."""
    import keras_hub

    preset = tiny_keras["gemma3"]
    hf_export = tmp_path / "hf-export"
    keras_hub.models.CausalLM.from_preset(str(preset)).export_to_transformers(str(hf_export))
    bundles = {}
    for route, source in (("keras", preset), ("hf", hf_export)):
        result = edgekit(
            "convert",
            source,
            "--target",
            "android",
            "--quant",
            "fp32",
            "--max-tokens",
            "256",
            "--prefill",
            "32",
            "--out",
            tmp_path / route,
            "--json",
        )
        assert result.code == 0, result.stderr[-3000:]
        bundles[route] = {
            a["format"]: {k: Path(v) if k in ("artifact", "manifest") else v for k, v in a.items()}
            for a in result.json()["artifacts"]
        }
    manifest = json.loads(bundles["keras"]["task"]["manifest"].read_text())
    assert manifest["source"]["format"] == "keras"
    assert manifest["source"]["weights_sha256"]["model.weights.h5"]
    for fmt in ("task", "litertlm"):
        logits = {
            route: np.stack(list(TfliteRunner(open_artifact(b[fmt]["artifact"])).logits(IDS)))
            for route, b in bundles.items()
        }
        np.testing.assert_array_equal(logits["keras"], logits["hf"], err_msg=fmt)
        with open_runner(bundles["keras"][fmt]["artifact"]) as runner:
            assert "".join(runner.generate("the capital of france is", 4)), fmt


def test_bfloat16_preset_is_widened_exactly(tmp_path, tiny_tokenizer_model):
    import keras
    import keras_hub

    from edgekit.formats.keras_weights import list_variables, read_variable

    backbone = keras_hub.models.Gemma3Backbone(
        vocabulary_size=512,
        image_size=896,
        num_layers=1,
        num_query_heads=2,
        num_key_value_heads=1,
        hidden_dim=64,
        intermediate_dim=128,
        head_dim=32,
        vision_encoder=None,
        dtype="bfloat16",
    )
    backbone.save_to_preset(str(tmp_path / "bf16"))
    variables = list_variables(tmp_path / "bf16")
    embedding = variables["layers/reversible_embedding/vars/0"]
    assert embedding.bfloat16
    expected = keras.ops.convert_to_numpy(keras.ops.cast(backbone.token_embedding.embeddings, "float32"))
    np.testing.assert_array_equal(read_variable(embedding), expected)


def test_preset_without_vocabulary_is_refused(tiny_keras, tmp_path):
    broken = shutil.copytree(tiny_keras["gemma"], tmp_path / "no-vocab")
    shutil.rmtree(broken / "assets")
    assert_one_line_error(edgekit("inspect", broken), "vocabulary.spm", "assets")


def test_preset_whose_config_does_not_match_its_weights_is_refused(tiny_keras, tmp_path):
    broken = shutil.copytree(tiny_keras["gemma3"], tmp_path / "wrong-layers")
    config = json.loads((broken / "config.json").read_text())
    config["config"]["num_layers"] = 7
    (broken / "config.json").write_text(json.dumps(config))
    assert_one_line_error(edgekit("convert", broken, "--out", tmp_path / "out"), "6 decoder blocks", "says 7")


def test_embedding_preset_is_refused(tiny_keras, tmp_path):
    broken = shutil.copytree(tiny_keras["gemma3"], tmp_path / "embedder")
    config = json.loads((broken / "config.json").read_text())
    config["config"]["is_embedding_model"] = True
    (broken / "config.json").write_text(json.dumps(config))
    assert_one_line_error(edgekit("inspect", broken), "embedding model")
