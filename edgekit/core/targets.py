"""What each `--target` of `edgekit convert` writes: artifact formats, in writing order."""

from __future__ import annotations

TARGET_FORMATS: dict[str, tuple[str, ...]] = {
    "android": ("litertlm", "task"),
    "ios": ("litertlm", "task"),
    "web": ("task",),
    "task": ("task",),
    "litertlm": ("litertlm",),
    "onnx": ("onnx",),
    "all": ("litertlm", "task", "onnx"),
}
