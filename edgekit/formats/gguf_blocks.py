"""GGUF quantization blocks decoded into one affine form: `w = scale * (q - zero) + bias`.

Converters that can store block-quantized weights (onnxruntime's MatMulNBits) use this to
carry a GGUF's own blocks over instead of dequantizing and quantizing a second time. Every
type here is decoded exactly: `scale * (q - zero) + bias` equals llama.cpp's dequantization
(tests compare with the `gguf` package's reference kernels).

- `q`: unsigned codes, shape (rows, cols), each below `2 ** bits`;
- `scale`: float32 per block (rows, cols // block);
- `zero`: one integer for the whole tensor (the types' built-in offset, e.g. 16 for Q5_0);
- `bias`: float32 per block for the asymmetric types (Q4_K, Q5_K, Q4_1, Q5_1), else None.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgekit.formats.gguf import GGUFFile, GGUFTensor


@dataclass(frozen=True)
class Blocks:
    origin: str  # the GGUF type carried over ("Q5_0"), or the recipe that quantized it ("int4")
    bits: int  # bits the codes need: 4 (Q4_*) or 5, 6, 8
    block: int
    q: np.ndarray
    scale: np.ndarray
    zero: int
    bias: np.ndarray | None

    def dequantize(self) -> np.ndarray:
        rows, cols = self.q.shape
        codes = self.q.reshape(rows, cols // self.block, self.block).astype(np.float32) - self.zero
        out = codes * self.scale[..., None]
        if self.bias is not None:
            out = out + self.bias[..., None]
        return out.reshape(rows, cols)


_BLOCK_BYTES = {"Q8_0": 34, "Q4_0": 18, "Q4_1": 20, "Q5_0": 22, "Q5_1": 24, "Q4_K": 144, "Q5_K": 176, "Q6_K": 210}
CARRIED_TYPES = frozenset(_BLOCK_BYTES)


def _f16(raw: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(raw).view(np.float16).astype(np.float32)[..., 0]


def _nibbles(qs: np.ndarray) -> np.ndarray:
    """16 bytes -> 32 codes: low nibbles first, then high nibbles (ggml's Q4_0/Q4_1/Q5_* order)."""
    return np.concatenate([qs & 0x0F, qs >> 4], axis=-1)


def _high_bits(qh: np.ndarray) -> np.ndarray:
    """4 bytes, little-endian 32-bit mask -> bit j for code j."""
    mask = np.ascontiguousarray(qh).view("<u4")
    return ((mask >> np.arange(32, dtype=np.uint32)) & 1).astype(np.uint8)


def _k_scales(scales: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """12 bytes of 6-bit (scale, min) pairs for 8 sub-blocks (ggml's get_scale_min_k4)."""
    s = scales.astype(np.uint8)
    low = s[:, 0:4] & 63, s[:, 4:8] & 63
    high_sc = (s[:, 8:12] & 0x0F) | ((s[:, 0:4] >> 6) << 4)
    high_m = (s[:, 8:12] >> 4) | ((s[:, 4:8] >> 6) << 4)
    return np.concatenate([low[0], high_sc], axis=1), np.concatenate([low[1], high_m], axis=1)


def _decode(gguf_type: str, raw: np.ndarray) -> tuple[int, int, np.ndarray, np.ndarray, int, np.ndarray | None]:
    """raw: (n_blocks, block_bytes) -> bits, block, q (n, values), scale (n, sub), zero, bias."""
    n = raw.shape[0]
    if gguf_type == "Q8_0":
        q = raw[:, 2:].view(np.int8).astype(np.int16) + 128
        return 8, 32, q.astype(np.uint8), _f16(raw[:, 0:2])[:, None], 128, None
    if gguf_type in ("Q4_0", "Q4_1"):
        header = 2 if gguf_type == "Q4_0" else 4
        q = _nibbles(raw[:, header:])
        if gguf_type == "Q4_0":
            return 4, 32, q, _f16(raw[:, 0:2])[:, None], 8, None
        return 4, 32, q, _f16(raw[:, 0:2])[:, None], 0, _f16(raw[:, 2:4])[:, None]
    if gguf_type in ("Q5_0", "Q5_1"):
        header = 2 if gguf_type == "Q5_0" else 4
        q = _nibbles(raw[:, header + 4 :]) | (_high_bits(raw[:, header : header + 4]) << 4)
        if gguf_type == "Q5_0":
            return 5, 32, q, _f16(raw[:, 0:2])[:, None], 16, None
        return 5, 32, q, _f16(raw[:, 0:2])[:, None], 0, _f16(raw[:, 2:4])[:, None]
    if gguf_type in ("Q4_K", "Q5_K"):
        d, dmin = _f16(raw[:, 0:2]), _f16(raw[:, 2:4])
        sc, mins = _k_scales(raw[:, 4:16])
        if gguf_type == "Q4_K":
            qs = raw[:, 16:144].reshape(n, 4, 32)
            q = np.stack([qs & 0x0F, qs >> 4], axis=2).reshape(n, 256)  # chunk i: sub-blocks 2i, 2i+1
        else:
            qh = raw[:, 16:48]
            qs = raw[:, 48:176].reshape(n, 4, 32)
            shifts = np.arange(8, dtype=np.uint8).reshape(1, 4, 2, 1)
            high = (qh[:, None, None, :] >> shifts) & 1
            q = (np.stack([qs & 0x0F, qs >> 4], axis=2) | (high << 4)).reshape(n, 256)
        bits = 4 if gguf_type == "Q4_K" else 5
        return bits, 32, q, d[:, None] * sc, 0, -(dmin[:, None] * mins)
    if gguf_type == "Q6_K":
        ql, qh = raw[:, 0:128].reshape(n, 2, 64), raw[:, 128:192].reshape(n, 2, 32)
        sc = raw[:, 192:208].view(np.int8).astype(np.float32)
        d = _f16(raw[:, 208:210])
        low = np.stack([ql[:, :, :32] & 0x0F, ql[:, :, 32:] & 0x0F, ql[:, :, :32] >> 4, ql[:, :, 32:] >> 4], axis=2)
        high = np.stack([(qh >> s) & 3 for s in (0, 2, 4, 6)], axis=2)
        q = (low | (high << 4)).reshape(n, 256)
        return 6, 16, q, d[:, None] * sc, 32, None
    raise ValueError(gguf_type)


def decode_blocks(gguf: GGUFFile, tensor: GGUFTensor, rows: list[int] | None = None) -> Blocks:
    """A 2-D tensor's blocks in numpy order (rows, cols), cols along the blocks; only `rows` if given."""
    name = tensor.type_name
    if name not in CARRIED_TYPES or len(tensor.shape) != 2:
        raise ValueError(f"{tensor.name}: {name} blocks are not carried over")
    n_rows, cols = tensor.shape
    raw = np.frombuffer(gguf._buffer, dtype=np.uint8, count=tensor.nbytes, offset=tensor.start)
    raw = raw.reshape(n_rows, -1)
    if rows is not None:
        raw = raw[rows]
    kept = raw.shape[0]
    bits, block, q, scale, zero, bias = _decode(name, raw.reshape(-1, _BLOCK_BYTES[name]))
    subs = cols // block
    return Blocks(
        origin=name,
        bits=bits,
        block=block,
        q=q.reshape(kept, cols).astype(np.uint8),
        scale=scale.reshape(kept, subs).astype(np.float32),
        zero=zero,
        bias=None if bias is None else bias.reshape(kept, subs).astype(np.float32),
    )
