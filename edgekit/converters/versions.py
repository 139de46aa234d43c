"""Versions of every library a conversion used, for the manifest."""

from __future__ import annotations

from importlib import metadata

LIBRARIES = (
    "edgekit",
    "torch",
    "transformers",
    "litert-torch",
    "ai-edge-litert",
    "ai-edge-quantizer",
    "litert-converter",
    "litert-lm-builder",
    "litert-lm-api",
    "mediapipe",
    "tensorflow-cpu",
    "sentencepiece",
    "gguf",
    "numpy",
    "onnx",
    "onnxruntime",
)


def library_versions() -> dict[str, str]:
    found = {}
    for name in LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found
