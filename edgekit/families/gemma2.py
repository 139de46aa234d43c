"""Gemma 2: alternating sliding-window and global layers, post-norms, logit soft-caps."""

from __future__ import annotations

from typing import Any

from edgekit.families.family import CORE_FIELDS, GGUF_CORE_KEYS, KERAS_COMMON, Family
from edgekit.families.gemma1 import LAYER_WEIGHTS as GEMMA1_LAYER_WEIGHTS
from edgekit.families.gemma1 import _keras_post_norms
from edgekit.families.registry import register

LAYER_WEIGHTS = (*GEMMA1_LAYER_WEIGHTS, "pre_feedforward_layernorm", "post_feedforward_layernorm")
KERAS_LAYER_WEIGHTS = {
    **KERAS_COMMON,
    "post_attention_layernorm": "post_attention_norm",
    "pre_feedforward_layernorm": "pre_ffw_norm",
    "post_feedforward_layernorm": "post_ffw_norm",
}


@register
class Gemma2(Family):
    name = "gemma2"
    display_name = "Gemma 2"
    architectures = ("Gemma2ForCausalLM",)
    model_type = "gemma2"
    gguf_arch = "gemma2"
    layer_weights = LAYER_WEIGHTS
    config_fields = (
        *CORE_FIELDS,
        "sliding_window",
        "query_pre_attn_scalar",
        "attn_logit_softcapping",
        "final_logit_softcapping",
    )
    gguf_keys = {
        **GGUF_CORE_KEYS,
        "attention.sliding_window": "sliding_window",
        "attn_logit_softcapping": "attn_logit_softcapping",
        "final_logit_softcapping": "final_logit_softcapping",
    }
    keras_backbone = "GemmaBackbone"
    keras_layer_weights = KERAS_LAYER_WEIGHTS
    default_context = 8192

    def keras_matches(self, class_name: str, args: dict[str, Any]) -> bool:
        """KerasHub's GemmaBackbone serves Gemma 1 and 2: Gemma 2 is the one with post-norms."""
        return class_name == self.keras_backbone and _keras_post_norms(args)

    def keras_core(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            **super().keras_core(args),
            "attn_logit_softcapping": args.get("attention_logit_soft_cap"),
            "final_logit_softcapping": args.get("final_logit_soft_cap"),
        }

    def config_from_core(self, core: dict[str, Any]) -> dict[str, Any]:
        layers = int(core["num_hidden_layers"])
        return {
            "architectures": ["Gemma2ForCausalLM"],
            "model_type": "gemma2",
            "hidden_activation": "gelu_pytorch_tanh",
            "rope_theta": core.pop("rope_theta", 10000.0),
            "query_pre_attn_scalar": core["head_dim"],
            "attn_logit_softcapping": core.pop("attn_logit_softcapping", 50.0),
            "final_logit_softcapping": core.pop("final_logit_softcapping", 30.0),
            # Even layers slide, odd layers attend globally.
            "layer_types": ["sliding_attention" if i % 2 == 0 else "full_attention" for i in range(layers)],
            **core,
        }
