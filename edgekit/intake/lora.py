"""PEFT LoRA adapters (`convert BASE --adapter DIR`), read and checked without running them.

An adapter is the folder peft's `save_pretrained` writes: adapter_config.json and
adapter_model.safetensors, whose tensors are `base_model.model.<module>.lora_A.weight` (rank x
in) and `.lora_B.weight` (out x rank). Merging adds scale * B @ A to each module's weight,
scale = alpha / rank (rsLoRA: alpha / sqrt(rank)), with peft's per-module `rank_pattern` and
`alpha_pattern`. Everything the merge depends on is checked here against the weights
themselves, so a config that says one thing and tensors that say another are refused, as are
the options that make a merge compute something else (DoRA, trained biases, extra modules).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgekit.core.digest import sha256_file
from edgekit.core.errors import EdgekitError
from edgekit.core.manifest import AdapterRecord
from edgekit.families.family import ATTENTION_WEIGHTS, MLP_WEIGHTS, Family
from edgekit.families.registry import family_for_architecture
from edgekit.formats.safetensors import TensorInfo, read_header

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
PICKLE_WEIGHTS = ("adapter_model.bin", "adapter_model.pt")
PEFT_PREFIX = "base_model.model."
PROJECTIONS = tuple(w.rsplit(".", 1)[-1] for w in ATTENTION_WEIGHTS + MLP_WEIGHTS)
_MATRIX = re.compile(r"(?P<module>.+)\.lora_(?P<side>[AB])\.weight")
_SAVE_FIX = (
    "save the adapter with peft's save_pretrained, or merge it with peft's merge_and_unload() and convert that folder"
)

# Options that, away from these values, make peft's merge compute something this one does not.
_NEUTRAL: dict[str, Any] = {
    "use_dora": False,
    "fan_in_fan_out": False,
    "bias": "none",
    "lora_bias": False,
    "modules_to_save": None,
    "trainable_token_indices": None,
    "layer_replication": None,
    "target_parameters": None,
    "alora_invocation_tokens": None,
    "use_qalora": False,
    "use_bdlora": None,
    "arrow_config": None,
    "megatron_config": None,
}
# Options that only steer training or which modules get adapters (the tensors say which did).
_NO_EFFECT_ON_MERGE = {
    "alpha_pattern",
    "auto_mapping",
    "base_model_name_or_path",
    "corda_config",
    "ensure_weight_tying",
    "eva_config",
    "exclude_modules",
    "inference_mode",
    "init_lora_weights",
    "layers_pattern",
    "layers_to_transform",
    "loftq_config",
    "lora_alpha",
    "lora_dropout",
    "lora_ga_config",
    "megatron_core",
    "peft_type",
    "peft_version",
    "qalora_group_size",
    "r",
    "rank_pattern",
    "revision",
    "target_modules",
    "task_type",
    "use_rslora",
}


@dataclass(frozen=True)
class AdaptedModule:
    """One base weight (`<module>.weight`) and the update the adapter adds to it."""

    module: str  # the base model's module path, e.g. model.layers.0.self_attn.q_proj
    rank: int
    scale: float
    a: TensorInfo  # rank x in
    b: TensorInfo  # out x rank


@dataclass(frozen=True)
class LoraAdapter:
    path: Path
    weights: Path
    config_sha256: str
    weights_sha256: str
    rank: int
    alpha: float
    rslora: bool
    target_modules: tuple[str, ...]  # the projections adapted (leaf names)
    modules: tuple[AdaptedModule, ...]
    base_model: str | None  # base_model_name_or_path, as the adapter names its base
    base_class: str | None  # the transformers class it was trained on (auto_mapping)

    def record(self) -> AdapterRecord:
        """What the manifest says of the adapter."""
        return AdapterRecord(
            path=str(self.path),
            config_sha256=self.config_sha256,
            weights_sha256=self.weights_sha256,
            rank=self.rank,
            alpha=self.alpha,
            rslora=self.rslora,
            target_modules=self.target_modules,
            adapted_weights=len(self.modules),
            base_model=self.base_model,
        )

    def check_family(self, family: Family) -> None:
        """An adapter trained on another model's class is refused before any work."""
        if self.base_class is None:
            return
        try:
            trained_on = family_for_architecture(self.base_class)
        except EdgekitError:
            trained_on = None
        if trained_on is not family:
            raise EdgekitError(
                f"adapter {self.path} was trained on {self.base_class}, not on a {family.display_name} model",
                f"pass the {family.display_name} checkpoint the adapter was trained on, or an adapter for this base",
            )

    def check_fits(self, base: dict[str, tuple[int, ...]], where: Path) -> None:
        """Every adapted module is a linear weight of `base` ({name: shape}) of the shape the
        adapter's matrices multiply out to."""
        missing = [m.module for m in self.modules if f"{m.module}.weight" not in base]
        if missing:
            raise EdgekitError(
                f"adapter {self.path} adapts {missing[0]}, which {where} does not have "
                f"({len(missing)} of its {len(self.modules)} modules missing: an adapter for another model?)",
                "pass the checkpoint the adapter was trained on",
            )
        for m in self.modules:
            shape = base[f"{m.module}.weight"]
            if shape != (m.b.shape[0], m.a.shape[1]):
                raise EdgekitError(
                    f"adapter {self.path} does not fit {where}: {m.module} is {list(shape)} in the base, "
                    f"the adapter's B @ A is {[m.b.shape[0], m.a.shape[1]]}",
                    "pass the checkpoint (the same size) the adapter was trained on",
                )


