"""A LoRA adapter merged into its base in float32, before golden outputs and quantization.

The Gemma guide's order: tune at full precision, quantize afterwards. Every later step (golden
outputs, outlier migration, each export and recipe) reads the merged folder this writes, so
every recipe quantizes W + scale * B @ A, not W with a low-rank add-on. numpy only: one tensor
in memory at a time.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from edgekit.formats import safetensors
from edgekit.intake.lora import LoraAdapter

_INDEX = ".safetensors.index.json"


def merge_adapter(hf_dir: Path, adapter: LoraAdapter, out: Path) -> Path:
    """Write `hf_dir` with `adapter` merged to `out`: every weight file as float32 under its
    own name, config.json saying float32, every other file copied."""
    headers = {p: safetensors.read_header(p)[0] for p in sorted(hf_dir.glob("*.safetensors"))}
    adapter.check_fits({n: t.shape for tables in headers.values() for n, t in tables.items()}, hf_dir)
    updates = {f"{m.module}.weight": m for m in adapter.modules}
    out.mkdir(parents=True)

    def producer(path: Path, info: safetensors.TensorInfo):
        def produce() -> np.ndarray:
            weight = safetensors.read_float32(path, info)
            update = updates.get(info.name)
            if update is not None:
                a = safetensors.read_float32(adapter.weights, update.a)
                b = safetensors.read_float32(adapter.weights, update.b)
                weight += np.float32(update.scale) * (b @ a)
            return weight

        return produce

    for path, tables in headers.items():
        safetensors.write(out / path.name, [(n, t.shape, producer(path, t)) for n, t in tables.items()])
    for path in hf_dir.iterdir():
        if path.is_file() and not path.name.endswith(".safetensors"):
            shutil.copy2(path, out / path.name)
    config = json.loads((out / "config.json").read_text())
    for section in (config, config.get("text_config")):
        if isinstance(section, dict):
            for key in ("torch_dtype", "dtype"):
                if key in section:
                    section[key] = "float32"
    (out / "config.json").write_text(json.dumps(config, indent=2))
    for index in out.glob(f"*{_INDEX}"):
        data = json.loads(index.read_text())
        data.setdefault("metadata", {})["total_size"] = sum(p.stat().st_size for p in out.glob("*.safetensors"))
        index.write_text(json.dumps(data, indent=2))
    return out
