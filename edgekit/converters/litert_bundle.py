"""`.litertlm` for generations whose LiteRT export needs litert-torch's own exportables and
packaging (Gemma 3n, Gemma 4): the token embedding and the per-layer embedding tables run as separate
models beside the decoder (`externalize_embedder`), and litert-torch writes the bundle with
its executor metadata, the Hugging Face tokenizer and its per-family metadata.

As in the single-model route (`litert_export`), torch exports once in float32 and every recipe
quantizes those float models with edgekit's own quantizer step (`litert_quantize`, which also
repairs all-zero int4 blocks XNNPACK refuses); litert-torch then packages each set. Its
routes read a `*ForConditionalGeneration` folder (model_type `gemma3n` / `gemma4`); a text-only
`*ForCausalLM` folder is wrapped into one, weights renamed under `model.language_model.`, with
no towers (Gemma 4) or the smallest that build (Gemma 3n).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

from edgekit.converters.export_patches import patched
from edgekit.converters.litert_package import min_runtime_version
from edgekit.converters.litert_quantize import quantize_tflite
from edgekit.converters.tokenizer_json import write_tokenizer_json
from edgekit.core.chat import ChatFormat
from edgekit.formats import safetensors
from edgekit.formats.tokenizer import SENTENCEPIECE_FILE, TOKENIZER_JSON_FILE, gemma_tokenizer_config

CONDITIONAL = {
    "gemma3n_text": ("gemma3n", "Gemma3nForConditionalGeneration"),
    "gemma4_text": ("gemma4", "Gemma4ForConditionalGeneration"),
}


def _towers(model_type: str, text_vocab: int) -> dict[str, object]:
    """Vision and audio configs for the wrapper. Gemma 4's may be None; Gemma 3n's model always
    builds both towers, so they are small (the vision tower itself is left out while the model
    is built: `export_patches.no_vision_tower`): nothing of them is exported, and their token
    ranges lie past the text vocabulary. `label_names` keeps transformers from asking timm for
    ImageNet's labels."""
    if model_type != "gemma3n":
        return {"vision_config": None, "audio_config": None}
    return {
        "vision_config": {
            "hidden_size": 64,
            "label_names": ["none"],
            "vocab_size": 16,
            "vocab_offset": text_vocab,
        },
        "audio_config": {
            "hidden_size": 32,
            "conf_num_hidden_layers": 1,
            "conf_num_attention_heads": 2,
            "vocab_size": 16,
            "vocab_offset": text_vocab + 16,
            "sscp_conv_channel_size": [8, 4],
            "input_feat_size": 16,
        },
    }


TOWER_PREFIX = "model.language_model."


def _multimodal_folder(hf_dir: Path, chat: ChatFormat, folder: Path) -> Path:
    """The `Gemma4ForCausalLM` folder `hf_dir` as the multimodal folder litert-torch's
    exportables branch on (text tower only), with a tokenizer config that states its BOS and
    template (litert-torch writes them into the bundle)."""
    folder.mkdir(parents=True)
    config = json.loads((hf_dir / "config.json").read_text())
    model_type, architecture = CONDITIONAL[config["model_type"]]
    wrapped = {
        "model_type": model_type,
        "architectures": [architecture],
        "text_config": config,
        **_towers(model_type, int(config["vocab_size"])),
        "tie_word_embeddings": config.get("tie_word_embeddings", True),
    }
    (folder / "config.json").write_text(json.dumps(wrapped, indent=2))
    weight_map = {}
    for weights in sorted(hf_dir.glob("*.safetensors")):  # bytes copied as they are: bfloat16 stays so
        names = {
            name: TOWER_PREFIX + name.removeprefix("model.") if name.startswith("model.") else name
            for name in safetensors.read_header(weights)[0]
        }
        safetensors.copy_renamed(weights, folder / weights.name, names)
        weight_map.update(dict.fromkeys(names.values(), weights.name))
    if len(set(weight_map.values())) > 1:
        (folder / safetensors.INDEX_FILE).write_text(json.dumps({"metadata": {}, "weight_map": weight_map}, indent=2))
    if (hf_dir / TOKENIZER_JSON_FILE).exists():
        shutil.copy2(hf_dir / TOKENIZER_JSON_FILE, folder / TOKENIZER_JSON_FILE)
    else:  # a SentencePiece checkpoint without one (a Gemma 3n GGUF): litert-torch reads only tokenizer.json
        write_tokenizer_json(hf_dir / SENTENCEPIECE_FILE, chat, folder)
    tokenizer_config = {**gemma_tokenizer_config(chat), "chat_template": chat.jinja_template()}
    (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2))
    return folder


