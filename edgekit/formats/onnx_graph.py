"""ONNX graphs: inputs and outputs as onnxruntime sees them (the session is created, not run)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgekit.core.errors import EdgekitError

# The decoder graph's file in an ONNX artifact folder, and its inputs and outputs (the names
# onnxruntime-genai uses): prefill and decode run the same graph.
ONNX_GRAPH = "model.onnx"
INPUT_IDS, ATTENTION_MASK, POSITION_IDS, LOGITS = "input_ids", "attention_mask", "position_ids", "logits"
PAST_PREFIX, PRESENT_PREFIX = "past_key_values.", "present."
# An optional input (an overridable initializer, default 0 = every position): how many of the
# last positions get logits. onnxruntime-genai never feeds it, so it gets every row, as before.
LOGITS_TO_KEEP = "logits_to_keep"
PAST_KEY, PAST_VALUE = PAST_PREFIX + "%d.key", PAST_PREFIX + "%d.value"
PRESENT_KEY, PRESENT_VALUE = PRESENT_PREFIX + "%d.key", PRESENT_PREFIX + "%d.value"


def io_names(layers: int) -> tuple[list[str], list[str]]:
    """(inputs, outputs) of a decoder graph with `layers` KV-cache layers."""
    past = [name % i for i in range(layers) for name in (PAST_KEY, PAST_VALUE)]
    present = [name % i for i in range(layers) for name in (PRESENT_KEY, PRESENT_VALUE)]
    return [INPUT_IDS, ATTENTION_MASK, POSITION_IDS, *past], [LOGITS, *present]


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
