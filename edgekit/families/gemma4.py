"""Gemma 4 (E2B, E4B, 12B, 26B-A4B, 31B): per-layer embeddings (PLE) added at every decoder
layer, global layers with their own head size and proportional RoPE, the last layers reusing
earlier layers' keys and values, and turns written `<|turn>role ... <turn|>` with a system role.

edgekit converts the dense text decoder, from Hugging Face folders and from GGUFs written by
llama.cpp's converter, to ONNX (its own export) and to `.litertlm` (litert-torch's Gemma 4
exportables with external embedders: `converters.litert_bundle`); `.task` and the
mixture-of-experts 26B-A4B are refused in one line (`Family.refusal`).
"""

from __future__ import annotations

from typing import Any

from edgekit.core.chat import ChatFormat
from edgekit.families.family import ATTENTION_WEIGHTS, CORE_FIELDS, GGUF_CORE_KEYS, MLP_WEIGHTS, Family
from edgekit.families.registry import register
from edgekit.formats.gguf import GGUFFile

GEMMA4_CHAT = ChatFormat(
    start_token="<bos>",
    stop_tokens=("<turn|>", "<eos>"),
    user_prefix="<|turn>user\n",
    user_suffix="<turn|>\n",
    model_prefix="<|turn>model\n",
    model_suffix="<turn|>\n",
    turn_markers=("<|turn>", "<turn|>"),
    system_role=True,
    system_prefix="<|turn>system\n",
    generation_suffix="<|channel>thought\n<channel|>",
)

_NORMS = ("input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm", "post_feedforward_layernorm")
_PER_LAYER_INPUT = ("per_layer_input_gate", "per_layer_projection", "post_per_layer_input_norm")


