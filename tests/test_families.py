"""The family registry: one module per Gemma generation, found by what a checkpoint says, and
the only code that knows a generation by name."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from edgekit.core.errors import EdgekitError
from edgekit.families import (
    FAMILIES,
    family_for_architecture,
    family_for_gguf_arch,
    family_for_keras,
    family_named,
    supported_architectures,
)

PACKAGE = Path(__file__).resolve().parent.parent / "edgekit"


def test_each_generation_registers_once_from_its_own_module():
    modules = {type(f).__module__ for f in FAMILIES}
    assert len(modules) == len(FAMILIES) == len({f.name for f in FAMILIES})
    for module in modules:
        assert (PACKAGE / "families" / (module.rsplit(".", 1)[1] + ".py")).exists()


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_lookups_find_the_family_by_what_a_checkpoint_says(family):
    assert family_named(family.name) is family
    assert family_for_gguf_arch(family.gguf_arch) is family
    for architecture in family.architectures:
        assert family_for_architecture(architecture) is family


def test_keras_backbones_tell_gemma_1_from_2_by_their_post_norms():
    assert family_for_keras("GemmaBackbone", {}).name == "gemma"
    assert family_for_keras("GemmaBackbone", {"use_post_ffw_norm": True}).name == "gemma2"
    assert family_for_keras("Gemma3Backbone", {}).name == "gemma3"
    with pytest.raises(EdgekitError, match="not a Gemma text model"):
        family_for_keras("LlamaBackbone", {})


def test_unknown_architectures_name_the_supported_ones():
    with pytest.raises(EdgekitError) as error:
        family_for_architecture("LlamaForCausalLM")
    assert all(a in error.value.fix for a in supported_architectures())


@pytest.mark.parametrize(
    "name, role",
    [
        ("model.embed_tokens.weight", "embedding"),
        ("token_embd.weight", "embedding"),
        ("lm_head.weight", "lm_head"),
        ("output.weight", "lm_head"),
        ("model.layers.3.post_attention_layernorm.weight", "norm"),
        ("blk.3.attn_q.weight", "attention"),
        ("model.layers.0.mlp.down_proj.weight", "mlp"),
        ("blk.0.ffn_down.weight", "mlp"),
        ("model.embed_tokens_per_layer.weight", "per_layer_embedding"),
        ("per_layer_token_embd.weight", "per_layer_embedding"),
        ("model.layers.2.post_per_layer_input_norm.weight", "per_layer"),
        ("model.layers.2.altup.router_norm.weight", "per_layer"),
    ],
)
def test_tensor_roles_for_hf_and_gguf_names(name, role):
    assert all(f.tensor_role(name) == role for f in FAMILIES)


def test_a_multimodal_checkpoint_keeps_its_text_tower_only():
    gemma3 = family_named("gemma3")
    tensors = {
        "model.language_model.layers.0.mlp.up_proj.weight": 1,
        "model.vision_tower.x.weight": 2,
        "lm_head.weight": 3,
    }
    kept = gemma3.text_tensors(tensors, "Gemma3ForConditionalGeneration")
    assert kept == {"model.layers.0.mlp.up_proj.weight": 1, "lm_head.weight": 3}
    assert gemma3.text_tensors(tensors, "Gemma3ForCausalLM") is tensors
    assert gemma3.text_config({"text_config": {"a": 1}}, "Gemma3ForConditionalGeneration") == {"a": 1}


def test_nothing_outside_the_registry_branches_on_a_family_name():
    names = "|".join(re.escape(f.name) for f in FAMILIES)
    branch = re.compile(rf"\.name\s*(==|!=|in\b)|[\"']({names})[\"']")
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.is_relative_to(PACKAGE / "families"):
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if "family" in line and branch.search(line):
                offenders.append(f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}")
    assert offenders == []
