"""Constant tensors of a LiteRT model as numpy views into its bytes, for repairs and weight
rewrites done in place: the model's structure is never rebuilt, only buffer contents change."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BlockwiseWeight:
    """A blockwise-quantized weight: packed int4 codes (first value in the low nibble) and one
    scale per block; several tensors (one per signature) may share these buffers."""

    name: str
    shape: tuple[int, int]
    block: int
    codes: np.ndarray  # uint8 view, two codes per byte
    scales: np.ndarray  # float16 or float32 view, (rows * cols // block,)

    def values(self) -> np.ndarray:
        """The weight as it computes: each signed code times its block's scale, (rows, cols)."""
        nibbles = np.stack([self.codes & 0x0F, self.codes >> 4], axis=1).astype(np.int8)
        codes = np.where(nibbles > 7, nibbles - 16, nibbles).reshape(self.shape[0], -1, self.block)
        return (codes * self.scales.astype(np.float32).reshape(*codes.shape[:2], 1)).reshape(self.shape)


def buffer_view(model, data: bytearray | bytes, index: int) -> np.ndarray | None:
    """The bytes of buffer `index` (writable when `data` is a bytearray); None when empty.
    Large models keep buffers after the flatbuffer, addressed by offset."""
    buffer = model.Buffers(index)
    if buffer.Offset() > 1:
        return np.frombuffer(data, dtype=np.uint8, count=buffer.Size(), offset=buffer.Offset())
    raw = buffer.DataAsNumpy()
    return raw if isinstance(raw, np.ndarray) and raw.size else None


def read_model(data: bytearray | bytes):
    from ai_edge_litert import schema_py_generated as schema

    return schema.Model.GetRootAs(data, 0)


def _tensors(model) -> Iterator[tuple[object, object]]:
    for s in range(model.SubgraphsLength()):
        subgraph = model.Subgraphs(s)
        for t in range(subgraph.TensorsLength()):
            yield subgraph, subgraph.Tensors(t)


def blockwise_weights(model, data: bytearray | bytes) -> Iterator[BlockwiseWeight]:
    """Each blockwise int4 weight once (by buffer), in model order."""
    from ai_edge_litert import schema_py_generated as schema

    seen: set[int] = set()
    for subgraph, tensor in _tensors(model):
        quant = tensor.Quantization()
        if quant is None or quant.DetailsType() != schema.QuantizationDetails.BlockwiseQuantization:
            continue
        if tensor.Buffer() in seen or tensor.Type() != schema.TensorType.INT4 or tensor.ShapeLength() != 2:
            continue
        seen.add(tensor.Buffer())
        details = schema.BlockwiseQuantization()
        details.Init(quant.Details().Bytes, quant.Details().Pos)
        scales_tensor = subgraph.Tensors(details.Scales())
        codes = buffer_view(model, data, tensor.Buffer())
        scales = buffer_view(model, data, scales_tensor.Buffer())
        if codes is None or scales is None:
            continue
        dtype = np.float16 if scales_tensor.Type() == schema.TensorType.FLOAT16 else np.float32
        rows, cols = (int(d) for d in tensor.ShapeAsNumpy())
        yield BlockwiseWeight(tensor.Name().decode(), (rows, cols), details.BlockSize(), codes, scales.view(dtype))


def channel_scales(model) -> Iterator[np.ndarray]:
    """The scale vector of each per-channel quantized int8 tensor, as a view into the model's
    bytes (writable when they are a bytearray); tensors sharing a buffer each have their own."""
    from ai_edge_litert import schema_py_generated as schema

    for _, tensor in _tensors(model):
        quant = tensor.Quantization()
        if tensor.Type() == schema.TensorType.INT8 and quant is not None and quant.ScaleLength() > 1:
            yield quant.ScaleAsNumpy()


def float_matrices(model, data: bytearray | bytes) -> dict[str, np.ndarray]:
    """{tensor name: values} of the constant float32 matrices (the float model's weights)."""
    from ai_edge_litert import schema_py_generated as schema

    found: dict[str, np.ndarray] = {}
    for _, tensor in _tensors(model):
        if tensor.Type() != schema.TensorType.FLOAT32 or tensor.ShapeLength() != 2:
            continue
        name = tensor.Name().decode()
        raw = None if name in found else buffer_view(model, data, tensor.Buffer())
        if raw is not None:
            found[name] = raw.view(np.float32).reshape(tuple(int(d) for d in tensor.ShapeAsNumpy()))
    return found
