"""Gemma 3n (E2B, E4B): Gemma 3's turns and attention pattern, plus per-layer embeddings
(PLE), AltUp's four parallel residual streams, LAuReL's low-rank side branch, activation
sparsity in the first layers' MLPs, and the last layers reusing earlier keys and values.

edgekit converts the text decoder to ONNX and to `.litertlm` (litert-torch's Gemma 3n
exportables with external embedders: `converters.litert_bundle`); both exports take the
sparsity cutoff as a Python constant (`converters.export_patches`). `.task` is refused in one line.
GGUFs written by llama.cpp's `Gemma3NModel` converter are read back into the same folder.
"""

from __future__ import annotations

import math
import re
from typing import Any

from edgekit.families.family import CORE_FIELDS, GGUF_CORE_KEYS, MLP_WEIGHTS, Family
from edgekit.families.registry import register
from edgekit.formats.gguf import GGUFFile

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
# llama.cpp stacks AltUp's three side-stream projections into one tensor each
_STACKED = re.compile(r"model\.(altup_projections|altup_unembed_projections)\.(\d+)\.weight")


def _normal_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


@register
class Gemma3n(Family):
    name = "gemma3n"
    display_name = "Gemma 3n"
    architectures = ("Gemma3nForCausalLM", "Gemma3nForConditionalGeneration")
    model_type = "gemma3n_text"
    gguf_arch = "gemma3n"
    layer_weights = (*_NORMS, "self_attn.q_proj", "self_attn.o_proj", "self_attn.q_norm", *MLP_WEIGHTS)
    config_fields = (*CORE_FIELDS, "sliding_window", "hidden_size_per_layer_input", "num_kv_shared_layers")
    gguf_keys = {
        **GGUF_CORE_KEYS,
        "attention.sliding_window": "sliding_window",
        "attention.shared_kv_layers": "num_kv_shared_layers",
        "embedding_length_per_layer_input": "hidden_size_per_layer_input",
        "rope.freq_base_swa": "rope_local_base_freq",
        "final_logit_softcapping": "final_logit_softcapping",
        "altup.active_idx": "altup_active_idx",
        "altup.num_inputs": "altup_num_inputs",
    }
    default_context = 32768
    gguf_norm_offset = 0.0  # Gemma 3n's RMSNorm multiplies by w itself
    litert_lm_model_type = "gemma3n"
    text_tower_prefixes = ("model.language_model.",)
    formats = ("litertlm", "onnx")
    other_formats_reason = "a MediaPipe .task cannot hold the external embedding models Gemma 3n's decoder reads"
    litert_bundle_export = True
    litert_rotation = False
    litert_bundle_memory = ((2.0e9, 1.21),)  # AltUp's four streams make its traced graphs larger
    # AltUp mixes 4 streams (inputs of 4); LAuReL up-projects from its rank (64 in E2B, 8 in tests)
    litert_int8_scope = "prediction_coefs|correction_coefs|modality_router|linear_right"
    converts_multimodal = False
    fuse_onnx_attention = False
    export_patches = ("constant_sparsity_cutoff", "no_vision_tower", "lightweight_additional_models")

    def gguf_core_extras(self, gguf: GGUFFile) -> dict[str, Any]:
        """What llama.cpp's converter writes for Gemma 3n beyond plain keys: the sliding pattern
        as an array, the sparsity targets as standard-normal quantiles (turned back into the
        target fractions HF's config holds), and LAuReL's rank and the per-layer embedding
        table's rows only as tensor shapes."""
        extras: dict[str, Any] = {}
        pattern = gguf.arch_value("attention.sliding_window_pattern")
        if isinstance(pattern, list):
            extras["layer_types"] = ["sliding_attention" if s else "full_attention" for s in pattern]
        quantiles = gguf.arch_value("activation_sparsity_scale")
        if isinstance(quantiles, list):
            extras["activation_sparsity_pattern"] = [round(_normal_cdf(q), 6) for q in quantiles]
        shapes = {t.name: t.shape for t in gguf.tensors}
        if "blk.0.laurel_l.weight" in shapes:
            extras["laurel_rank"] = int(shapes["blk.0.laurel_l.weight"][0])
        if "per_layer_token_embd.weight" in shapes:
            extras["vocab_size_per_layer_input"] = int(shapes["per_layer_token_embd.weight"][0])
        return extras

    def config_from_core(self, core: dict[str, Any]) -> dict[str, Any]:
        layers = int(core["num_hidden_layers"])
        rope_parameters = {
            "sliding_attention": {"rope_type": "default", "rope_theta": core.pop("rope_local_base_freq", 10_000.0)},
            "full_attention": {"rope_type": "default", "rope_theta": core.pop("rope_theta", 1_000_000.0)},
        }
        layer_types = core.pop("layer_types", None) or [
            "full_attention" if (i + 1) % 5 == 0 else "sliding_attention" for i in range(layers)
        ]
        return {
            "architectures": ["Gemma3nForCausalLM"],
            "model_type": "gemma3n_text",
            "hidden_activation": "gelu_pytorch_tanh",
            "rope_parameters": rope_parameters,
            "layer_types": layer_types,
            "activation_sparsity_pattern": [0.0] * layers,
            "vocab_size_per_layer_input": core["vocab_size"],
            "altup_correct_scale": True,
            **core,
        }

    def gguf_tensor_source(self, hf_name: str) -> tuple[str, int | None]:
        stacked = _STACKED.fullmatch(hf_name)
        if stacked:
            return f"model.{stacked[1]}.weight", int(stacked[2])
        return hf_name, None

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
