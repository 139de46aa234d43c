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

Blocks never span rows, so both quantize a few rows at a time (`VALUES_PER_CHUNK`): the same
codes, with temporaries small enough to stay in the CPU's caches instead of the weight's size
(the asymmetric search keeps ~6 float32 copies alive). The search lays a chunk out block by
column (`_block_columns`), so per-block scales broadcast along contiguous memory and the
per-block sums add whole rows instead of reducing 16 or 32 values at a time: what makes the
billions of per-layer-embedding weights of Gemma 3n/4 E2B round in minutes, not half an hour.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from edgekit.formats.gguf_blocks import Blocks

_SHRINKS = (0.0, 0.04, 0.08, 0.12)  # fraction of the block's range trimmed at each end
VALUES_PER_CHUNK = 1 << 16


def _in_row_chunks(quantize: Callable[..., Blocks]) -> Callable[..., Blocks]:
    @functools.wraps(quantize)
    def chunked(weight: np.ndarray, bits: int, block: int, **options) -> Blocks:
        rows = max(1, VALUES_PER_CHUNK // weight.shape[1])
        if len(weight) <= rows:
            return quantize(weight, bits, block, **options)
        parts = [
            quantize(weight[start : start + rows], bits, block, **options) for start in range(0, len(weight), rows)
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


def _block_columns(weight: np.ndarray, block: int) -> np.ndarray:
    """(block, blocks): column j holds the j-th block of `weight` in row-major order."""
    return np.ascontiguousarray(_grouped(weight, block).reshape(-1, block).T)


def _refit(w: np.ndarray, codes: np.ndarray, importance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The (scale, offset) per block column that minimize the weighted squared error for fixed codes."""
    sw, swq, swqq = importance.sum(0), (importance * codes).sum(0), (importance * codes * codes).sum(0)
    swx, swqx = (importance * w).sum(0), (importance * codes * w).sum(0)
    det = sw * swqq - swq * swq
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(det > 0, (sw * swqx - swq * swx) / det, 0.0)
        offset = np.where(det > 0, (swqq * swx - swq * swqx) / det, swx / np.maximum(sw, 1e-30))
    return _half(np.maximum(scale, 0.0)), _half(offset)


class _Search:
    """The best (codes, scale, offset) per block column seen so far, with scratch buffers the
    size of the chunk reused by every candidate."""

    def __init__(self, w: np.ndarray, weights: np.ndarray, levels: int) -> None:
        self.w, self.weights, self.levels = w, weights, levels
        self.shifted, self.codes, self.scratch = np.empty_like(w), np.empty_like(w), np.empty_like(w)
        self.q: np.ndarray | None = None
        self.scale = self.offset = self.error = np.empty(0, dtype=np.float32)

    def shift(self, offset: np.ndarray) -> None:
        np.subtract(self.w, offset, out=self.shifted)

    def consider(self, scale: np.ndarray, offset: np.ndarray) -> None:
        """Codes of the shifted values (`shift(offset)` first) on this grid; kept where they err least."""
        positive = scale > 0
        codes, scratch = self.codes, self.scratch
        np.divide(self.shifted, np.where(positive, scale, np.float32(1.0)), out=codes)
        np.rint(codes, out=codes)
        np.clip(codes, 0, self.levels, out=codes)
        np.multiply(codes, positive, out=codes)  # a constant block: codes 0, its offset is its value
        np.multiply(codes, scale, out=scratch)
        np.add(scratch, offset, out=scratch)
        np.subtract(scratch, self.w, out=scratch)
        np.multiply(scratch, scratch, out=scratch)
        np.multiply(scratch, self.weights, out=scratch)
        error = scratch.sum(axis=0)
        if self.q is None:
            self.q, self.scale, self.offset, self.error = codes.copy(), scale, offset, error
            return
        better = error < self.error
        np.copyto(self.q, codes, where=better)
        self.scale = np.where(better, scale, self.scale)
        self.offset = np.where(better, offset, self.offset)
        self.error = np.minimum(error, self.error)


@_in_row_chunks
def quantize_asymmetric(weight: np.ndarray, bits: int, block: int, importance: np.ndarray | None = None) -> Blocks:
    """`importance` (one value per column, e.g. the mean square of the activation it
    multiplies: `activation_energy`) weights the error that the search minimizes."""
    rows, cols = weight.shape
    w = _block_columns(weight, block)
    if importance is None:
        weights = np.ones((block, 1), dtype=np.float32)
    else:  # a floor keeps every column counted: a channel silent in calibration may not be later
        imp = importance.astype(np.float32) + 1e-3 * float(importance.mean())
        weights = np.tile(_block_columns(imp[None, :], block), (1, rows))
    levels = 2**bits - 1
    low, high = w.min(axis=0), w.max(axis=0)
    span = high - low
    search = _Search(w, weights, levels)
    for lo_trim in _SHRINKS:
        offset = _half(low + lo_trim * span)
        search.shift(offset)
        for hi_trim in _SHRINKS:
            search.consider(_half(np.maximum((high - hi_trim * span) - offset, 0.0) / levels), offset)
    scale, offset = _refit(w, search.q, weights)  # one least-squares step from the best grid point
    search.shift(offset)
    search.consider(scale, offset)
    return Blocks(
        origin=f"int{bits}-asym",
        bits=bits,
        block=block,
        q=np.ascontiguousarray(search.q.T).astype(np.uint8).reshape(weight.shape),
        scale=search.scale.astype(np.float32).reshape(rows, cols // block),
        zero=0,
        bias=search.offset.astype(np.float32).reshape(rows, cols // block),
    )
