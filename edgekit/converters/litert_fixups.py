"""Repairs to quantized LiteRT models that the quantizer leaves and the runtime refuses.

An all-zero weight block (a zeroed padding-token embedding row is common) gets scale 0, and
XNNPACK refuses an int4 tensor with a zero scale ("unsupported scale value (0.000000)"), so
the bundle cannot even load. Every value in such a block quantizes to 0, so any positive scale
dequantizes it exactly: zero scales are replaced by the smallest normal float, in place.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def fix_zero_block_scales(path: Path) -> int:
    """Patch `path` in place; returns how many scales were replaced."""
    from ai_edge_litert import schema_py_generated as schema

    data = bytearray(path.read_bytes())
    model = schema.Model.GetRootAs(data, 0)
    fixed = 0
    for s in range(model.SubgraphsLength()):
        subgraph = model.Subgraphs(s)
        for t in range(subgraph.TensorsLength()):
            quant = subgraph.Tensors(t).Quantization()
            if quant is None or quant.DetailsType() != schema.QuantizationDetails.BlockwiseQuantization:
                continue
            details = schema.BlockwiseQuantization()
            details.Init(quant.Details().Bytes, quant.Details().Pos)
            scales = subgraph.Tensors(details.Scales())
            buffer = model.Buffers(scales.Buffer())
            if buffer.Offset() > 1:  # large models keep buffers after the flatbuffer
                raw = np.frombuffer(data, dtype=np.uint8, count=buffer.Size(), offset=buffer.Offset())
            else:
                raw = buffer.DataAsNumpy()
            if not isinstance(raw, np.ndarray) or raw.size == 0:
                continue
            dtype = np.float16 if scales.Type() == schema.TensorType.FLOAT16 else np.float32
            values = raw.view(dtype)
            zero = values == 0
            if zero.any():
                values[zero] = np.finfo(dtype).smallest_normal
                fixed += int(zero.sum())
    if fixed:
        path.write_bytes(data)
    return fixed
