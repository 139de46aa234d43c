"""Checkpoint intake: recognise, check and describe a Gemma checkpoint without running it.

Accepted: a Hugging Face folder (config.json, safetensors, SentencePiece and/or tokenizers
tokenizer), a KerasHub preset folder (config.json naming a Gemma backbone, model.weights.h5,
assets/tokenizer/vocabulary.spm) or a GGUF file. Pickle checkpoints are refused: no code from a checkpoint runs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgekit.core.chat import ChatFormat, fields_from_template
from edgekit.core.errors import EdgekitError
from edgekit.families import Family, family_for_architecture, family_for_gguf_arch
from edgekit.formats import safetensors
from edgekit.formats.gguf import GGUFFile, open_gguf
from edgekit.intake.hf_cache import cached_snapshot, is_model_id
from edgekit.intake.text_tower import text_folder, towers_left_out

if TYPE_CHECKING:
    from edgekit.intake.keras import KerasPreset

# "gemma-3-1b-it", "gemma_it_2b", KerasHub's "gemma3_instruct_1b": a separate -it/_it word, or "instruct".
INSTRUCTION_TUNED_NAME = re.compile(r"(?i)(?:^|[-_ ])it(?:$|[-_. ])|instruct")
CHAT_TEMPLATE_FILE = "chat_template.jinja"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")


@dataclass
class Checkpoint:
    kind: str  # "hf" | "gguf" | "keras"
    path: Path
    family: Family
    architecture: str
    config: dict[str, Any]  # the text model's config, HF field names
    tensors: dict[str, tuple[str, tuple[int, ...]]] = field(default_factory=dict)  # name -> (dtype, shape)
    tokenizer_files: list[str] = field(default_factory=list)
    files: dict[str, int] = field(default_factory=dict)  # file name -> bytes
    gguf: GGUFFile | None = None
    keras: KerasPreset | None = None
    is_default: bool = False
    model_id: str | None = None  # the Hugging Face id it was found by in the local cache
    towers_left_out: tuple[str, ...] = ()  # a multimodal checkpoint's towers, not converted

    @property
    def parameter_count(self) -> int:
        total = 0
        for _, shape in self.tensors.values():
            count = 1
            for dim in shape:
                count *= dim
            total += count
        return total

    @property
    def effective_parameter_count(self) -> int:
        return self.family.effective_parameters(self.tensors)

    @property
    def instruction_tuned(self) -> bool | None:
        return self.variant()[0]

    def variant(self) -> tuple[bool | None, str]:
        """Instruction-tuned or pretrained, where the checkpoint says so, and how it says it."""
        names = [str(self.config.get("_name_or_path", "")), self.path.name]
        if self.gguf is not None:
            names += [str(self.gguf.metadata.get(k, "")) for k in ("general.name", "general.finetune")]
        for name in names:
            if INSTRUCTION_TUNED_NAME.search(name):
                return True, f"its name {name!r} marks an instruction-tuned variant"
        if self.gguf is not None and "tokenizer.chat_template" not in self.gguf.metadata:
            return False, "the GGUF carries no chat template"
        return None, "the checkpoint does not say (no -it/instruct in its name)"

    def chat_template(self) -> tuple[str, str] | None:
        """The checkpoint's own Jinja chat template and where it was found, if it has one."""
        if self.gguf is not None:
            template = self.gguf.metadata.get("tokenizer.chat_template")
            return (template, "the GGUF's tokenizer.chat_template") if isinstance(template, str) else None
        if self.kind != "hf":
            return None
        if (self.path / CHAT_TEMPLATE_FILE).is_file():
            return (self.path / CHAT_TEMPLATE_FILE).read_text(encoding="utf-8"), CHAT_TEMPLATE_FILE
        tokenizer_config = self.path / "tokenizer_config.json"
        if tokenizer_config.is_file():
            try:
                template = json.loads(tokenizer_config.read_text()).get("chat_template")
            except (UnicodeDecodeError, json.JSONDecodeError, AttributeError):
                return None
            if isinstance(template, str):
                return template, "tokenizer_config.json's chat_template"
        return None

    def chat_format(self) -> ChatFormat:
        """The family's format, carrying the checkpoint's own template where it has one (and
        the prefixes and suffixes that template reduces to, where it does)."""
        found = self.chat_template()
        if found is None:
            return self.family.chat
        return fields_from_template(replace(self.family.chat, template=found[0], template_source=found[1]))

    def weight_files(self) -> list[Path]:
        """The files that hold the weights (what a manifest's checksums cover)."""
        if self.kind == "gguf":
            return [self.path]
        if self.kind == "keras":
            from edgekit.formats.keras_weights import weight_files

            return weight_files(self.path)
        return sorted(self.path.glob("*.safetensors"))

    def hf_folder(self, on_stage: Callable[[str], None] | None = None) -> Path:
        """A Hugging Face folder converters can read (GGUFs are dequantized once, cached)."""
        if self.kind == "hf":
            if self.family.is_multimodal(self.architecture) and not self.family.converts_multimodal:
                return text_folder(self, on_stage)
            return self.path
        if self.keras is not None:
            from edgekit.intake.keras import hf_folder_for_keras

            return hf_folder_for_keras(self.keras, on_stage)
        from edgekit.intake.gguf import hf_folder_for_gguf

        return hf_folder_for_gguf(self.path, on_stage)


