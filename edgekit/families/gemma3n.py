"""Gemma 3n (E2B, E4B): Gemma 3's turns and attention pattern, plus per-layer embeddings
(PLE), AltUp's four parallel residual streams, LAuReL's low-rank side branch, activation
sparsity in the first layers' MLPs, and the last layers reusing earlier keys and values.

edgekit converts the text decoder to ONNX and to `.litertlm` (litert-torch's Gemma 3n
exportables with external embedders: `converters.litert_bundle`); both exports take the
sparsity cutoff as a Python constant (`converters.export_patches`). `.task` is refused in one line.
"""

from __future__ import annotations

from typing import Any

from edgekit.families.family import CORE_FIELDS, MLP_WEIGHTS, Family
from edgekit.families.registry import register

_NORMS = ("input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm", "post_feedforward_layernorm")
_PER_LAYER = (
    "altup.correction_coefs",
    "altup.prediction_coefs",
    "altup.modality_router",
    "altup.router_norm",
    "laurel.linear_left",
    "laurel.linear_right",
    "laurel.post_laurel_norm",
    "per_layer_input_gate",
    "per_layer_projection",
    "post_per_layer_input_norm",
)


@register
class Gemma3n(Family):
    name = "gemma3n"
    display_name = "Gemma 3n"
    architectures = ("Gemma3nForCausalLM", "Gemma3nForConditionalGeneration")
    model_type = "gemma3n_text"
    gguf_arch = "gemma3n"
    layer_weights = (*_NORMS, "self_attn.q_proj", "self_attn.o_proj", "self_attn.q_norm", *MLP_WEIGHTS)
    config_fields = (*CORE_FIELDS, "sliding_window", "hidden_size_per_layer_input", "num_kv_shared_layers")
    default_context = 32768
    gguf_norm_offset = 0.0  # Gemma 3n's RMSNorm multiplies by w itself
    litert_lm_model_type = "gemma3n"
    text_tower_prefixes = ("model.language_model.",)
    formats = ("litertlm", "onnx")
    other_formats_reason = "a MediaPipe .task cannot hold the external embedding models Gemma 3n's decoder reads"
    litert_bundle_export = True
    # AltUp mixes 4 streams (inputs of 4); LAuReL up-projects from its rank (64 in E2B, 8 in tests)
    litert_int8_scope = "prediction_coefs|correction_coefs|modality_router|linear_right"
    converts_multimodal = False
    fuse_onnx_attention = False
    export_patches = ("constant_sparsity_cutoff", "no_vision_tower")

    def weight_names(self, config: dict[str, Any]) -> list[str]:
        names = [
            "model.embed_tokens.weight",
            "model.norm.weight",
            "model.embed_tokens_per_layer.weight",
            "model.per_layer_model_projection.weight",
            "model.per_layer_projection_norm.weight",
        ]
        for stream in range(int(config.get("altup_num_inputs", 4)) - 1):
            names += [f"model.altup_projections.{stream}.weight", f"model.altup_unembed_projections.{stream}.weight"]
        caching = self.caching_layers(config)
        for i in range(int(config["num_hidden_layers"])):
            weights = [*self.layer_weights, *_PER_LAYER]
            if i < caching:
                weights += ["self_attn.k_proj", "self_attn.v_proj", "self_attn.k_norm"]
            names += [f"model.layers.{i}.{w}.weight" for w in weights]
            names.append(f"model.layers.{i}.altup.correct_output_scale")
        if not config.get("tie_word_embeddings", True):
            names.append("lm_head.weight")
        return names
