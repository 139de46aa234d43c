"""A strict, fast GGUF reader.

llama.cpp's `gguf.GGUFReader` parses each of Gemma's 262,144 vocabulary strings as its own
field part (seconds on the default model: benchmarks/intake.md); this reader slices them in one pass and checks every
length and offset against the file size, since GGUFs come from anywhere. Tensor bytes are
memory-mapped and dequantized with the `gguf` package's reference kernels.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.core.errors import EdgekitError

GGUF_MAGIC = b"GGUF"
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9
_MAX_DIMS = 4


class _Truncated(Exception):
    pass


@dataclass(frozen=True)
class GGUFTensor:
    name: str
    shape: tuple[int, ...]  # numpy order (outermost first), i.e. reversed ggml `ne`
    type_id: int
    start: int
    nbytes: int

    @property
    def type_name(self) -> str:
        from gguf import GGMLQuantizationType

        try:
            return GGMLQuantizationType(self.type_id).name
        except ValueError:
            return f"type{self.type_id}"


class _Cursor:
    def __init__(self, buf: mmap.mmap) -> None:
        self.buf = buf
        self.pos = 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.buf):
            raise _Truncated()
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out

    def scalar(self, fmt: str) -> Any:
        size = struct.calcsize(fmt)
        return struct.unpack(fmt, self.take(size))[0]

    def string(self) -> str:
        return self.take(self.scalar("<Q")).decode("utf-8", errors="replace")

    def value(self, type_id: int) -> Any:
        if type_id in _SCALARS:
            return self.scalar(_SCALARS[type_id])
        if type_id == _STRING:
            return self.string()
        if type_id == _ARRAY:
            item_type, count = self.scalar("<I"), self.scalar("<Q")
            if count > len(self.buf):
                raise _Truncated()
            if item_type in _SCALARS:
                fmt = _SCALARS[item_type]
                size = struct.calcsize(fmt)
                raw = self.take(size * count)
                return np.frombuffer(raw, dtype=np.dtype(fmt)).tolist()
            return [self.value(item_type) for _ in range(count)]
        raise ValueError(f"unknown value type {type_id}")


@dataclass
class GGUFFile:
    path: Path
    version: int
    metadata: dict[str, Any]
    tensors: list[GGUFTensor]
    _buffer: mmap.mmap

    @property
    def arch(self) -> str:
        return str(self.metadata.get("general.architecture", ""))

    def arch_value(self, key: str, default: Any = None) -> Any:
        return self.metadata.get(f"{self.arch}.{key}", default)

    def array(self, key: str) -> list[Any]:
        value = self.metadata.get(key)
        if not isinstance(value, list):
            raise EdgekitError(f"{self.path} has no {key}", "use a GGUF written by llama.cpp's converter")
        return value

    def tensor_types(self) -> dict[str, str]:
        return {t.name: t.type_name for t in self.tensors}

    def dequantize(self, tensor: GGUFTensor) -> np.ndarray:
        """float32 array in numpy order."""
        from gguf import GGMLQuantizationType
        from gguf.quants import dequantize, quant_shape_to_byte_shape

        qtype = GGMLQuantizationType(tensor.type_id)
        raw = np.frombuffer(self._buffer, dtype=np.uint8, count=tensor.nbytes, offset=tensor.start)
        if qtype in (GGMLQuantizationType.F32, GGMLQuantizationType.F16):
            dtype = np.float32 if qtype == GGMLQuantizationType.F32 else np.float16
            return raw.view(dtype).reshape(tensor.shape).astype(np.float32)
        raw = raw.reshape(quant_shape_to_byte_shape(tensor.shape, qtype))
        return np.asarray(dequantize(raw, qtype), dtype=np.float32).reshape(tensor.shape)


def _damaged(path: Path, why: str) -> EdgekitError:
    return EdgekitError(
        f"{path} is a damaged or truncated GGUF ({why})",
        "re-download the file or re-export it with llama.cpp",
    )


def open_gguf(path: Path) -> GGUFFile:
    """Parse header, metadata and tensor table; any inconsistency becomes an EdgekitError."""
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

    with open(path, "rb") as handle:
        if handle.read(4) != GGUF_MAGIC:
            raise EdgekitError(f"{path} is not a GGUF file (bad magic)", "pass a .gguf written by llama.cpp")
        try:
            buffer = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError:
            raise _damaged(path, "empty file") from None
    cursor = _Cursor(buffer)
    try:
        cursor.take(4)
        version = cursor.scalar("<I")
        if version not in (2, 3):
            raise _damaged(path, f"unsupported version {version}")
        tensor_count, kv_count = cursor.scalar("<Q"), cursor.scalar("<Q")
        if tensor_count > len(buffer) // 24 or kv_count > len(buffer) // 12:
            raise _Truncated()
        metadata: dict[str, Any] = {}
        for _ in range(kv_count):
            key = cursor.string()
            metadata[key] = cursor.value(cursor.scalar("<I"))
        infos = []
        for _ in range(tensor_count):
            name = cursor.string()
            n_dims = cursor.scalar("<I")
            if n_dims > _MAX_DIMS:
                raise _damaged(path, f"tensor {name!r} has {n_dims} dimensions")
            dims = [cursor.scalar("<Q") for _ in range(n_dims)]
            infos.append((name, dims, cursor.scalar("<I"), cursor.scalar("<Q")))
        alignment = int(metadata.get("general.alignment", 32)) or 32
        data_start = -(-cursor.pos // alignment) * alignment
    except _Truncated:
        raise _damaged(path, "header runs past the end of the file") from None
    except (ValueError, UnicodeDecodeError, struct.error) as exc:
        raise _damaged(path, str(exc)[:120]) from None

    tensors = []
    for name, dims, type_id, offset in infos:
        try:
            block, type_size = GGML_QUANT_SIZES[GGMLQuantizationType(type_id)]
        except (ValueError, KeyError):
            raise _damaged(path, f"tensor {name!r} has unknown type {type_id}") from None
        numel = int(np.prod(dims, dtype=np.int64)) if dims else 1
        if numel % block or (dims and dims[0] % block):
            raise _damaged(path, f"tensor {name!r} shape {dims} does not fit its block size")
        nbytes = numel // block * type_size
        start = data_start + offset
        if start + nbytes > len(buffer):
            raise _damaged(path, f"tensor {name!r} runs past the end of the file")
        tensors.append(GGUFTensor(name, tuple(int(d) for d in reversed(dims)), type_id, start, nbytes))
    return GGUFFile(path, version, metadata, tensors, buffer)
