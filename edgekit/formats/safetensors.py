"""safetensors without the safetensors package: a checked header reader and a streaming writer.

Reading is strict because checkpoints come from anywhere: a header whose offsets or shapes
lie is refused before any tensor is touched.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgekit.core.errors import EdgekitError

DTYPE_BYTES = {
    "F64": 8,
    "F32": 4,
    "F16": 2,
    "BF16": 2,
    "I64": 8,
    "I32": 4,
    "I16": 2,
    "I8": 1,
    "U8": 1,
    "BOOL": 1,
    "F8_E4M3": 1,
    "F8_E5M2": 1,
    "U16": 2,
    "U32": 4,
    "U64": 8,
}
_MAX_HEADER = 100 * 1024 * 1024
INDEX_FILE = "model.safetensors.index.json"  # which shard holds each tensor of a sharded checkpoint


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dtype: str
    shape: tuple[int, ...]
    start: int  # absolute file offset
    end: int

    @property
    def numel(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1


def _bad(path: Path, why: str) -> EdgekitError:
    return EdgekitError(
        f"{path} is not a valid safetensors file ({why})",
        "re-download or re-export the checkpoint",
    )


def read_header(path: Path) -> tuple[dict[str, TensorInfo], dict[str, str]]:
    """Tensor table and `__metadata__` of one file, every offset and size checked."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(8)
        if len(head) < 8:
            raise _bad(path, "file too short")
        (header_len,) = struct.unpack("<Q", head)
        if header_len > min(_MAX_HEADER, size - 8):
            raise _bad(path, f"header length {header_len} exceeds the file")
        raw = handle.read(header_len)
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _bad(path, f"header is not JSON: {exc}") from None
    if not isinstance(header, dict):
        raise _bad(path, "header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    data_start = 8 + header_len
    data_len = size - data_start
    tensors: dict[str, TensorInfo] = {}
    spans = []
    for name, entry in header.items():
        try:
            dtype, shape, (begin, end) = entry["dtype"], tuple(entry["shape"]), entry["data_offsets"]
        except (TypeError, KeyError, ValueError):
            raise _bad(path, f"tensor {name!r} has a malformed entry") from None
        if dtype not in DTYPE_BYTES:
            raise _bad(path, f"tensor {name!r} has unknown dtype {dtype!r}")
        if not all(isinstance(d, int) and d >= 0 for d in shape):
            raise _bad(path, f"tensor {name!r} has an invalid shape {list(shape)}")
        if not (isinstance(begin, int) and isinstance(end, int) and 0 <= begin <= end <= data_len):
            raise _bad(path, f"tensor {name!r} points outside the file (truncated?)")
        info = TensorInfo(name, dtype, shape, data_start + begin, data_start + end)
        if info.numel * DTYPE_BYTES[dtype] != end - begin:
            raise _bad(path, f"tensor {name!r} shape {list(shape)} does not match its byte size")
        tensors[name] = info
        spans.append((begin, end, name))
    spans.sort()
    for (_, prev_end, prev), (begin, _, name) in zip(spans, spans[1:]):
        if begin < prev_end:
            raise _bad(path, f"tensors {prev!r} and {name!r} overlap")
    return tensors, metadata


def read_float32(path: Path, info: TensorInfo) -> np.ndarray:
    """One tensor (F32, F16 or BF16) as float32, read through a memory map."""
    raw = np.memmap(path, dtype=np.uint8, mode="r", offset=info.start, shape=(info.end - info.start,))
    if info.dtype == "F32":
        return np.array(raw.view(np.float32)).reshape(info.shape)
    if info.dtype == "F16":
        return raw.view(np.float16).astype(np.float32).reshape(info.shape)
    if info.dtype == "BF16":
        return (raw.view(np.uint16).astype(np.uint32) << 16).view(np.float32).reshape(info.shape)
    raise _bad(path, f"tensor {info.name!r} is {info.dtype}, not a float type")


def _header_bytes(header: dict[str, object]) -> bytes:
    """The length prefix and the JSON header, padded to 8 bytes as the format asks."""
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)
    return struct.pack("<Q", len(blob)) + blob


def write(
    path: Path,
    tensors: Iterable[tuple[str, tuple[int, ...], Callable[[], np.ndarray]]],
    metadata: dict[str, str] | None = None,
) -> None:
    """Write float32 tensors given as (name, shape, producer): each producer runs just before
    its bytes are written, so only one tensor is in memory at a time."""
    items = list(tensors)
    header: dict[str, object] = {"__metadata__": metadata or {"format": "pt"}}
    offset = 0
    for name, shape, _ in items:
        nbytes = int(np.prod(shape, dtype=np.int64)) * 4
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    with open(path, "wb") as handle:
        handle.write(_header_bytes(header))
        for name, shape, produce in items:
            array = np.ascontiguousarray(produce(), dtype=np.float32)
            if array.shape != tuple(shape):
                raise ValueError(f"{name}: produced {array.shape}, declared {tuple(shape)}")
            handle.write(array.tobytes())


def copy_renamed(source: Path, out: Path, names: dict[str, str], chunk: int = 64 * 2**20) -> None:
    """Write the tensors of `source` that `names` maps (old name -> new name) to `out`, bytes
    copied as they are (any dtype), a chunk at a time."""
    table, metadata = read_header(source)
    header: dict[str, object] = {"__metadata__": metadata or {"format": "pt"}}
    offset = 0
    kept = [table[old] for old in names]
    for info in kept:
        nbytes = info.end - info.start
        header[names[info.name]] = {
            "dtype": info.dtype,
            "shape": list(info.shape),
            "data_offsets": [offset, offset + nbytes],
        }
        offset += nbytes
    with open(source, "rb") as reader, open(out, "wb") as writer:
        writer.write(_header_bytes(header))
        for info in kept:
            reader.seek(info.start)
            left = info.end - info.start
            while left:
                piece = reader.read(min(chunk, left))
                if not piece:
                    raise _bad(source, f"tensor {info.name!r} ends past the file")
                writer.write(piece)
                left -= len(piece)
