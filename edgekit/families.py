"""The model-family registry: the one place that knows what a Gemma generation is.

Intake, converters, runtime and samples read architecture names, config fields, weight
names and the chat format from here, nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from edgekit.core.errors import EdgekitError


@dataclass(frozen=True)
class ChatFormat:
    """Instruction-tuned Gemma's turn format. Gemma has no system role: a system
    instruction is folded into the first user turn."""

    start_token: str = "<bos>"
    stop_tokens: tuple[str, ...] = ("<eos>", "<end_of_turn>")
    user_prefix: str = "<start_of_turn>user\n"
    user_suffix: str = "<end_of_turn>\n"
    model_prefix: str = "<start_of_turn>model\n"
    model_suffix: str = "<end_of_turn>\n"
    # Sampling Gemma's model cards recommend for chat use (LLM Inference API names).
    recommended_sampling: tuple[tuple[str, float], ...] = (
        ("temperature", 1.0), ("top_k", 64), ("top_p", 0.95),
    )

    def jinja_template(self) -> str:
        """The same format as a Jinja template, for runtimes that render one (LiteRT-LM's
        Conversation API); a leading system message is folded into the first user turn."""
        return (
            "{{ bos_token }}"
            "{%- if messages[0]['role'] == 'system' -%}"
            "{%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}"
            "{%- set loop_messages = messages[1:] -%}"
            "{%- else -%}{%- set first_user_prefix = '' -%}{%- set loop_messages = messages -%}{%- endif -%}"
            "{%- for message in loop_messages -%}"
            "{%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}"
            "{{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else '') "
            "+ message['content'] | trim + '<end_of_turn>\\n' }}"
            "{%- endfor -%}"
            "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\\n' }}{%- endif -%}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "start_token": self.start_token,
            "stop_tokens": list(self.stop_tokens),
            "user_prefix": self.user_prefix,
            "user_suffix": self.user_suffix,
            "model_prefix": self.model_prefix,
            "model_suffix": self.model_suffix,
            "system_role": False,
            "recommended_sampling": dict(self.recommended_sampling),
        }


GEMMA_CHAT = ChatFormat()

# Per-layer HF weight names (below `model.layers.{i}.`), in the order GGUF writers use.
_ATTN = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj"]
_MLP = ["mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"]
_GEMMA1_LAYER = ["input_layernorm", *_ATTN, "post_attention_layernorm", *_MLP]
_GEMMA2_LAYER = [*_GEMMA1_LAYER, "pre_feedforward_layernorm", "post_feedforward_layernorm"]
_GEMMA3_LAYER = [*_GEMMA2_LAYER, "self_attn.q_norm", "self_attn.k_norm"]

# The config fields every Gemma shares; each family adds its own.
_CORE_FIELDS = (
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "head_dim",
    "vocab_size",
    "rms_norm_eps",
    "max_position_embeddings",
)

# HF per-layer weight -> the KerasHub decoder block's sublayer holding it. Keras keeps Gemma's
# RMSNorm scale as w in (1 + w), like HF; its projections are per-head kernels (see keras_intake).
_KERAS_COMMON = {
    "input_layernorm": "pre_attention_norm",
    "self_attn.q_proj": "attention/query_dense",
    "self_attn.k_proj": "attention/key_dense",
    "self_attn.v_proj": "attention/value_dense",
    "self_attn.o_proj": "attention/output_dense",
    "mlp.gate_proj": "gating_ffw",
    "mlp.up_proj": "gating_ffw_2",
    "mlp.down_proj": "ffw_linear",
}
# Gemma 1 has no post-attention norm: HF's `post_attention_layernorm` is Keras's pre-FFW norm.
_KERAS_GEMMA1 = {**_KERAS_COMMON, "post_attention_layernorm": "pre_ffw_norm"}
_KERAS_GEMMA2 = {
    **_KERAS_COMMON,
    "post_attention_layernorm": "post_attention_norm",
    "pre_feedforward_layernorm": "pre_ffw_norm",
    "post_feedforward_layernorm": "post_ffw_norm",
}
_KERAS_GEMMA3 = {**_KERAS_GEMMA2, "self_attn.q_norm": "attention/query_norm", "self_attn.k_norm": "attention/key_norm"}

# GGUF metadata key (below `<arch>.`) -> HF config field.
_GGUF_CORE_KEYS = {
    "context_length": "max_position_embeddings",
    "embedding_length": "hidden_size",
    "block_count": "num_hidden_layers",
    "feed_forward_length": "intermediate_size",
    "attention.head_count": "num_attention_heads",
    "attention.head_count_kv": "num_key_value_heads",
    "attention.key_length": "head_dim",
    "attention.layer_norm_rms_epsilon": "rms_norm_eps",
}


@dataclass(frozen=True)
class Family:
    """One Gemma generation: how to recognise it and how to rebuild its config."""

    name: str
    display_name: str
    architectures: tuple[str, ...]
    model_type: str
    gguf_arch: str
    layer_weights: tuple[str, ...]
    config_fields: tuple[str, ...]
    gguf_keys: dict[str, str]
    # Builds the full HF config from the core fields an intake (GGUF, Keras) read.
    config_from_core: Callable[[dict[str, Any]], dict[str, Any]]
    keras_backbone: str
    # HF per-layer weight name -> sublayer path inside the KerasHub decoder block.
    keras_layer_weights: dict[str, str]
    # Default context length where the source does not record one (Keras presets).
    default_context: int
    chat: ChatFormat = GEMMA_CHAT
    # GGUF writers store Gemma's RMSNorm scale as (1 + w); HF stores w.
    gguf_norm_offset: float = 1.0
    # LiteRT-LM's LlmModelType oneof field for this family ("generic_model" when it has none).
    litert_lm_model_type: str = "generic_model"

    def weight_names(self, config: dict[str, Any]) -> list[str]:
        """Every tensor an HF checkpoint of this shape must hold."""
        names = ["model.embed_tokens.weight", "model.norm.weight"]
        for i in range(int(config["num_hidden_layers"])):
            names += [f"model.layers.{i}.{w}.weight" for w in self.layer_weights]
        if not config.get("tie_word_embeddings", True):
            names.append("lm_head.weight")
        return names


def _gemma1_config(core: dict[str, Any]) -> dict[str, Any]:
    return {
        "architectures": ["GemmaForCausalLM"],
        "model_type": "gemma",
        "hidden_act": "gelu_pytorch_tanh",
        "hidden_activation": "gelu_pytorch_tanh",
        "rope_theta": core.pop("rope_theta", 10000.0),
        **core,
    }


def _gemma2_config(core: dict[str, Any]) -> dict[str, Any]:
    layers = int(core["num_hidden_layers"])
    return {
        "architectures": ["Gemma2ForCausalLM"],
        "model_type": "gemma2",
        "hidden_activation": "gelu_pytorch_tanh",
        "rope_theta": core.pop("rope_theta", 10000.0),
        "query_pre_attn_scalar": core["head_dim"],
        "attn_logit_softcapping": core.pop("attn_logit_softcapping", 50.0),
        "final_logit_softcapping": core.pop("final_logit_softcapping", 30.0),
        # Gemma 2 alternates: even layers slide, odd layers attend globally.
        "layer_types": ["sliding_attention" if i % 2 == 0 else "full_attention" for i in range(layers)],
        **core,
    }


def _gemma3_config(core: dict[str, Any]) -> dict[str, Any]:
    layers = int(core["num_hidden_layers"])
    global_theta = core.pop("rope_theta", 1_000_000.0)
    rope_parameters = {
        "full_attention": {"rope_type": "default", "rope_theta": global_theta},
        "sliding_attention": {"rope_type": "default", "rope_theta": 10_000.0},
    }
    scaling = core.pop("rope_scaling_factor", None)
    if scaling and scaling != 1.0:
        rope_parameters["full_attention"] = {
            "rope_type": "linear",
            "rope_theta": global_theta,
            "factor": scaling,
        }
    return {
        "architectures": ["Gemma3ForCausalLM"],
        "model_type": "gemma3_text",
        "hidden_activation": "gelu_pytorch_tanh",
        "query_pre_attn_scalar": core["head_dim"],
        "final_logit_softcapping": None,
        "attn_logit_softcapping": None,
        "rope_parameters": rope_parameters,
        # Gemma 3: five sliding-window layers, then one global layer.
        "layer_types": [
            "full_attention" if (i + 1) % 6 == 0 else "sliding_attention" for i in range(layers)
        ],
        **core,
    }


GEMMA1 = Family(
    name="gemma",
    display_name="Gemma 1",
    architectures=("GemmaForCausalLM",),
    model_type="gemma",
    gguf_arch="gemma",
    layer_weights=tuple(_GEMMA1_LAYER),
    config_fields=_CORE_FIELDS,
    gguf_keys={**_GGUF_CORE_KEYS, "rope.freq_base": "rope_theta"},
    config_from_core=_gemma1_config,
    keras_backbone="GemmaBackbone",
    keras_layer_weights=_KERAS_GEMMA1,
    default_context=8192,
)

GEMMA2 = Family(
    name="gemma2",
    display_name="Gemma 2",
    architectures=("Gemma2ForCausalLM",),
    model_type="gemma2",
    gguf_arch="gemma2",
    layer_weights=tuple(_GEMMA2_LAYER),
    config_fields=(
        *_CORE_FIELDS,
        "sliding_window",
        "query_pre_attn_scalar",
        "attn_logit_softcapping",
        "final_logit_softcapping",
    ),
    gguf_keys={
        **_GGUF_CORE_KEYS,
        "rope.freq_base": "rope_theta",
        "attention.sliding_window": "sliding_window",
        "attn_logit_softcapping": "attn_logit_softcapping",
        "final_logit_softcapping": "final_logit_softcapping",
    },
    config_from_core=_gemma2_config,
    keras_backbone="GemmaBackbone",
    keras_layer_weights=_KERAS_GEMMA2,
    default_context=8192,
)

GEMMA3 = Family(
    name="gemma3",
    display_name="Gemma 3",
    architectures=("Gemma3ForCausalLM", "Gemma3ForConditionalGeneration"),
    model_type="gemma3_text",
    gguf_arch="gemma3",
    layer_weights=tuple(_GEMMA3_LAYER),
    config_fields=(*_CORE_FIELDS, "sliding_window", "query_pre_attn_scalar"),
    gguf_keys={
        **_GGUF_CORE_KEYS,
        "rope.freq_base": "rope_theta",
        "rope.scaling.factor": "rope_scaling_factor",
        "attention.sliding_window": "sliding_window",
    },
    config_from_core=_gemma3_config,
    keras_backbone="Gemma3Backbone",
    keras_layer_weights=_KERAS_GEMMA3,
    default_context=32768,
    litert_lm_model_type="gemma3",
)

FAMILIES: tuple[Family, ...] = (GEMMA1, GEMMA2, GEMMA3)
SUPPORTED_ARCHITECTURES = tuple(a for f in FAMILIES for a in f.architectures)


def family_for_architecture(architecture: str) -> Family:
    for family in FAMILIES:
        if architecture in family.architectures:
            return family
    raise EdgekitError(
        f"architecture {architecture!r} is not a Gemma text model",
        f"edgekit converts {', '.join(SUPPORTED_ARCHITECTURES)} checkpoints",
    )


def family_for_gguf_arch(arch: str) -> Family:
    for family in FAMILIES:
        if family.gguf_arch == arch:
            return family
    raise EdgekitError(
        f"GGUF architecture {arch!r} is not a Gemma text model",
        f"pass a GGUF of one of: {', '.join(f.gguf_arch for f in FAMILIES)}",
    )


def family_for_keras(class_name: str, config: dict[str, Any]) -> Family:
    """KerasHub's GemmaBackbone serves Gemma 1 and 2: Gemma 2 is the one with post-norms."""
    if class_name == GEMMA3.keras_backbone:
        return GEMMA3
    if class_name == GEMMA1.keras_backbone:
        return GEMMA2 if config.get("use_post_ffw_norm") or config.get("use_post_attention_norm") else GEMMA1
    raise EdgekitError(
        f"Keras backbone {class_name!r} is not a Gemma text model",
        "pass a KerasHub preset of GemmaBackbone or Gemma3Backbone",
    )
