"""Round-to-nearest block quantization of float weights into `Blocks` (llama.cpp's Q4_0/Q8_0 rule).

Used where a weight has no GGUF blocks to carry over, and by the sensitivity scan, which needs
the exact values a recipe would store. Symmetric: the value of largest magnitude in a block
maps to the most negative code, so int4 uses all 16 levels (-8..7), as Q4_0 does.
"""

from __future__ import annotations

import numpy as np

from edgekit.formats.gguf_blocks import Blocks


def quantize_blocks(weight: np.ndarray, bits: int, block: int) -> Blocks:
    """weight: (rows, cols) float, cols a multiple of `block`."""
    rows, cols = weight.shape
    if cols % block:
        raise ValueError(f"{cols} columns are not a multiple of block {block}")
    w = weight.astype(np.float32).reshape(rows, cols // block, block)
    zero = 2 ** (bits - 1)
    extreme = np.take_along_axis(w, np.abs(w).argmax(axis=-1)[..., None], axis=-1)[..., 0]
    scale = extreme / -zero
    with np.errstate(divide="ignore", invalid="ignore"):
        codes = np.where(scale[..., None] != 0, np.round(w / scale[..., None]), 0.0)
    q = np.clip(codes + zero, 0, 2 ** bits - 1).astype(np.uint8)
    return Blocks(origin=f"int{bits}", bits=bits, block=block, q=q.reshape(rows, cols),
                  scale=scale.astype(np.float32), zero=zero, bias=None)
