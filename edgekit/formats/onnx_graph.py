"""ONNX graphs: inputs and outputs as onnxruntime sees them (the session is created, not run)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgekit.core.errors import EdgekitError


def describe_onnx(path: Path) -> dict[str, Any]:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 4
    try:
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/InvalidProtobuf types
        raise EdgekitError(f"{path} is not a loadable ONNX graph ({type(exc).__name__})", "re-export it") from None
    return {
        "kind": "model",
        "format": "onnx",
        "path": str(path),
        "size_bytes": path.stat().st_size,
        "inputs": {i.name: [str(d) for d in i.shape] for i in session.get_inputs()[:8]},
        "input_count": len(session.get_inputs()),
        "outputs": [o.name for o in session.get_outputs()[:8]],
    }
