"""MediaPipe `.task` bundles: a stored zip of TF_LITE_PREFILL_DECODE, TOKENIZER_MODEL and
METADATA (LlmParameters). Zips come from anywhere: entry names and declared sizes are checked
before anything is read."""

from __future__ import annotations

import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from edgekit.core.errors import EdgekitError
from edgekit.formats.protowire import WireError, decode

MODEL_ENTRY = "TF_LITE_PREFILL_DECODE"
TOKENIZER_ENTRY = "TOKENIZER_MODEL"
METADATA_ENTRY = "METADATA"
REQUIRED = (MODEL_ENTRY, TOKENIZER_ENTRY, METADATA_ENTRY)
_MAX_RATIO = 100  # a declared uncompressed size beyond 100x the file is a zip bomb

# LlmParameters field numbers (MediaPipe's llm_params.proto).
_STOP_TOKENS, _START_TOKEN, _PROMPT_TEMPLATES = 5, 6, 17


@dataclass(frozen=True)
class TaskBundle:
    path: Path
    entries: dict[str, int]  # name -> uncompressed bytes

    def read(self, name: str) -> bytes:
        try:
            with zipfile.ZipFile(self.path) as archive:
                return archive.read(name)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError) as exc:
            raise _bad(self.path, f"entry {name} is damaged: {exc}") from None

    def metadata(self) -> dict[str, Any]:
        try:
            fields = decode(self.read(METADATA_ENTRY))
        except WireError as exc:
            raise _bad(self.path, f"METADATA does not parse ({exc})") from None
        info: dict[str, Any] = {"stop_tokens": [], "start_token": None, "prompt_templates": {}}
        for number, value in fields:
            if number == _STOP_TOKENS and isinstance(value, str):
                info["stop_tokens"].append(value)
            elif number == _START_TOKEN and isinstance(value, str):
                info["start_token"] = value
            elif number == _PROMPT_TEMPLATES and isinstance(value, list):
                for role_no, role in value:
                    name = {1: "user", 2: "model", 3: "system"}.get(role_no, str(role_no))
                    parts = dict(role) if isinstance(role, list) else {}
                    info["prompt_templates"][name] = {"prefix": parts.get(2, ""), "suffix": parts.get(3, "")}
        return info


def _bad(path: Path, why: str) -> EdgekitError:
    return EdgekitError(f"{path} is not a valid .task bundle ({why})", "re-run `edgekit convert` to rebuild it")


def open_task(path: Path) -> TaskBundle:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise _bad(path, f"not a zip file: {exc}") from None
    size = path.stat().st_size
    with archive:
        entries = {}
        for info in archive.infolist():
            name = info.filename
            pure = PurePosixPath(name)
            if pure.is_absolute() or ".." in pure.parts or "\\" in name or ":" in name:
                raise _bad(path, f"unsafe entry name {name!r}")
            if info.file_size > max(size, 1) * _MAX_RATIO or info.file_size > 64 * 2**30:
                raise _bad(path, f"entry {name!r} declares {info.file_size} bytes")
            entries[name] = info.file_size
    missing = [name for name in REQUIRED if name not in entries]
    if missing:
        raise _bad(path, f"missing entry {missing[0]}")
    return TaskBundle(path, entries)


def describe_task(path: Path) -> dict[str, Any]:
    bundle = open_task(path)
    model = bundle.read(MODEL_ENTRY)
    from edgekit.formats.tflite import describe_tflite_bytes

    return {
        "kind": "bundle",
        "format": "task",
        "path": str(path),
        "size_bytes": path.stat().st_size,
        "entries": bundle.entries,
        "metadata": bundle.metadata(),
        "model": describe_tflite_bytes(model),
    }
