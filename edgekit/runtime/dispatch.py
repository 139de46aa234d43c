"""The runner for an artifact, by what its bytes are."""

from __future__ import annotations

from pathlib import Path

from edgekit.core.errors import EdgekitError
from edgekit.runtime.artifact import Artifact, open_artifact
from edgekit.runtime.litert_lm_runner import LiteRtLmRunner
from edgekit.runtime.onnx_runner import OnnxRunner
from edgekit.runtime.runner import Runner


def open_runner(path: str | Path | Artifact, threads: int = 2) -> Runner:
    """The runner for an artifact's format: LiteRT-LM for bundles, onnxruntime for ONNX."""
    artifact = path if isinstance(path, Artifact) else open_artifact(Path(path))
    if artifact.format == "onnx":
        return OnnxRunner(artifact, threads)
    if artifact.format == "tflite":
        raise EdgekitError(
            f"{artifact.path.name} is a bare LiteRT model with no tokenizer",
            "pass the .task or .litertlm bundle it came from",
        )
    return LiteRtLmRunner(artifact, threads)