def load_checkpoint(path: Path | None) -> Checkpoint:
    """Recognise `path` (None: the embedded default model) or explain why not."""
    if path is None:
        from edgekit.intake.default_model import default_gguf

        checkpoint = _load_gguf(default_gguf())
        checkpoint.is_default = True
        return checkpoint
    if is_model_id(str(path)):
        checkpoint = _load_hf(cached_snapshot(str(path)))
        checkpoint.model_id = str(path)
        return checkpoint
    if not path.exists():
        raise EdgekitError(
            f"{path} does not exist",
            "pass a Hugging Face or KerasHub preset folder, a .gguf file, or a model id in the local Hugging Face cache",
        )
    if path.is_file():
        if path.suffix.lower() in PICKLE_SUFFIXES:
            raise _pickle_refused(path)
        if path.suffix.lower() == ".gguf":
            return _load_gguf(path)
        if path.suffix.lower() == ".safetensors":
            raise EdgekitError(
                f"{path} is a lone weights file",
                "pass the folder that holds it with its config.json and tokenizer",
            )
        raise EdgekitError(
            f"{path} is not a checkpoint edgekit reads",
            "pass a Hugging Face or KerasHub preset folder, or a .gguf file",
        )
    return _load_hf(path)


def _pickle_refused(path: Path) -> EdgekitError:
    return EdgekitError(
        f"{path} is a pickle checkpoint, which can run arbitrary code when loaded",
        "convert it to safetensors with the tool that made it, then pass that folder",
    )


def _load_gguf(path: Path) -> Checkpoint:
    gguf = open_gguf(path)
    family = family_for_gguf_arch(gguf.arch)
    from edgekit.intake.gguf import hf_config_from_gguf

    config = hf_config_from_gguf(gguf, family)
    tensors = {t.name: (t.type_name, t.shape) for t in gguf.tensors}
    return Checkpoint(
        kind="gguf",
        path=path,
        family=family,
        architecture=config["architectures"][0],
        config=config,
        tensors=tensors,
        tokenizer_files=["tokenizer.ggml (embedded vocabulary)"],
        files={path.name: path.stat().st_size},
        gguf=gguf,
    )


