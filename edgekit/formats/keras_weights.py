"""Keras 3 weight files (`model.weights.h5`, or sharded behind `model.weights.json`) read
with h5py alone: no Keras, no backend, nothing from the preset is executed.

Keras stores each layer's variables under `layers/<name>/.../vars/<index>`; bfloat16
variables are 2-byte opaque datasets tagged with a `dtype` attribute.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.core.errors import EdgekitError

WEIGHTS_FILE = "model.weights.h5"
SHARD_INDEX = "model.weights.json"


def _h5py():
    try:
        import h5py
    except ImportError:
        raise EdgekitError(
            "reading a Keras preset needs h5py, which is not installed",
            "install the converter stack: pip install 'edgekit[convert]'",
        ) from None
    return h5py


@dataclass(frozen=True)
class KerasVariable:
    path: str  # e.g. "layers/reversible_embedding/vars/0"
    file: Path
    shape: tuple[int, ...]
    bfloat16: bool


def _bad(path: Path, why: str) -> EdgekitError:
    return EdgekitError(f"{path} is not a readable Keras weights file ({why})", "re-save the preset with Keras 3")


def weight_files(folder: Path) -> list[Path]:
    """The h5 files holding the preset's weights, single or sharded."""
    index = folder / SHARD_INDEX
    if index.exists():
        try:
            weight_map = json.loads(index.read_text())["weight_map"]
            names = sorted({n for v in weight_map.values() for n in (v if isinstance(v, list) else [v])})
        except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, AttributeError):
            raise _bad(index, "its weight_map is not valid JSON") from None
        files = [folder / str(n) for n in names]
        missing = [f for f in files if not f.exists()]
        if missing:
            raise EdgekitError(f"{folder} lacks weight shard {missing[0].name}", "copy every shard of the preset")
        return files
    if (folder / WEIGHTS_FILE).exists():
        return [folder / WEIGHTS_FILE]
    raise EdgekitError(f"{folder} has no {WEIGHTS_FILE}", "pass a KerasHub preset folder saved with save_to_preset")


def list_variables(folder: Path) -> dict[str, KerasVariable]:
    """Every variable of the preset by path, shapes read from the headers only."""
    h5py = _h5py()
    found: dict[str, KerasVariable] = {}
    for file in weight_files(folder):
        try:
            with h5py.File(file, "r") as handle:

                def visit(name: str, obj: Any, file: Path = file) -> None:
                    if isinstance(obj, h5py.Dataset):
                        is_bf16 = obj.attrs.get("dtype") in ("bfloat16", b"bfloat16")
                        found[name] = KerasVariable(name, file, tuple(int(d) for d in obj.shape), is_bf16)

                handle.visititems(visit)
        except OSError as exc:
            raise _bad(file, str(exc).splitlines()[0]) from None
    return found


def read_variable(variable: KerasVariable) -> np.ndarray:
    """The variable as float32 (bfloat16 widened exactly)."""
    h5py = _h5py()
    with h5py.File(variable.file, "r") as handle:
        dataset = handle[variable.path]
        if variable.bfloat16:
            raw = np.frombuffer(dataset[()].tobytes(), dtype=np.uint16).reshape(variable.shape)
            return (raw.astype(np.uint32) << 16).view(np.float32)
        return np.asarray(dataset[()], dtype=np.float32)
