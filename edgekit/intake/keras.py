"""A KerasHub Gemma preset becomes a cached Hugging Face folder that every converter can read.

A preset folder holds `config.json` (the backbone's class and arguments), `model.weights.h5`
(or shards), and `assets/tokenizer/vocabulary.spm`. Weights are read with h5py only; the
names come from the family registry. Keras stores attention projections per head
((heads, hidden, head_dim) in, (heads, head_dim, hidden) out) and dense kernels as
(in, out); HF stores (out, in). RMSNorm scales share HF's (1 + w) convention.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.core.atomic import atomic_dir
from edgekit.core.digest import sha256_file
from edgekit.core.errors import EdgekitError
from edgekit.core.paths import cache_dir
from edgekit.families import Family, family_for_keras
from edgekit.formats import keras_weights, safetensors
from edgekit.formats.keras_weights import KerasVariable
from edgekit.intake.gguf import SOURCE_RECORD

VOCABULARY = Path("assets") / "tokenizer" / "vocabulary.spm"
KERAS_MODULES = ("keras_hub.", "keras_nlp.")
EMBEDDING = "layers/reversible_embedding/vars/"
FINAL_NORM = "layers/rms_normalization/vars/0"
# Keras names a backbone's children after their class: gemma3_decoder_block, _1, _2, ...
_BLOCK = re.compile(r"^layers/(gemma3?_decoder_block)(?:_(\d+))?/")


def is_keras_preset(config: dict[str, Any]) -> bool:
    return isinstance(config.get("class_name"), str) and str(config.get("module", "")).startswith(KERAS_MODULES)


def _block_paths(variables: dict[str, KerasVariable]) -> dict[int, str]:
    blocks: dict[int, str] = {}
    for path in variables:
        match = _BLOCK.match(path)
        if match:
            index = int(match.group(2) or 0)
            blocks[index] = f"layers/{match.group(1)}" + (f"_{index}" if match.group(2) else "")
    return blocks


def _per_head_in(kernel: np.ndarray) -> np.ndarray:
    """(heads, hidden, head_dim) -> HF (heads * head_dim, hidden)."""
    heads, hidden, head_dim = kernel.shape
    return np.ascontiguousarray(kernel.transpose(0, 2, 1).reshape(heads * head_dim, hidden))


def _per_head_out(kernel: np.ndarray) -> np.ndarray:
    """(heads, head_dim, hidden) -> HF (hidden, heads * head_dim)."""
    heads, head_dim, hidden = kernel.shape
    return np.ascontiguousarray(kernel.reshape(heads * head_dim, hidden).T)


def _to_hf(hf_weight: str, shape: tuple[int, ...]) -> tuple[Callable[[np.ndarray], np.ndarray], tuple[int, ...]]:
    """How a Keras variable of `shape` becomes HF's `hf_weight`, and the shape it becomes."""
    if hf_weight in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"):
        return _per_head_in, (shape[0] * shape[2], shape[1])
    if hf_weight == "self_attn.o_proj":
        return _per_head_out, (shape[2], shape[0] * shape[1])
    if hf_weight.startswith("mlp.") or hf_weight == "lm_head":  # dense kernels are (in, out)
        return (lambda kernel: np.ascontiguousarray(kernel.T)), shape[::-1]
    return (lambda scale: scale), shape


