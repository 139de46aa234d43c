"""Gemma 1: global attention only, no post-norms, no soft-caps."""

from __future__ import annotations

from typing import Any

from edgekit.families.family import ATTENTION_WEIGHTS, KERAS_COMMON, MLP_WEIGHTS, Family
from edgekit.families.registry import register

LAYER_WEIGHTS = ("input_layernorm", *ATTENTION_WEIGHTS, "post_attention_layernorm", *MLP_WEIGHTS)


@register
class Gemma1(Family):
    name = "gemma"
    display_name = "Gemma 1"
    architectures = ("GemmaForCausalLM",)
    model_type = "gemma"
    gguf_arch = "gemma"
    layer_weights = LAYER_WEIGHTS
    keras_backbone = "GemmaBackbone"
    # Gemma 1 has no post-attention norm: HF's `post_attention_layernorm` is Keras's pre-FFW norm.
    keras_layer_weights = {**KERAS_COMMON, "post_attention_layernorm": "pre_ffw_norm"}
    pre_mlp_norm = "post_attention_layernorm"
    default_context = 8192

    def keras_matches(self, class_name: str, args: dict[str, Any]) -> bool:
        """KerasHub's GemmaBackbone serves Gemma 1 and 2: Gemma 1 is the one without post-norms."""
        return class_name == self.keras_backbone and not _keras_post_norms(args)

    def keras_core(self, args: dict[str, Any]) -> dict[str, Any]:
        return {}

    def config_from_core(self, core: dict[str, Any]) -> dict[str, Any]:
        return {
            "architectures": ["GemmaForCausalLM"],
            "model_type": "gemma",
            "hidden_act": "gelu_pytorch_tanh",
            "hidden_activation": "gelu_pytorch_tanh",
            "rope_theta": core.pop("rope_theta", 10000.0),
            **core,
        }


def _keras_post_norms(args: dict[str, Any]) -> bool:
    return bool(args.get("use_post_ffw_norm") or args.get("use_post_attention_norm"))
