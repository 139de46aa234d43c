"""A GGUF checkpoint becomes a cached Hugging Face folder that every converter can read.

Dequantization uses llama.cpp's own `gguf` package; names come from its TensorNameMap and
the family registry; Gemma's (1 + w) norm convention is undone. The folder is keyed by the
file's sha256, so converting the same GGUF twice reads it once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.core.atomic import atomic_dir
from edgekit.core.digest import sha256_file
from edgekit.core.errors import EdgekitError
from edgekit.core.paths import cache_dir
from edgekit.families import Family, family_for_gguf_arch
from edgekit.formats import safetensors
from edgekit.formats.gguf import GGUFFile, open_gguf
from edgekit.formats.tokenizer import SENTENCEPIECE_FILE, TOKENIZER_JSON_FILE
from edgekit.intake.bpe_from_gguf import GEMMA4_TOKENIZER, tokenizer_json_from_gguf
from edgekit.intake.sentencepiece import sentencepiece_from_gguf

SOURCE_RECORD = "edgekit-source.json"
# Part of the cache folder's name: a change to what the intake writes must not reuse old folders.
INTAKE_VERSION = 2


def hf_config_from_gguf(gguf: GGUFFile, family: Family) -> dict[str, Any]:
    core: dict[str, Any] = {}
    for key, field in family.gguf_keys.items():
        value = gguf.arch_value(key)
        if value is not None:
            core[field] = value.item() if hasattr(value, "item") else value
    core.update(family.gguf_core_extras(gguf))
    missing = [f for f in ("hidden_size", "num_hidden_layers", "num_attention_heads") if f not in core]
    if missing:
        raise EdgekitError(f"{gguf.path} lacks {', '.join(missing)} in its metadata", "re-export the GGUF")
    core.setdefault("num_key_value_heads", core["num_attention_heads"])
    core.setdefault("head_dim", core["hidden_size"] // core["num_attention_heads"])
    core.setdefault("max_position_embeddings", 8192)
    core.setdefault("rms_norm_eps", 1e-6)
    core["vocab_size"] = len(gguf.array("tokenizer.ggml.tokens"))
    config = family.config_from_core(core)
    tensor_names = {t.name for t in gguf.tensors}
    config.update(
        tie_word_embeddings="output.weight" not in tensor_names,
        bos_token_id=int(gguf.metadata.get("tokenizer.ggml.bos_token_id", 2)),
        eos_token_id=int(gguf.metadata.get("tokenizer.ggml.eos_token_id", 1)),
        pad_token_id=int(gguf.metadata.get("tokenizer.ggml.padding_token_id", 0)),
        torch_dtype="float32",
        attention_bias=False,
        attention_dropout=0.0,
        initializer_range=0.02,
        use_cache=True,
    )
    return config


def _tensor_plan(gguf: GGUFFile, family: Family, config: dict[str, Any]):
    """(hf name, shape, producer) for every weight the family expects, in registry order."""
    import gguf as gguf_lib

    arch = next(a for a, n in gguf_lib.MODEL_ARCH_NAMES.items() if n == family.gguf_arch)
    name_map = gguf_lib.get_tensor_name_map(arch, int(config["num_hidden_layers"]))
    by_name = {t.name: t for t in gguf.tensors}
    plan: list[tuple[str, tuple[int, ...], Callable[[], np.ndarray]]] = []
    for hf_name in family.weight_names(config):
        mapped_name, index = family.gguf_tensor_source(hf_name)
        gguf_name = name_map.get_name(mapped_name, try_suffixes=(".weight",))
        # llama.cpp's converter names scalars as weights too (`blk.N.layer_output_scale.weight`)
        tensor = by_name.get(gguf_name or "") or by_name.get(f"{gguf_name}.weight")
        if tensor is None:
            raise EdgekitError(
                f"{gguf.path} has no tensor {gguf_name} (HF {hf_name})",
                "the GGUF is incomplete or not a Gemma text model; re-export it",
            )
        offset = family.gguf_norm_offset if hf_name.endswith("norm.weight") else 0.0

        def produce(tensor=tensor, offset=offset, index=index) -> np.ndarray:
            array = gguf.dequantize(tensor)
            if index is not None:
                array = np.ascontiguousarray(array[index])
            return array - np.float32(offset) if offset else array

        plan.append((hf_name, tensor.shape if index is None else tensor.shape[1:], produce))
    return plan


def _tokenizer_config(gguf: GGUFFile) -> dict[str, Any]:
    tokens = gguf.array("tokenizer.ggml.tokens")

    def token(key: str, default: int) -> str:
        return tokens[int(gguf.metadata.get(f"tokenizer.ggml.{key}", default))]

    return {
        "tokenizer_class": "GemmaTokenizer",
        "bos_token": token("bos_token_id", 2),
        "eos_token": token("eos_token_id", 1),
        "unk_token": token("unknown_token_id", 3),
        "pad_token": token("padding_token_id", 0),
        "add_bos_token": bool(gguf.metadata.get("tokenizer.ggml.add_bos_token", True)),
        "add_eos_token": False,
        "model_max_length": 1_000_000,
    }


def write_hf_folder(gguf: GGUFFile, folder: Path) -> None:
    family = family_for_gguf_arch(gguf.arch)
    config = hf_config_from_gguf(gguf, family)
    plan = _tensor_plan(gguf, family, config)
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    (folder / "generation_config.json").write_text(
        json.dumps(
            {
                "bos_token_id": config["bos_token_id"],
                "eos_token_id": config["eos_token_id"],
                "pad_token_id": config["pad_token_id"],
            },
            indent=2,
        )
    )
    if gguf.metadata.get("tokenizer.ggml.model") == GEMMA4_TOKENIZER:  # BPE: a tokenizer.json
        (folder / TOKENIZER_JSON_FILE).write_text(tokenizer_json_from_gguf(gguf))
    else:
        (folder / SENTENCEPIECE_FILE).write_bytes(sentencepiece_from_gguf(gguf, family.chat))
    (folder / "tokenizer_config.json").write_text(json.dumps(_tokenizer_config(gguf), indent=2))
    safetensors.write(folder / "model.safetensors", plan)


def hf_folder_for_gguf(path: Path, on_stage: Callable[[str], None] | None = None) -> Path:
    """The cached HF folder for `path`, built on first use."""
    digest = sha256_file(path)
    folder = cache_dir() / "hf" / f"{path.stem}-{digest[:16]}-v{INTAKE_VERSION}"
    if (folder / SOURCE_RECORD).exists():
        return folder
    gguf = open_gguf(path)
    if on_stage:
        on_stage(f"dequantizing {path.name} into {folder}")
    with atomic_dir(folder, replace=True) as tmp:
        write_hf_folder(gguf, tmp)
        (tmp / SOURCE_RECORD).write_text(
            json.dumps(
                {
                    "gguf": str(path.resolve()),
                    "gguf_sha256": digest,
                    "gguf_tensor_types": gguf.tensor_types(),
                },
                indent=2,
            )
        )
    return folder
