"""Gemma 3: five sliding-window layers per global one, q/k norms, two RoPE bases; the
multimodal checkpoints' text tower is converted."""

from __future__ import annotations

from typing import Any

from edgekit.families.family import CORE_FIELDS, GGUF_CORE_KEYS, Family
from edgekit.families.gemma2 import KERAS_LAYER_WEIGHTS as GEMMA2_KERAS_LAYER_WEIGHTS
from edgekit.families.gemma2 import LAYER_WEIGHTS as GEMMA2_LAYER_WEIGHTS
from edgekit.families.registry import register


@register
class Gemma3(Family):
    name = "gemma3"
    display_name = "Gemma 3"
    architectures = ("Gemma3ForCausalLM", "Gemma3ForConditionalGeneration")
    model_type = "gemma3_text"
    gguf_arch = "gemma3"
    layer_weights = (*GEMMA2_LAYER_WEIGHTS, "self_attn.q_norm", "self_attn.k_norm")
    config_fields = (*CORE_FIELDS, "sliding_window", "query_pre_attn_scalar")
    gguf_keys = {
        **GGUF_CORE_KEYS,
        "rope.scaling.factor": "rope_scaling_factor",
        "attention.sliding_window": "sliding_window",
    }
    keras_backbone = "Gemma3Backbone"
    keras_layer_weights = {
        **GEMMA2_KERAS_LAYER_WEIGHTS,
        "self_attn.q_norm": "attention/query_norm",
        "self_attn.k_norm": "attention/key_norm",
    }
    default_context = 32768
    litert_lm_model_type = "gemma3"
    text_tower_prefixes = ("model.language_model.", "language_model.model.")

    def keras_core(self, args: dict[str, Any]) -> dict[str, Any]:
        return {**super().keras_core(args), "rope_scaling_factor": float(args.get("global_rope_scaling_factor") or 1.0)}

    def config_from_core(self, core: dict[str, Any]) -> dict[str, Any]:
        layers = int(core["num_hidden_layers"])
        global_theta = core.pop("rope_theta", 1_000_000.0)
        rope_parameters = {
            "full_attention": {"rope_type": "default", "rope_theta": global_theta},
            "sliding_attention": {"rope_type": "default", "rope_theta": 10_000.0},
        }
        scaling = core.pop("rope_scaling_factor", None)
        if scaling and scaling != 1.0:
            rope_parameters["full_attention"] = {"rope_type": "linear", "rope_theta": global_theta, "factor": scaling}
        return {
            "architectures": ["Gemma3ForCausalLM"],
            "model_type": "gemma3_text",
            "hidden_activation": "gelu_pytorch_tanh",
            "query_pre_attn_scalar": core["head_dim"],
            "final_logit_softcapping": None,
            "attn_logit_softcapping": None,
            "rope_parameters": rope_parameters,
            "layer_types": ["full_attention" if (i + 1) % 6 == 0 else "sliding_attention" for i in range(layers)],
            **core,
        }
