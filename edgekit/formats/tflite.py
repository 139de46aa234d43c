"""LiteRT (`.tflite`) models: signatures and their input shapes, read by the LiteRT
interpreter without invoking the model."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from edgekit.core.errors import EdgekitError

MAGIC = b"TFL3"


def check_tflite_bytes(data: bytes, where: str) -> None:
    if len(data) < 8 or data[4:8] != MAGIC:
        raise EdgekitError(f"{where} is not a LiteRT model (no TFL3 identifier)", "re-run `edgekit convert`")


def interpreter(data: bytes, threads: int = 2):
    from ai_edge_litert.interpreter import Interpreter

    return Interpreter(model_content=data, num_threads=threads)


def describe_tflite_bytes(data: bytes, where: str = "model") -> dict[str, Any]:
    check_tflite_bytes(data, where)
    try:
        model = interpreter(data)
    except (ValueError, RuntimeError) as exc:
        raise EdgekitError(f"{where} does not load in LiteRT ({exc})", "re-run `edgekit convert`") from None
    signatures = {}
    for name in model.get_signature_list():
        details = model.get_signature_runner(name).get_input_details()
        signatures[name] = {
            key: [int(d) for d in value["shape"]]
            for key, value in sorted(details.items())
            if not key.startswith("kv_cache_") or key.endswith("_0")
        }
    weight_types = Counter(t["dtype"].__name__ for t in model.get_tensor_details() if t["shape"].size == 2)
    return {"bytes": len(data), "signatures": signatures, "matrix_dtypes": dict(weight_types)}


def describe_tflite(path: Path) -> dict[str, Any]:
    return {
        "kind": "model",
        "format": "tflite",
        "path": str(path),
        **describe_tflite_bytes(path.read_bytes(), str(path)),
    }