class KerasPreset:
    """A preset's backbone config, variables and the HF view of both."""

    def __init__(self, folder: Path, config: dict[str, Any]) -> None:
        self.folder = folder
        self.class_name = str(config["class_name"])
        self.args: dict[str, Any] = config.get("config") or {}
        self.family: Family = family_for_keras(self.class_name, self.args)
        if self.args.get("is_embedding_model") or self.args.get("use_bidirectional_attention"):
            raise EdgekitError(
                f"{folder} is an embedding model, not a causal language model",
                "pass a Gemma text-generation preset",
            )
        if not (folder / VOCABULARY).exists():
            raise EdgekitError(f"{folder} has no {VOCABULARY}", "copy the preset's assets folder with it")
        self.variables = keras_weights.list_variables(folder)
        self._plan = self._weight_plan()

    def _variable(self, path: str) -> KerasVariable:
        variable = self.variables.get(path)
        if variable is None:
            raise EdgekitError(
                f"{self.folder} lacks weight {path}",
                "the preset is incomplete or not a KerasHub Gemma preset; re-save it",
            )
        return variable

    def _weight_plan(self) -> dict[str, tuple[KerasVariable, Callable[[np.ndarray], np.ndarray], tuple[int, ...]]]:
        """HF name -> (Keras variable, transform, HF shape), for every weight the family needs."""
        blocks = _block_paths(self.variables)
        layers = int(self.args.get("num_layers", -1))
        if sorted(blocks) != list(range(layers)):
            raise EdgekitError(
                f"{self.folder} holds {len(blocks)} decoder blocks but its config says {layers}",
                "the config.json does not belong to these weights; re-save the preset",
            )
        embedding = self._variable(EMBEDDING + "0")
        final_norm = self._variable(FINAL_NORM)
        named = {"model.embed_tokens.weight": ("embed_tokens", embedding), "model.norm.weight": ("norm", final_norm)}
        for i in range(layers):
            for hf_weight, keras_path in self.family.keras_layer_weights.items():
                named[f"model.layers.{i}.{hf_weight}.weight"] = (
                    hf_weight,
                    self._variable(f"{blocks[i]}/{keras_path}/vars/0"),
                )
        head = self.variables.get(EMBEDDING + "1")  # an untied ReversibleEmbedding's (hidden, vocab)
        if head is not None:
            named["lm_head.weight"] = ("lm_head", head)
        return {name: (variable, *_to_hf(hf_weight, variable.shape)) for name, (hf_weight, variable) in named.items()}

    @property
    def tensors(self) -> dict[str, tuple[str, tuple[int, ...]]]:
        return {name: ("BF16" if v.bfloat16 else "F32", shape) for name, (v, _, shape) in self._plan.items()}

    def hf_config(self) -> dict[str, Any]:
        import sentencepiece

        args = self.args
        head_dim = int(args["head_dim"])
        hidden = int(args["hidden_dim"])
        heads = int(args["num_query_heads"])
        gate_shape = self._plan["model.layers.0.mlp.gate_proj.weight"][2]
        core: dict[str, Any] = {
            "hidden_size": hidden,
            "intermediate_size": int(gate_shape[0]),
            "num_hidden_layers": int(args["num_layers"]),
            "num_attention_heads": heads,
            "num_key_value_heads": int(args.get("num_key_value_heads", heads)),
            "head_dim": head_dim,
            "vocab_size": int(args["vocabulary_size"]),
            "rms_norm_eps": float(args.get("layer_norm_epsilon", 1e-6)),
            # Keras presets do not record a context length: the family's published one.
            "max_position_embeddings": self.family.default_context,
            "query_pre_attn_scalar": head_dim if args.get("query_head_dim_normalize", True) else hidden // heads,
        }
        core.update(self.family.keras_core(args))
        config = self.family.config_from_core(core)
        if "layer_types" in config and not args.get("use_sliding_window_attention", True):
            config["layer_types"] = ["full_attention"] * core["num_hidden_layers"]
        spm = sentencepiece.SentencePieceProcessor(model_file=str(self.folder / VOCABULARY))
        config.update(
            tie_word_embeddings="lm_head.weight" not in self._plan,
            bos_token_id=spm.piece_to_id("<bos>"),
            eos_token_id=spm.piece_to_id("<eos>"),
            pad_token_id=spm.piece_to_id("<pad>"),
            torch_dtype="float32",
            attention_bias=False,
            attention_dropout=0.0,
            initializer_range=0.02,
            use_cache=True,
            _name_or_path=self.folder.name,
        )
        return config

    def write_hf_folder(self, folder: Path) -> None:
        config = self.hf_config()
        (folder / "config.json").write_text(json.dumps(config, indent=2))
        (folder / "generation_config.json").write_text(
            json.dumps({k: config[k] for k in ("bos_token_id", "eos_token_id", "pad_token_id")}, indent=2)
        )
        (folder / "tokenizer.model").write_bytes((self.folder / VOCABULARY).read_bytes())
        (folder / "tokenizer_config.json").write_text(
            json.dumps(
                {
                    "tokenizer_class": "GemmaTokenizer",
                    "bos_token": "<bos>",
                    "eos_token": "<eos>",
                    "unk_token": "<unk>",
                    "pad_token": "<pad>",
                    "add_bos_token": True,
                    "add_eos_token": False,
                    "model_max_length": 1_000_000,
                },
                indent=2,
            )
        )
        plan = [
            (name, shape, lambda v=variable, t=transform: t(keras_weights.read_variable(v)))
            for name, (variable, transform, shape) in self._plan.items()
        ]
        safetensors.write(folder / "model.safetensors", plan)


def hf_folder_for_keras(preset: KerasPreset, on_stage: Callable[[str], None] | None = None) -> Path:
    """The cached HF folder for `preset`, built on first use, keyed by its files' digests."""
    digests = {p.name: sha256_file(p) for p in keras_weights.weight_files(preset.folder)}
    digests["config.json"] = sha256_file(preset.folder / "config.json")
    digests["vocabulary.spm"] = sha256_file(preset.folder / VOCABULARY)
    key = hashlib.sha256(json.dumps(digests, sort_keys=True).encode()).hexdigest()
    folder = cache_dir() / "hf" / f"{preset.folder.name}-keras-{key[:16]}"
    if (folder / SOURCE_RECORD).exists():
        return folder
    if on_stage:
        on_stage(f"reading Keras preset {preset.folder.name} into {folder}")
    with atomic_dir(folder, replace=True) as tmp:
        preset.write_hf_folder(tmp)
        (tmp / SOURCE_RECORD).write_text(
            json.dumps(
                {
                    "keras_preset": str(preset.folder.resolve()),
                    "backbone": preset.class_name,
                    "sha256": digests,
                },
                indent=2,
            )
        )
    return folder
