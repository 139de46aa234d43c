"""`.litertlm` files read in Python, checked before LiteRT-LM's native code ever sees them.

A file that merely starts with the `LITERTLM` magic makes the engine abort the whole process
(tests/test_bad_inputs.py), so every offset is checked against the file size here first.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgekit.core.errors import EdgekitError

MAGIC = b"LITERTLM"
HF_TOKENIZER = "HF_Tokenizer_Zlib"
_HEADER_END_AT = 24
_HEADER_BEGIN = 32
_MAX_HEADER = 64 * 1024 * 1024


@dataclass(frozen=True)
class Section:
    data_type: str
    begin: int
    end: int
    items: dict[str, Any]


@dataclass(frozen=True)
class LitertLmFile:
    path: Path
    version: str
    sections: list[Section]

    def section(self, data_type: str, model_type: str | None = None) -> Section | None:
        """The first section of `data_type` (and of `model_type`, for TFLite models)."""
        return next(
            (
                s
                for s in self.sections
                if s.data_type == data_type and (model_type is None or s.items.get("model_type") == model_type)
            ),
            None,
        )

    def read(self, section: Section) -> bytes:
        with open(self.path, "rb") as handle:
            handle.seek(section.begin)
            return handle.read(section.end - section.begin)

    def hf_tokenizer_json(self) -> bytes | None:
        """The Hugging Face `tokenizer.json` litert-torch's packaging stores (an 8-byte
        little-endian length, then the zlib stream), or None when the bundle holds none."""
        import zlib

        section = self.section(HF_TOKENIZER)
        if section is None:
            return None
        data = self.read(section)
        try:
            json_bytes = zlib.decompress(data[8:])
        except zlib.error:
            json_bytes = b""
        if len(json_bytes) != int.from_bytes(data[:8], "little"):
            raise _damaged(self.path, "its tokenizer section does not inflate to its stated length")
        return json_bytes


def _damaged(path: Path, why: str) -> EdgekitError:
    return EdgekitError(f"{path} is not a valid .litertlm file ({why})", "re-run `edgekit convert` to rebuild it")


def open_litertlm(path: Path) -> LitertLmFile:
    from litert_lm_builder import litertlm_header_schema_py_generated as schema
    from litert_lm_builder import litertlm_peek

    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(_HEADER_BEGIN)
        if head[:8] != MAGIC:
            raise _damaged(path, "bad magic")
        if len(head) < _HEADER_BEGIN:
            raise _damaged(path, "truncated header")
        major, minor, patch = struct.unpack("<III", head[8:20])
        (header_end,) = struct.unpack("<Q", head[_HEADER_END_AT : _HEADER_END_AT + 8])
        if not _HEADER_BEGIN < header_end <= min(size, _HEADER_BEGIN + _MAX_HEADER):
            raise _damaged(path, f"header end {header_end} is outside the file")
        header = handle.read(header_end - _HEADER_BEGIN)
    names = {v: k for k, v in vars(schema.AnySectionDataType).items() if not k.startswith("_")}
    sections = []
    try:
        root = schema.LiteRTLMMetaData.GetRootAs(header, 0)
        table = root.SectionMetadata()
        for i in range(table.ObjectsLength() if table else 0):
            obj = table.Objects(i)
            begin, end = obj.BeginOffset(), obj.EndOffset()
            if not header_end <= begin <= end <= size:
                raise _damaged(path, f"section {i} spans {begin}..{end}, outside the file")
            items = {}
            for j in range(obj.ItemsLength()):
                pair = litertlm_peek.kvp_to_dict(obj.Items(j))
                items[str(pair["key"])] = pair["value"]
            sections.append(Section(names.get(obj.DataType(), str(obj.DataType())), begin, end, items))
    except EdgekitError:
        raise
    except Exception as exc:  # flatbuffers raises struct/index errors on garbage
        raise _damaged(path, f"unreadable header: {type(exc).__name__}") from None
    if not sections:
        raise _damaged(path, "no sections")
    return LitertLmFile(path, f"{major}.{minor}.{patch}", sections)


def llm_metadata(file: LitertLmFile) -> dict[str, Any]:
    from google.protobuf import json_format
    from litert_lm_builder.runtime.proto import llm_metadata_pb2

    section = file.section("LlmMetadataProto")
    if section is None:
        return {}
    proto = llm_metadata_pb2.LlmMetadata()
    try:
        proto.ParseFromString(file.read(section))
    except Exception:  # protobuf's DecodeError and friends
        raise _damaged(file.path, "LLM metadata does not parse") from None
    return json_format.MessageToDict(proto)


def describe_litertlm(path: Path) -> dict[str, Any]:
    file = open_litertlm(path)
    return {
        "kind": "bundle",
        "format": "litertlm",
        "path": str(path),
        "size_bytes": path.stat().st_size,
        "litertlm_version": file.version,
        "sections": [
            {"type": s.data_type, "bytes": s.end - s.begin, **{k: str(v) for k, v in s.items.items()}}
            for s in file.sections
        ],
        "llm_metadata": llm_metadata(file),
    }
