"""What a Gemma generation is to edgekit: a `Family` with hooks where generations differ.

Every generation is one module (`gemma1`, `gemma2`, `gemma3`, ...) that subclasses `Family`,
states its names and overrides only the hooks where it differs, and registers itself
(`registry.register`, in the manner of llama.cpp's `@ModelBase.register`). Intake,
converters, runtime and the application read architecture names, config fields, weight names,
tensor roles and the chat format from here, and never branch on a family's name.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from edgekit.core.chat import ChatFormat
from edgekit.core.errors import EdgekitError
from edgekit.formats.gguf import GGUFFile

# Instruction-tuned Gemma 1-3's turn format (no system role).
GEMMA_CHAT = ChatFormat(
    start_token="<bos>",
    stop_tokens=("<eos>", "<end_of_turn>"),
    user_prefix="<start_of_turn>user\n",
    user_suffix="<end_of_turn>\n",
    model_prefix="<start_of_turn>model\n",
    model_suffix="<end_of_turn>\n",
    turn_markers=("<start_of_turn>", "<end_of_turn>"),
)

# Per-layer HF weight names (below `model.layers.{i}.`), in the order GGUF writers use.
ATTENTION_WEIGHTS = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj")
MLP_WEIGHTS = ("mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")

# The config fields every Gemma shares; each family adds its own.
CORE_FIELDS = (
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

# GGUF metadata key (below `<arch>.`) -> HF config field.
GGUF_CORE_KEYS = {
    "context_length": "max_position_embeddings",
    "embedding_length": "hidden_size",
    "block_count": "num_hidden_layers",
    "feed_forward_length": "intermediate_size",
    "attention.head_count": "num_attention_heads",
    "attention.head_count_kv": "num_key_value_heads",
    "attention.key_length": "head_dim",
    "attention.layer_norm_rms_epsilon": "rms_norm_eps",
    "rope.freq_base": "rope_theta",
}

# HF per-layer weight -> the KerasHub decoder block's sublayer holding it. Keras keeps Gemma's
# RMSNorm scale as w in (1 + w), like HF; its projections are per-head kernels (intake.keras).
KERAS_COMMON = {
    "input_layernorm": "pre_attention_norm",
    "self_attn.q_proj": "attention/query_dense",
    "self_attn.k_proj": "attention/key_dense",
    "self_attn.v_proj": "attention/value_dense",
    "self_attn.o_proj": "attention/output_dense",
    "mlp.gate_proj": "gating_ffw",
    "mlp.up_proj": "gating_ffw_2",
    "mlp.down_proj": "ffw_linear",
}

FORMAT_NAMES = {"litertlm": ".litertlm", "task": ".task", "onnx": "ONNX"}

# Tensor roles by a fragment of the name, HF and GGUF spellings; first match wins.
_ROLES = (
    # per-layer embedding tables (Gemma 3n, 4): a lookup per token, not compute
    ("per_layer_embedding", ("embed_tokens_per_layer", "per_layer_token_embd")),
    ("per_layer", ("per_layer", "altup", "laurel")),
    ("embedding", ("embed_tokens", "token_embd")),
    ("lm_head", ("lm_head",)),
    ("norm", ("norm",)),
    ("attention", ("self_attn", "attn_")),
    ("mlp", ("mlp.", "ffn_")),
)


class Family:
    """One Gemma generation. Class attributes name it; methods are the hooks."""

    name: ClassVar[str]
    display_name: ClassVar[str]
    architectures: ClassVar[tuple[str, ...]]
    model_type: ClassVar[str]
    gguf_arch: ClassVar[str]
    layer_weights: ClassVar[tuple[str, ...]]
    config_fields: ClassVar[tuple[str, ...]] = CORE_FIELDS
    gguf_keys: ClassVar[dict[str, str]] = GGUF_CORE_KEYS
    # KerasHub backbone class ("": no KerasHub preset intake for this generation).
    keras_backbone: ClassVar[str] = ""
    # HF per-layer weight name -> sublayer path inside the KerasHub decoder block.
    keras_layer_weights: ClassVar[dict[str, str]] = {}
    # Context length where the source does not record one (Keras presets).
    default_context: ClassVar[int]
    chat: ClassVar[ChatFormat] = GEMMA_CHAT
    # GGUF writers store Gemma's RMSNorm scale as (1 + w); HF stores w.
    gguf_norm_offset: ClassVar[float] = 1.0
    # LiteRT-LM's LlmModelType oneof field for this family ("generic_model" when it has none).
    litert_lm_model_type: ClassVar[str] = "generic_model"
    # Where a multimodal checkpoint keeps its text tower, across transformers versions.
    text_tower_prefixes: ClassVar[tuple[str, ...]] = ()
    # Artifact formats edgekit writes for this generation.
    formats: ClassVar[tuple[str, ...]] = ("litertlm", "task", "onnx")
    # Why the formats this generation does not write are not written yet (said in the refusal).
    other_formats_reason: ClassVar[str] = ""
    # Whether the exporters read a multimodal checkpoint's text tower in place (else edgekit
    # writes it as a `*ForCausalLM` folder first: `intake.text_tower`).
    converts_multimodal: ClassVar[bool] = True
    # Whether each exported ONNX attention becomes one GroupQueryAttention (`onnx_attention`).
    fuse_onnx_attention: ClassVar[bool] = True
    # Whether litert-torch exports and packages the `.litertlm` itself (external embedders:
    # `converters.litert_bundle`) instead of edgekit packaging one exported model.
    litert_bundle_export: ClassVar[bool] = False
    # That route's peak memory lines (fixed bytes, factor x float32 weights), measured on E2B
    # shapes (benchmarks/conversion_memory.md): the export holds the float32 model while it
    # converts the per-layer embedder; quantization and packaging run after it, apart.
    litert_bundle_memory: ClassVar[tuple[tuple[float, float], ...]] = ((2.0e9, 1.08),)
    # Fully-connected ops (name regex) whose inputs are narrower than an int4 block: 8 bits per
    # channel in block recipes (`converters.recipes.recipe`).
    litert_int8_scope: ClassVar[str | None] = None
    # Whether the quantizer may rotate weight inputs (`core.recipes.LiteRtRule.rotation`): it
    # refuses where a fully-connected op's weights are not constants (litert-torch's bundle route).
    litert_rotation: ClassVar[bool] = True
    # Named changes to upstream code the torch exports need (`converters.export_patches`).
    export_patches: ClassVar[tuple[str, ...]] = ()
    # The RMSNorm in front of gate/up, which outlier migration folds into (`converters.smoothing`).
    pre_mlp_norm: ClassVar[str] = "pre_feedforward_layernorm"

    def __repr__(self) -> str:
        return f"<family {self.name}>"

    def refusal(self, config: dict[str, Any], architecture: str, formats: tuple[str, ...]) -> tuple[str, str] | None:
        """(problem, fix) when edgekit cannot convert this checkpoint to `formats`, else None."""
        missing = [f for f in formats if f not in self.formats]
        if missing:
            written = " and ".join(FORMAT_NAMES[f] for f in self.formats)
            reason = f": {self.other_formats_reason}" if self.other_formats_reason else ""
            return (
                f"{self.display_name} converts to {written} only in this release ({', '.join(missing)} not "
                f"yet{reason})",
                f"pass --target {' or --target '.join(self.formats)}",
            )
        return None

    def caching_layers(self, config: dict[str, Any]) -> int:
        """How many layers keep a KV cache: the last `num_kv_shared_layers` (Gemma 3n, 4) reuse
        earlier layers' keys and values and keep none."""
        return int(config["num_hidden_layers"]) - int(config.get("num_kv_shared_layers") or 0)

    def cache_shapes(self, config: dict[str, Any]) -> list[tuple[int, int]]:
        """(KV heads, head size) of every layer that keeps a KV cache, in order."""
        return [(int(config["num_key_value_heads"]), int(config["head_dim"]))] * self.caching_layers(config)

    def kv_cache_bytes(self, config: dict[str, Any], context: int, bytes_per_value: int = 4) -> int:
        """Keys and values of every caching layer at full length (as the converters export them)."""
        return 2 * sum(heads * dim for heads, dim in self.cache_shapes(config)) * context * bytes_per_value

    def config_from_core(self, core: dict[str, Any]) -> dict[str, Any]:
        """The full HF config from the core fields an intake (GGUF, Keras) read."""
        raise EdgekitError(
            f"{self.display_name} GGUF weights are not read yet",
            f"convert the Hugging Face folder ({self.architectures[0]}) with --target {self.formats[0]}",
        )

    def gguf_core_extras(self, gguf: GGUFFile) -> dict[str, Any]:
        """Config fields a GGUF holds other than in `gguf_keys` (arrays, tensors)."""
        return {}

    def gguf_tensor_source(self, hf_name: str) -> tuple[str, int | None]:
        """The HF name gguf-py's TensorNameMap knows for `hf_name`, and the index along the
        first axis where llama.cpp's converter stacks several HF tensors into one (else None)."""
        return hf_name, None

    def keras_matches(self, class_name: str, args: dict[str, Any]) -> bool:
        """Whether a KerasHub backbone of `class_name` with `args` is this generation (none where
        the generation has no KerasHub preset intake: an empty `keras_backbone`)."""
        return bool(self.keras_backbone) and class_name == self.keras_backbone

    def keras_core(self, args: dict[str, Any]) -> dict[str, Any]:
        """Config fields beyond the core ones, read from a KerasHub backbone's arguments."""
        return {"sliding_window": int(args.get("sliding_window_size") or 4096)}

    def weight_names(self, config: dict[str, Any]) -> list[str]:
        """Every tensor an HF checkpoint of this shape must hold."""
        names = ["model.embed_tokens.weight", "model.norm.weight"]
        for i in range(int(config["num_hidden_layers"])):
            names += [f"model.layers.{i}.{w}.weight" for w in self.layer_weights]
        if not config.get("tie_word_embeddings", True):
            names.append("lm_head.weight")
        return names

    def tensor_role(self, name: str) -> str:
        """embedding, lm_head, norm, attention, mlp or other, for HF and GGUF tensor names."""
        if name == "output.weight":  # GGUF's untied output projection
            return "lm_head"
        for role, needles in _ROLES:
            if any(n in name for n in needles):
                return role
        return "other"

    def effective_parameters(self, tensors: dict[str, tuple[str, tuple[int, ...]]]) -> int:
        """Parameters as the model cards count them: per-layer embedding tables (Gemma 3n, 4: a
        lookup per token, not compute) are left out."""
        return sum(
            math.prod(shape) for name, (_, shape) in tensors.items() if self.tensor_role(name) != "per_layer_embedding"
        )

    def is_multimodal(self, architecture: str) -> bool:
        return bool(self.text_tower_prefixes) and architecture != self.architectures[0]

    def text_config(self, config: dict[str, Any], architecture: str) -> dict[str, Any]:
        """The text decoder's config (a multimodal checkpoint nests it)."""
        return config.get("text_config", config) if self.is_multimodal(architecture) else config

    def text_tensors(self, tensors: dict[str, Any], architecture: str) -> dict[str, Any]:
        """Text weights under the plain CausalLM names (other towers dropped)."""
        if not self.is_multimodal(architecture):
            return tensors
        renamed = {}
        for name, value in tensors.items():
            for prefix in self.text_tower_prefixes:
                if name.startswith(prefix):
                    renamed["model." + name[len(prefix) :]] = value
            if name.startswith("lm_head."):
                renamed[name] = value
        return renamed