def _read_config(folder: Path) -> dict[str, Any]:
    config_path = folder / "config.json"
    if not config_path.exists():
        raise EdgekitError(f"{folder} has no config.json", "pass the folder of a Hugging Face checkpoint")
    try:
        config = json.loads(config_path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EdgekitError(f"{config_path} is not valid JSON ({exc})", "re-download the checkpoint") from None
    if not isinstance(config, dict):
        raise EdgekitError(f"{config_path} is not a JSON object", "re-download the checkpoint")
    return config


def _load_keras(folder: Path, config: dict[str, Any]) -> Checkpoint:
    from edgekit.intake.keras import VOCABULARY, KerasPreset

    preset = KerasPreset(folder, config)
    text_config = preset.hf_config()
    return Checkpoint(
        kind="keras",
        path=folder,
        family=preset.family,
        architecture=text_config["architectures"][0],
        config=text_config,
        tensors=preset.tensors,
        tokenizer_files=[str(VOCABULARY)],
        files={str(p.relative_to(folder)): p.stat().st_size for p in sorted(folder.rglob("*")) if p.is_file()},
        keras=preset,
    )


def _load_hf(folder: Path) -> Checkpoint:
    entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    if not entries:
        raise EdgekitError(f"{folder} is empty", "pass a folder with config.json, *.safetensors and a tokenizer")
    config = _read_config(folder)
    from edgekit.intake.keras import is_keras_preset

    if is_keras_preset(config):
        return _load_keras(folder, config)
    architectures = config.get("architectures")
    if not architectures or not isinstance(architectures, list):
        raise EdgekitError(
            f"{folder / 'config.json'} names no `architectures`",
            'add the model class, e.g. "architectures": ["Gemma3ForCausalLM"]',
        )
    architecture = str(architectures[0])
    family = family_for_architecture(architecture)
    text_config = family.text_config(config, architecture)

    weight_files = sorted(folder.glob("*.safetensors"))
    if not weight_files:
        pickles = [p for p in entries if p.suffix.lower() in PICKLE_SUFFIXES]
        if pickles:
            raise _pickle_refused(pickles[0])
        raise EdgekitError(f"{folder} has no *.safetensors weights", "export the checkpoint with safetensors")
    tensors: dict[str, tuple[str, tuple[int, ...]]] = {}
    for weight_file in weight_files:
        table, _ = safetensors.read_header(weight_file)
        tensors.update({name: (info.dtype, info.shape) for name, info in table.items()})

    tensors = family.text_tensors(tensors, architecture)
    _check_weights(folder, family, text_config, tensors)

    tokenizer_files = [n for n in ("tokenizer.model", "tokenizer.json") if (folder / n).exists()]
    if not tokenizer_files:
        raise EdgekitError(
            f"{folder} has no tokenizer (tokenizer.model or tokenizer.json)",
            "copy the tokenizer files of the base model into the folder",
        )
    return Checkpoint(
        kind="hf",
        path=folder,
        family=family,
        architecture=architecture,
        config=text_config,
        tensors=tensors,
        tokenizer_files=tokenizer_files,
        files={p.name: p.stat().st_size for p in entries if p.is_file()},
        towers_left_out=towers_left_out(config) if family.is_multimodal(architecture) else (),
    )


def _check_weights(folder: Path, family: Family, config: dict[str, Any], tensors: dict[str, Any]) -> None:
    for key in ("num_hidden_layers", "hidden_size", "vocab_size"):
        if not isinstance(config.get(key), int) or config[key] <= 0:
            raise EdgekitError(f"{folder / 'config.json'} has no valid {key}", "re-download the checkpoint")
    missing = [n for n in family.weight_names(config) if n not in tensors]
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise EdgekitError(
            f"{folder} is missing weight {missing[0]}{more}",
            "the checkpoint is incomplete or its config does not match its weights; re-download it",
        )
    rows, cols = tensors["model.embed_tokens.weight"][1][:2]
    if (rows, cols) != (config["vocab_size"], config["hidden_size"]):
        raise EdgekitError(
            f"{folder}: embedding is {rows}x{cols} but config says {config['vocab_size']}x{config['hidden_size']}",
            "the config.json does not belong to these weights",
        )