@register
class Gemma4(Family):
    name = "gemma4"
    display_name = "Gemma 4"
    architectures = ("Gemma4ForCausalLM", "Gemma4ForConditionalGeneration")
    model_type = "gemma4_text"
    gguf_arch = "gemma4"
    layer_weights = (*_NORMS, *ATTENTION_WEIGHTS, *MLP_WEIGHTS, "self_attn.q_norm", "self_attn.k_norm")
    config_fields = (*CORE_FIELDS, "sliding_window", "hidden_size_per_layer_input", "num_kv_shared_layers")
    gguf_keys = {
        **GGUF_CORE_KEYS,
        "attention.key_length": "global_head_dim",  # llama.cpp: the full-attention layers' head size
        "attention.key_length_swa": "head_dim",
        "attention.sliding_window": "sliding_window",
        "attention.shared_kv_layers": "num_kv_shared_layers",
        "embedding_length_per_layer_input": "hidden_size_per_layer_input",
        "rope.freq_base_swa": "rope_local_base_freq",
        "final_logit_softcapping": "final_logit_softcapping",
        "expert_count": "num_experts",
    }
    default_context = 131072
    chat = GEMMA4_CHAT
    gguf_norm_offset = 0.0  # Gemma 4's RMSNorm multiplies by w itself, not (1 + w)
    litert_lm_model_type = "gemma4"
    text_tower_prefixes = ("model.language_model.",)
    formats = ("litertlm", "onnx")
    other_formats_reason = "a MediaPipe .task cannot hold the external embedding models Gemma 4's decoder reads"
    converts_multimodal = False
    fuse_onnx_attention = False
    litert_bundle_export = True
    litert_rotation = False
    export_patches = ("lightweight_additional_models",)

    def refusal(self, config: dict[str, Any], architecture: str, formats: tuple[str, ...]) -> tuple[str, str] | None:
        if config.get("enable_moe_block"):
            return (
                "the mixture-of-experts Gemma 4 (26B-A4B) is not converted: edgekit writes no expert "
                "routing for its 128-expert layers",
                "convert a dense Gemma 4 (E2B, E4B) instead, or run the GGUF in llama.cpp",
            )
        return super().refusal(config, architecture, formats)

    def gguf_core_extras(self, gguf: GGUFFile) -> dict[str, Any]:
        """What llama.cpp's converter writes for Gemma 4 beyond plain keys: per-layer KV heads and
        the sliding pattern as arrays, and the global layers' partial rotary as a ROPE_FREQS
        tensor (1 for rotated frequency pairs, 1e30 for the rest)."""
        extras: dict[str, Any] = {}
        heads = gguf.arch_value("attention.head_count_kv")
        pattern = gguf.arch_value("attention.sliding_window_pattern")
        if isinstance(pattern, list):
            extras["layer_types"] = ["sliding_attention" if s else "full_attention" for s in pattern]
            if isinstance(heads, list):
                extras["num_key_value_heads"] = int(next(h for h, s in zip(heads, pattern) if s))
                extras["num_global_key_value_heads"] = int(next(h for h, s in zip(heads, pattern) if not s))
        freqs = next((t for t in gguf.tensors if t.name == "rope_freqs.weight"), None)
        if freqs is not None:
            values = gguf.dequantize(freqs)
            extras["partial_rotary_factor"] = float((values < 1e29).sum()) / len(values)
        return extras

    def config_from_core(self, core: dict[str, Any]) -> dict[str, Any]:
        global_head_dim = int(core.pop("global_head_dim", core["head_dim"]))
        global_kv = core.pop("num_global_key_value_heads", core.get("num_key_value_heads"))
        local_theta = core.pop("rope_local_base_freq", 10_000.0)
        rope_parameters = {
            "sliding_attention": {"rope_type": "default", "rope_theta": local_theta},
            "full_attention": {
                "rope_type": "proportional",
                "rope_theta": core.pop("rope_theta", 1_000_000.0),
                "partial_rotary_factor": core.pop("partial_rotary_factor", 0.25),
            },
        }
        layers = int(core["num_hidden_layers"])
        layer_types = core.pop("layer_types", None) or [
            "full_attention" if (i + 1) % 6 == 0 else "sliding_attention" for i in range(layers)
        ]
        overrides = {"head_dim": global_head_dim}
        if global_kv is not None and global_kv != core.get("num_key_value_heads"):
            overrides["num_key_value_heads"] = int(global_kv)
        return {
            "architectures": ["Gemma4ForCausalLM"],
            "model_type": "gemma4_text",
            "hidden_activation": "gelu_pytorch_tanh",
            "rope_parameters": rope_parameters,
            "layer_types": layer_types,
            "per_layer_config": {
                str(i): dict(overrides) for i, kind in enumerate(layer_types) if kind == "full_attention"
            },
            "vocab_size_per_layer_input": core["vocab_size"],
            "attention_k_eq_v": False,
            "enable_moe_block": bool(core.get("num_experts")),
            **core,
        }

    def cache_shapes(self, config: dict[str, Any]) -> list[tuple[int, int]]:
        """Global layers have their own head size (and KV heads where keys are values)."""
        shapes = []
        for i in range(self.caching_layers(config)):
            layer = self._layer_config(config, i)
            shapes.append((int(layer["num_key_value_heads"]), int(layer["head_dim"])))
        return shapes

    def _layer_config(self, config: dict[str, Any], index: int) -> dict[str, Any]:
        """The layer's head size and KV heads: global layers override the text config's. The
        overrides are keyed by layer index, which transformers writes zero-padded ("04") once a
        model has ten layers or more."""
        by_layer = {int(key): value for key, value in (config.get("per_layer_config") or {}).items()}
        overrides = by_layer.get(index) or {}
        full = (config.get("layer_types") or [])[index] == "full_attention"
        head_dim = overrides.get("head_dim", config.get("global_head_dim") if full else None) or config["head_dim"]
        heads = overrides.get("num_key_value_heads")
        if heads is None and full and config.get("attention_k_eq_v"):
            heads = config.get("num_global_key_value_heads")
        return {"head_dim": head_dim, "num_key_value_heads": heads or config["num_key_value_heads"]}

    def weight_names(self, config: dict[str, Any]) -> list[str]:
        names = ["model.embed_tokens.weight", "model.norm.weight"]
        if config.get("hidden_size_per_layer_input"):
            names += [
                "model.embed_tokens_per_layer.weight",
                "model.per_layer_model_projection.weight",
                "model.per_layer_projection_norm.weight",
            ]
        shared_from = self.caching_layers(config)
        for i in range(int(config["num_hidden_layers"])):
            prefix = f"model.layers.{i}."
            weights = [*_NORMS, "self_attn.q_proj", "self_attn.o_proj", "self_attn.q_norm", *MLP_WEIGHTS]
            if i < shared_from:
                weights += ["self_attn.k_proj", "self_attn.k_norm"]
                full = (config.get("layer_types") or [])[i] == "full_attention"
                if not (config.get("attention_k_eq_v") and full):
                    weights.append("self_attn.v_proj")
            if config.get("hidden_size_per_layer_input"):
                weights += list(_PER_LAYER_INPUT)
            names += [prefix + w + ".weight" for w in weights] + [prefix + "layer_scalar"]
        if not config.get("tie_word_embeddings", True):
            names.append("lm_head.weight")
        return names