def _bad(path: Path, problem: str, fix: str = _SAVE_FIX) -> EdgekitError:
    return EdgekitError(f"adapter {path}: {problem}", fix)


def _read_config(path: Path) -> dict[str, Any]:
    config_path = path / ADAPTER_CONFIG
    if not config_path.is_file():
        raise _bad(path, f"no {ADAPTER_CONFIG} (a PEFT adapter folder holds it beside {ADAPTER_WEIGHTS})")
    try:
        config = json.loads(config_path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _bad(path, f"{ADAPTER_CONFIG} is not valid JSON ({exc})") from None
    if not isinstance(config, dict):
        raise _bad(path, f"{ADAPTER_CONFIG} is not a JSON object")
    peft_type = config.get("peft_type")
    if peft_type != "LORA":
        raise _bad(
            path,
            f"a {peft_type or 'untyped'} adapter (peft_type), not LoRA",
            "edgekit merges LoRA adapters; merge this one with peft's merge_and_unload() and convert that folder",
        )
    if config.get("use_dora"):
        raise _bad(
            path,
            "a DoRA adapter (use_dora), whose merge rescales every column; edgekit merges plain LoRA and rsLoRA",
            "merge it with peft's merge_and_unload() and convert the merged folder",
        )
    for key, neutral in _NEUTRAL.items():
        if config.get(key, neutral) not in (neutral, None, False, {}, []):
            raise _bad(
                path,
                f"{ADAPTER_CONFIG} sets {key} = {json.dumps(config[key])}, which a LoRA merge here does not reproduce",
                "merge it with peft's merge_and_unload() and convert the merged folder",
            )
    unknown = sorted(k for k, v in config.items() if k not in _NEUTRAL and k not in _NO_EFFECT_ON_MERGE and v)
    if unknown:
        raise _bad(
            path,
            f"{ADAPTER_CONFIG} sets {', '.join(unknown)}, which edgekit does not know how to merge",
            "merge it with peft's merge_and_unload() and convert the merged folder",
        )
    targets = config.get("target_modules")
    if isinstance(targets, list):
        unknown = [str(t) for t in targets if not isinstance(t, str) or t.rsplit(".", 1)[-1] not in PROJECTIONS]
        if unknown:
            raise _bad(
                path,
                f"targets {', '.join(unknown)}; edgekit merges adapters on the attention and MLP projections "
                f"({', '.join(PROJECTIONS)}) only",
                "train the adapter on those projections only, or merge it with peft's merge_and_unload()",
            )
    for key in ("r", "lora_alpha"):
        value = config.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise _bad(path, f"{ADAPTER_CONFIG} has no positive {key} ({value!r})")
    return config


def _pattern_value(patterns: Any, module: str, default: float) -> float:
    """peft's per-module override: the first key matching the end of the module path."""
    for key, value in (patterns or {}).items():
        if re.match(rf"(.*\.)?({key})$", module):
            return value
    return default


def _targets_cover(targets: Any, module: str) -> bool:
    """Whether the config's target_modules name `module` (a list of names, a regex or 'all-linear')."""
    if targets == "all-linear":
        return True
    if isinstance(targets, str):
        return re.fullmatch(targets, module) is not None
    if isinstance(targets, list):
        return any(module == t or module.endswith(f".{t}") for t in targets if isinstance(t, str))
    return False


def _pairs(path: Path, tensors: dict[str, TensorInfo]) -> dict[str, dict[str, TensorInfo]]:
    """{module: {"A": info, "B": info}} from peft's tensor names."""
    pairs: dict[str, dict[str, TensorInfo]] = {}
    for name, info in tensors.items():
        if "lora_magnitude_vector" in name:
            raise _bad(path, "holds DoRA magnitudes (lora_magnitude_vector); edgekit merges plain LoRA and rsLoRA")
        if "lora_embedding" in name:
            raise _bad(
                path,
                f"adapts an embedding ({name}); edgekit merges adapters on the attention and MLP projections "
                f"({', '.join(PROJECTIONS)})",
                "train the adapter on those projections only, or merge it with peft's merge_and_unload()",
            )
        match = _MATRIX.fullmatch(name.removeprefix(PEFT_PREFIX)) if name.startswith(PEFT_PREFIX) else None
        if not match:
            raise _bad(path, f"holds {name}, which is not a LoRA A or B matrix of a linear layer")
        if len(info.shape) != 2:
            raise _bad(path, f"{name} has shape {list(info.shape)}, not a matrix")
        pairs.setdefault(match["module"], {})[match["side"]] = info
    if not pairs:
        raise _bad(path, f"{ADAPTER_WEIGHTS} holds no LoRA matrices")
    return pairs


def read_adapter(path: Path) -> LoraAdapter:
    """Read and check a PEFT LoRA adapter folder, or say in one line what is wrong with it."""
    if not path.is_dir():
        raise EdgekitError(
            f"{path} is not an adapter folder", f"pass the folder peft's save_pretrained wrote ({ADAPTER_CONFIG} …)"
        )
    weights = path / ADAPTER_WEIGHTS
    if not weights.is_file():
        pickled = [p for p in PICKLE_WEIGHTS if (path / p).exists()]
        if pickled:
            raise EdgekitError(
                f"adapter {path}: {pickled[0]} is a pickle file, which can run arbitrary code when loaded",
                "save the adapter as safetensors (peft's save_pretrained does by default) and pass that folder",
            )
        raise _bad(path, f"no {ADAPTER_WEIGHTS}")
    config = _read_config(path)
    tensors, _ = read_header(weights)
    rank, alpha, rslora = int(config["r"]), float(config["lora_alpha"]), bool(config.get("use_rslora"))
    modules = []
    for module, pair in sorted(_pairs(path, tensors).items()):
        if set(pair) != {"A", "B"}:
            raise _bad(path, f"{module} has lora_{next(iter(pair))} but no lora_{'B' if 'A' in pair else 'A'}")
        leaf = module.rsplit(".", 1)[-1]
        if leaf not in PROJECTIONS:
            raise _bad(
                path,
                f"adapts {module}; edgekit merges adapters on the attention and MLP projections "
                f"({', '.join(PROJECTIONS)}) only",
                "train the adapter on those projections only, or merge it with peft's merge_and_unload()",
            )
        if not _targets_cover(config.get("target_modules"), module):
            raise _bad(
                path,
                f"{ADAPTER_CONFIG}'s target_modules {json.dumps(config.get('target_modules'))} do not include "
                f"{module}, which its weights adapt",
            )
        a, b = pair["A"], pair["B"]
        module_rank = int(_pattern_value(config.get("rank_pattern"), module, rank))
        if a.shape[0] != b.shape[1] or a.shape[0] != module_rank:
            raise _bad(
                path,
                f"{ADAPTER_CONFIG} says rank {module_rank} for {module}, its weights have rank "
                f"{a.shape[0]} (A) and {b.shape[1]} (B)",
            )
        module_alpha = float(_pattern_value(config.get("alpha_pattern"), module, alpha))
        scale = module_alpha / (math.sqrt(module_rank) if rslora else module_rank)
        modules.append(AdaptedModule(module, module_rank, scale, a, b))
    auto = config.get("auto_mapping")
    return LoraAdapter(
        path=path,
        weights=weights,
        config_sha256=sha256_file(path / ADAPTER_CONFIG),
        weights_sha256=sha256_file(weights),
        rank=rank,
        alpha=alpha,
        rslora=rslora,
        target_modules=tuple(sorted({m.module.rsplit(".", 1)[-1] for m in modules})),
        modules=tuple(modules),
        base_model=config.get("base_model_name_or_path"),
        base_class=auto.get("base_model_class") if isinstance(auto, dict) else None,
    )