def _quantized(artifacts, quant: str, block_size: int, int8_scope: str | None, rotate: bool, folder: Path):
    """The float models of `artifacts` quantized by `quant`, written into `folder`."""
    folder.mkdir()

    def one(path: str | None) -> str | None:
        if path is None:
            return None
        return str(
            quantize_tflite(Path(path), quant, block_size, folder / Path(path).name, int8_scope, rotate=rotate).path
        )

    return dataclasses.replace(
        artifacts,
        prefill_decode_model_path=one(artifacts.prefill_decode_model_path),
        embedder_model_path=one(artifacts.embedder_model_path),
        additional_model_paths={k: one(v) for k, v in (artifacts.additional_model_paths or {}).items()},
    )


def _softcapped_logits(source_artifacts, config, exported):
    """litert-torch's Gemma 3n/4 exportables return `lm_head(hidden)`, leaving out the final
    logit soft-cap (`cap * tanh(logits / cap)`, 30 in the released configs) that transformers
    applies: the head is wrapped so the bundle's logits are the model's."""
    import torch

    cap = getattr(source_artifacts.model.config.get_text_config(), "final_logit_softcapping", None)
    if cap:

        class SoftcappedHead(torch.nn.Module):
            def __init__(self, head: torch.nn.Module) -> None:
                super().__init__()
                self.head = head

            def forward(self, hidden: torch.Tensor) -> torch.Tensor:
                return torch.tanh(self.head(hidden) / cap) * cap

        source_artifacts.model.lm_head = SoftcappedHead(source_artifacts.model.lm_head)
    return exported


def _export_float(config, patches: tuple[str, ...]):
    """The float models (decoder, embedders, tokenizer) as files: {their paths}. Run in its own
    process, so that the torch model and the converter's copies are gone before quantizing."""
    from litert_torch.generative.export_hf import export as export_api
    from litert_torch.generative.export_hf.core import export_lib

    with patched(patches):
        return export_api.run_export_tasks(
            [
                _softcapped_logits,
                export_lib.export_embedder_model,
                export_lib.export_text_prefill_decode_model,
                export_lib.export_additional_models,
                export_lib.export_tokenizer,
            ],
            config,
        )


def _package(config, patches: tuple[str, ...], models, folder: Path, out: Path) -> None:
    """Package `models` into `out` with litert-torch's builder, which reads the model only for
    its config: the model is built on the meta device (no weights in memory)."""
    import torch
    from litert_torch.generative.export_hf import export as export_api
    from litert_torch.generative.export_hf.core import litert_lm_builder

    def package(source_artifacts, export_config, _):
        # litert-torch's own LlmMetadata (Gemma 4 channels and stop strings), plus the runtime it needs
        template = getattr(source_artifacts.tokenizer, "chat_template", "") or ""
        metadata = litert_lm_builder.build_llm_metadata(source_artifacts, export_config, template, models)
        metadata.min_runtime_version = min_runtime_version()
        (folder / "llm_metadata.pb").write_bytes(metadata.SerializeToString())
        packaged = litert_lm_builder.package_model(
            source_artifacts,
            dataclasses.replace(
                export_config, output_dir=str(folder), litert_lm_llm_metadata_override=str(folder / "llm_metadata.pb")
            ),
            models,
        )
        shutil.move(packaged.litert_lm_model_path, out)
        return models

    folder.mkdir(exist_ok=True)
    with patched(patches), torch.device("meta"):
        export_api.run_export_tasks([package], dataclasses.replace(config, use_random_weights=True))


def export_litertlm_bundles(
    hf_dir: Path,
    chat: ChatFormat,
    prefill_lengths: tuple[int, ...],
    cache_length: int,
    block_size: int,
    outputs: dict[str, Path],
    work: Path,
    patches: tuple[str, ...] = (),
    int8_scope: str | None = None,
    rotate: bool = True,
) -> None:
    """Write one `.litertlm` per recipe, `outputs` = {quant: path}, from one float export, under
    the family's named upstream patches (`converters.export_patches`); `int8_scope` and
    `rotate`: see `converters.recipes.recipe`. Export, each recipe's quantization and each packaging run in
    their own process: each holds gigabytes for an E2B model that the next does not need."""
    from litert_torch.generative.export_hf.core import exportable_module

    from edgekit.converters.isolated import run_isolated

    config = exportable_module.ExportableModuleConfig(
        model=str(_multimodal_folder(hf_dir, chat, work / "bundle-source")),
        output_dir=str(work / "bundle-export"),
        work_dir=str(work / "bundle-export"),
        prefill_lengths=list(prefill_lengths),
        cache_length=cache_length,
        quantization_recipe=None,  # float32 here: edgekit quantizes per recipe below
        externalize_embedder=True,
        bundle_litert_lm=True,
        use_jinja_template=True,
        keep_temporary_files=True,
        experimental_lightweight_conversion=True,
    )
    Path(config.work_dir).mkdir()
    exported = run_isolated(_export_float, config, patches)
    for quant, out in outputs.items():
        folder = work / f"bundle-{quant}"
        models = exported
        if quant != "fp32":
            models = run_isolated(_quantized, exported, quant, block_size, int8_scope, rotate, folder)
        run_isolated(_package, config, patches, models, folder, out)
