"""`edgekit inspect`: what a model file is, read from its headers; never runs the model."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from edgekit.formats.onnx_graph import ONNX_GRAPH, describe_onnx
from edgekit.intake.checkpoint import Checkpoint, load_checkpoint
from edgekit.intake.lora import ADAPTER_CONFIG, read_adapter


def describe_checkpoint(ckpt: Checkpoint) -> dict[str, Any]:
    config = ckpt.config
    dtypes: dict[str, Counter] = defaultdict(Counter)
    for name, (dtype, _) in ckpt.tensors.items():
        dtypes[ckpt.family.tensor_role(name)][dtype] += 1
    special = {}
    if ckpt.gguf is not None:
        tokens = ckpt.gguf.array("tokenizer.ggml.tokens")
        for key in ("bos", "eos", "unknown", "padding"):
            idx = ckpt.gguf.metadata.get(f"tokenizer.ggml.{key}_token_id")
            if isinstance(idx, int) and 0 <= idx < len(tokens):
                special[key] = {"id": idx, "text": tokens[idx]}
    return {
        "kind": "checkpoint",
        "format": {"gguf": "gguf", "keras": "keras preset"}.get(ckpt.kind, "huggingface"),
        "path": str(ckpt.path),
        "default_model": ckpt.is_default,
        "family": ckpt.family.name,
        "family_name": ckpt.family.display_name,
        "architecture": ckpt.architecture,
        "towers_left_out": list(ckpt.towers_left_out),  # a multimodal checkpoint's, not converted
        "instruction_tuned": ckpt.variant()[0],
        "variant_evidence": ckpt.variant()[1],
        "parameters": ckpt.parameter_count,
        "effective_parameters": ckpt.effective_parameter_count,
        "layers": config.get("num_hidden_layers"),
        "hidden_size": config.get("hidden_size"),
        "intermediate_size": config.get("intermediate_size"),
        "heads": config.get("num_attention_heads"),
        "kv_heads": config.get("num_key_value_heads"),
        "head_dim": config.get("head_dim"),
        "vocab_size": config.get("vocab_size"),
        "sliding_window": config.get("sliding_window"),
        "tied_embeddings": config.get("tie_word_embeddings", True),
        "dtypes": {group: dict(counts) for group, counts in sorted(dtypes.items())},
        "tokenizer": {"files": ckpt.tokenizer_files, "special_tokens": special},
        "chat_format": ckpt.chat_format().to_json(),
        "files": ckpt.files,
        "size_bytes": sum(ckpt.files.values()),
    }


def describe(path: Path | None) -> dict[str, Any]:
    """Dispatch on what `path` is; None describes the embedded default model."""
    if path is not None and path.is_file():
        suffix = path.suffix.lower()
        if suffix == ".task":
            from edgekit.formats.task_bundle import describe_task

            return describe_task(path)
        if suffix == ".litertlm":
            from edgekit.formats.litertlm import describe_litertlm

            return describe_litertlm(path)
        if suffix == ".tflite":
            from edgekit.formats.tflite import describe_tflite

            return describe_tflite(path)
        if suffix == ".onnx":
            return describe_onnx(path)
        if suffix == ".json" and path.name.endswith(".edgekit.json"):
            from edgekit.core.manifest import read_manifest

            return {"kind": "manifest", "path": str(path), **read_manifest(path).to_json()}
    if path is not None and path.is_dir() and (path / ONNX_GRAPH).exists():
        return {**describe_onnx(path / ONNX_GRAPH), "folder": sorted(p.name for p in path.iterdir())}
    if path is not None and path.is_dir() and (path / ADAPTER_CONFIG).exists():
        adapter = read_adapter(path)
        return {"kind": "LoRA adapter", **adapter.record().to_json(), "trained_on": adapter.base_class}
    return describe_checkpoint(load_checkpoint(path))
