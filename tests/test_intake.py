"""Checkpoint intake: HF folders and GGUF files of every Gemma generation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgekit.core.errors import EdgekitError
from edgekit.intake.checkpoint import load_checkpoint
from tests.conftest import FAMILIES
from tests.fixtures.gguf_writer import write_gguf


@pytest.mark.parametrize("family", FAMILIES)
def test_hf_folder_is_recognised(tiny_hf, family):
    ckpt = load_checkpoint(tiny_hf[family])
    assert ckpt.family.name == family
    assert ckpt.kind == "hf"
    assert ckpt.config["vocab_size"] == 512
    assert "tokenizer.model" in ckpt.tokenizer_files


@pytest.mark.parametrize("family", FAMILIES)
def test_float_gguf_round_trip_gives_identical_logits(tiny_hf, tmp_path, family):
    """HF -> GGUF (llama.cpp's rules) -> edgekit intake -> transformers: same model."""
    import torch
    import transformers

    gguf_path = write_gguf(tiny_hf[family], tmp_path / "f32.gguf", qtype=None)
    ckpt = load_checkpoint(gguf_path)
    assert ckpt.family.name == family and ckpt.kind == "gguf"
    folder = ckpt.hf_folder()
    assert folder == ckpt.hf_folder()  # cached by content hash
    source = transformers.AutoModelForCausalLM.from_pretrained(tiny_hf[family]).eval()
    rebuilt = transformers.AutoModelForCausalLM.from_pretrained(folder).eval()
    ids = torch.arange(4, 44).unsqueeze(0)  # 40 tokens: past the sliding window of 16
    with torch.no_grad():
        a, b = source(ids).logits, rebuilt(ids).logits
    assert (a - b).abs().max() < 1e-4


@pytest.mark.parametrize("family", FAMILIES)
def test_q8_gguf_dequantizes_exactly(tiny_hf, tiny_gguf, family):
    """Every quantized block comes back as gguf-py's reference dequantization of it,
    and norms stored as 1 + w come back as w."""
    import gguf
    from safetensors.numpy import load_file

    source = load_file(tiny_hf[family] / "model.safetensors")
    folder = load_checkpoint(tiny_gguf[family]).hf_folder()
    rebuilt = load_file(folder / "model.safetensors")
    q8 = gguf.GGMLQuantizationType.Q8_0
    for name, weight in source.items():
        if weight.ndim == 2:
            expected = gguf.quants.dequantize(gguf.quants.quantize(weight, q8), q8)
        else:
            expected = (weight + 1.0) - 1.0
        np.testing.assert_array_equal(rebuilt[name], expected, err_msg=name)


def test_gguf_tokenizer_rebuild_matches_source(tiny_hf, tiny_gguf, tiny_tokenizer_model):
    import sentencepiece as spm

    folder = load_checkpoint(tiny_gguf["gemma3"]).hf_folder()
    original = spm.SentencePieceProcessor(model_proto=tiny_tokenizer_model)
    rebuilt = spm.SentencePieceProcessor(model_file=str(folder / "tokenizer.model"))
    for text in [
        "the capital of france",
        "  two  spaces\tand tab\n",
        "<start_of_turn>user\nhi<end_of_turn>\n",
        "数字 123 😀",
    ]:
        assert rebuilt.encode(text) == original.encode(text), text
    assert (rebuilt.bos_id(), rebuilt.eos_id(), rebuilt.pad_id(), rebuilt.unk_id()) == (
        original.bos_id(),
        original.eos_id(),
        original.pad_id(),
        original.unk_id(),
    )


def test_calibration_of_a_gguf_source_starts_with_bos(tiny_gguf):
    """A tokenizer rebuilt from a GGUF has no BOS id of its own (-1): calibration must not use it."""
    from edgekit.converters.pipeline import calibration_ids

    folder = load_checkpoint(tiny_gguf["gemma3"]).hf_folder()
    ids = calibration_ids(folder, "<bos>")
    assert ids[0] == 2 and min(ids) >= 0


def test_pickle_is_refused(tmp_path):
    bad = tmp_path / "pytorch_model.bin"
    bad.write_bytes(b"\x80\x04not really")
    with pytest.raises(EdgekitError, match="pickle"):
        load_checkpoint(bad)


def test_folder_with_only_pickle_weights_is_refused(tiny_hf, tmp_path):
    (tmp_path / "config.json").write_text((tiny_hf["gemma"] / "config.json").read_text())
    (tmp_path / "pytorch_model.bin").write_bytes(b"\x80\x04")
    with pytest.raises(EdgekitError, match="pickle"):
        load_checkpoint(tmp_path)


def test_non_gemma_config_is_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}))
    with pytest.raises(EdgekitError, match="not a Gemma"):
        load_checkpoint(tmp_path)


