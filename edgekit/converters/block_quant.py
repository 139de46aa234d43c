"""Block quantization of float weights into `Blocks`, for weights with no GGUF blocks to carry.

- `symmetric`: llama.cpp's Q4_0/Q8_0 rule: the value of largest magnitude in a block maps to
  the most negative code, so int4 uses all 16 levels (-8..7).
- `asymmetric` (int4): Q4_1's form, `w = s*q + m`, with the block's (min, max) range shrunk by
  the candidate that leaves the least squared error (a small search, as llama.cpp's k-quants do),
  then one least-squares refit of (s, m) for the chosen codes. Given `importance` (per column:
  the energy of the activation it multiplies, `activation_energy`), the error is weighted by
  it, as llama.cpp's importance matrix does (measured: benchmarks/results.md, ONNX int4).

Scales and offsets are rounded to float16 before the codes are chosen, so the graph stores
them at half size exactly (see `onnx_blocks`). The sensitivity scan uses these same functions,
so it measures the values a recipe would store.

Blocks never span rows, so both quantize a few thousand rows at a time: the same codes, with
float temporaries the size of a chunk instead of the weight (the asymmetric search keeps ~6
float32 copies alive: 4 GB for Gemma 3 270M's 262k x 640 embedding).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from edgekit.formats.gguf_blocks import Blocks

_SHRINKS = (0.0, 0.04, 0.08, 0.12)  # fraction of the block's range trimmed at each end
ROWS_PER_CHUNK = 8192


def _in_row_chunks(quantize: Callable[..., Blocks]) -> Callable[..., Blocks]:
    @functools.wraps(quantize)
    def chunked(weight: np.ndarray, bits: int, block: int, **options) -> Blocks:
        if len(weight) <= ROWS_PER_CHUNK:
            return quantize(weight, bits, block, **options)
        parts = [
            quantize(weight[start : start + ROWS_PER_CHUNK], bits, block, **options)
            for start in range(0, len(weight), ROWS_PER_CHUNK)
        ]
        bias = None if parts[0].bias is None else np.concatenate([p.bias for p in parts])
        return Blocks(
            origin=parts[0].origin,
            bits=bits,
            block=block,
            q=np.concatenate([p.q for p in parts]),
            scale=np.concatenate([p.scale for p in parts]),
            zero=parts[0].zero,
            bias=bias,
        )

    return chunked


def _half(values: np.ndarray) -> np.ndarray:
    return values.astype(np.float16).astype(np.float32)


def _grouped(weight: np.ndarray, block: int) -> np.ndarray:
    rows, cols = weight.shape
    if cols % block:
        raise ValueError(f"{cols} columns are not a multiple of block {block}")
    return weight.astype(np.float32).reshape(rows, cols // block, block)


@_in_row_chunks
def quantize_symmetric(weight: np.ndarray, bits: int, block: int) -> Blocks:
    """weight: (rows, cols) float, cols a multiple of `block`."""
    w = _grouped(weight, block)
    zero = 2 ** (bits - 1)
    extreme = np.take_along_axis(w, np.abs(w).argmax(axis=-1)[..., None], axis=-1)[..., 0]
    scale = _half(extreme / -zero)
    with np.errstate(divide="ignore", invalid="ignore"):
        codes = np.where(scale[..., None] != 0, np.round(w / scale[..., None]), 0.0)
    q = np.clip(codes + zero, 0, 2**bits - 1).astype(np.uint8)
    return Blocks(
        origin=f"int{bits}", bits=bits, block=block, q=q.reshape(weight.shape), scale=scale, zero=zero, bias=None
    )


def _codes(w: np.ndarray, scale: np.ndarray, offset: np.ndarray, levels: int) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        codes = np.where(scale[..., None] > 0, np.round((w - offset[..., None]) / scale[..., None]), 0.0)
    return np.clip(codes, 0, levels)


def _refit(w: np.ndarray, codes: np.ndarray, importance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The (scale, offset) that minimize the weighted squared error for fixed codes."""
    sw, swq, swqq = importance.sum(-1), (importance * codes).sum(-1), (importance * codes * codes).sum(-1)
    swx, swqx = (importance * w).sum(-1), (importance * codes * w).sum(-1)
    det = sw * swqq - swq * swq
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(det > 0, (sw * swqx - swq * swx) / det, 0.0)
        offset = np.where(det > 0, (swqq * swx - swq * swqx) / det, swx / np.maximum(sw, 1e-30))
    return _half(np.maximum(scale, 0.0)), _half(offset)


@_in_row_chunks
def quantize_asymmetric(weight: np.ndarray, bits: int, block: int, importance: np.ndarray | None = None) -> Blocks:
    """`importance` (one value per column, e.g. the mean square of the activation it
    multiplies: `activation_energy`) weights the error that the search minimizes."""
    w = _grouped(weight, block)
    levels = 2**bits - 1
    if importance is None:
        weights = np.ones((1, 1, block), dtype=np.float32)
    else:  # a floor keeps every column counted: a channel silent in calibration may not be later
        imp = importance.astype(np.float32) + 1e-3 * float(importance.mean())
        weights = imp.reshape(1, -1, block)
    low, high = w.min(axis=-1), w.max(axis=-1)
    best_q = best_scale = best_offset = best_error = None
    candidates = [(lo, hi) for lo in _SHRINKS for hi in _SHRINKS] + ["refit"]
    for candidate in candidates:
        if candidate == "refit":  # one least-squares step from the best grid point
            scale, offset = _refit(w, best_q, weights)
        else:
            lo_trim, hi_trim = candidate
            span = high - low
            offset = _half(low + lo_trim * span)
            scale = _half(np.maximum((high - hi_trim * span) - offset, 0.0) / levels)
        codes = _codes(w, scale, offset, levels)
        error = (np.square(codes * scale[..., None] + offset[..., None] - w) * weights).sum(axis=-1)
        if best_error is None:
            best_q, best_scale, best_offset, best_error = codes, scale, offset, error
            continue
        better = error < best_error
        best_q = np.where(better[..., None], codes, best_q)
        best_scale = np.where(better, scale, best_scale)
        best_offset = np.where(better, offset, best_offset)
        best_error = np.minimum(error, best_error)
    return Blocks(
        origin=f"int{bits}-asym",
        bits=bits,
        block=block,
        q=best_q.astype(np.uint8).reshape(weight.shape),
        scale=best_scale.astype(np.float32),
        zero=0,
        bias=best_offset.astype(np.float32),
    )
