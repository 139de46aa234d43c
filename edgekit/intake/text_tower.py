"""A multimodal Gemma 3n or Gemma 4 folder's text decoder, as the `*ForCausalLM` folder the
exporters load.

Released Gemma 3n and Gemma 4 checkpoints are `*ForConditionalGeneration` folders: the text
decoder under `model.language_model.` beside vision and audio towers, which edgekit does not
convert. The text folder is written once per checkpoint into edgekit's cache, each kept tensor's
bytes copied as they are (bfloat16 stays bfloat16), so the towers are never read into memory.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgekit.core.atomic import atomic_dir
from edgekit.core.paths import cache_dir
from edgekit.formats import safetensors

if TYPE_CHECKING:
    from edgekit.intake.checkpoint import Checkpoint

TOWERS = ("vision", "audio")
_TEXT_FOLDER_VERSION = 1


def towers_left_out(config: dict[str, Any]) -> tuple[str, ...]:
    """The towers a multimodal config (the outer config.json) holds besides the text decoder."""
    return tuple(t for t in TOWERS if config.get(f"{t}_config"))


def _cache_key(folder: Path) -> str:
    """Config and each weight file's name, size and modification time: a changed file makes a
    new text folder without hashing gigabytes twice (the manifest's checksums hash them once)."""
    digest = hashlib.sha256((folder / "config.json").read_bytes())
    for weights in sorted(folder.glob("*.safetensors")):
        stat = weights.stat()
        digest.update(f"{weights.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def text_folder(ckpt: Checkpoint, on_stage: Callable[[str], None] | None = None) -> Path:
    """The cached `*ForCausalLM` folder of multimodal checkpoint `ckpt`, written on first use."""
    source = ckpt.path
    folder = cache_dir() / "hf" / f"{source.name}-{_cache_key(source)}-text-v{_TEXT_FOLDER_VERSION}"
    if (folder / "config.json").exists():
        return folder
    if on_stage:
        on_stage(f"writing the text decoder of {source.name} into {folder}")
    outer = json.loads((source / "config.json").read_text())
    config = {
        "tie_word_embeddings": outer.get("tie_word_embeddings", True),
        **ckpt.config,
        "architectures": [ckpt.family.architectures[0]],
    }
    with atomic_dir(folder, replace=True) as tmp:
        weight_map = {}
        for weights in sorted(source.glob("*.safetensors")):
            table, _ = safetensors.read_header(weights)
            renamed = ckpt.family.text_tensors({name: name for name in table}, ckpt.architecture)
            if renamed:
                safetensors.copy_renamed(weights, tmp / weights.name, {old: new for new, old in renamed.items()})
                weight_map.update(dict.fromkeys(renamed, weights.name))
        if (source / safetensors.INDEX_FILE).exists():
            (tmp / safetensors.INDEX_FILE).write_text(json.dumps({"metadata": {}, "weight_map": weight_map}, indent=2))
        for other in source.iterdir():
            if (
                other.is_file()
                and other.suffix != ".safetensors"
                and other.name not in ("config.json", safetensors.INDEX_FILE)
            ):
                shutil.copy2(other, tmp / other.name)
        (tmp / "config.json").write_text(json.dumps(config, indent=2))
    return folder