def test_missing_weight_is_named(tiny_hf, tmp_path):
    from safetensors.numpy import load_file, save_file

    for name in ("config.json", "tokenizer.model"):
        (tmp_path / name).write_bytes((tiny_hf["gemma"] / name).read_bytes())
    weights = load_file(tiny_hf["gemma"] / "model.safetensors")
    weights.pop("model.layers.1.mlp.up_proj.weight")
    save_file(weights, tmp_path / "model.safetensors")
    with pytest.raises(EdgekitError, match="model.layers.1.mlp.up_proj.weight"):
        load_checkpoint(tmp_path)


def test_gguf_weights_are_float32_after_intake(tiny_gguf):
    from safetensors.numpy import load_file

    folder = load_checkpoint(tiny_gguf["gemma2"]).hf_folder()
    weights = load_file(folder / "model.safetensors")
    assert all(w.dtype == np.float32 for w in weights.values())


def test_text_tower_of_conditional_generation_is_read(tiny_hf, tmp_path):
    """Gemma3ForConditionalGeneration: the text config and `model.language_model.*` weights."""
    from safetensors.numpy import load_file, save_file

    text_config = json.loads((tiny_hf["gemma3"] / "config.json").read_text())
    (tmp_path / "config.json").write_text(
        json.dumps(
            {
                "architectures": ["Gemma3ForConditionalGeneration"],
                "model_type": "gemma3",
                "text_config": text_config,
                "vision_config": {"hidden_size": 8},
            }
        )
    )
    weights = load_file(tiny_hf["gemma3"] / "model.safetensors")
    renamed = {name.replace("model.", "model.language_model.", 1): w for name, w in weights.items()}
    renamed["model.vision_tower.patch.weight"] = np.zeros((2, 2), dtype=np.float32)
    save_file(renamed, tmp_path / "model.safetensors")
    (tmp_path / "tokenizer.model").write_bytes((tiny_hf["gemma3"] / "tokenizer.model").read_bytes())
    ckpt = load_checkpoint(tmp_path)
    assert ckpt.family.name == "gemma3"
    assert ckpt.config["num_hidden_layers"] == 6
    assert ckpt.parameter_count == load_checkpoint(tiny_hf["gemma3"]).parameter_count


def test_a_sharded_multimodal_folder_becomes_a_text_folder_transformers_loads_whole(tiny_tokenizer_model, tmp_path):
    """Shards written by transformers (towers in some of them): the text folder keeps the text
    decoder's tensors under their CausalLM names, with an index, bytes and dtypes unchanged."""
    import torch
    import transformers

    from tests.fixtures.multimodal import write_multimodal_checkpoint
    from tests.fixtures.tiny_models import write_tiny_checkpoint

    text = write_tiny_checkpoint("gemma4", tmp_path / "text", tiny_tokenizer_model)
    folder = write_multimodal_checkpoint(text, tmp_path / "multimodal", max_shard_size="1MB")
    assert len(list(folder.glob("*.safetensors"))) > 2
    written = load_checkpoint(folder).hf_folder()
    assert load_checkpoint(written).architecture == "Gemma4ForCausalLM"
    model, info = transformers.AutoModelForCausalLM.from_pretrained(str(written), output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    ids = torch.tensor([[2, 17, 40, 99, 5, 250, 31, 8]])
    source = transformers.AutoModelForCausalLM.from_pretrained(str(text))
    assert torch.equal(model(ids).logits, source(ids).logits)
