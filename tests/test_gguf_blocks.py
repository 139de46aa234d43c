"""GGUF blocks decoded into `scale * (q - zero) + bias` must equal llama.cpp's dequantization."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgekit.formats.gguf import open_gguf
from edgekit.formats.gguf_blocks import _BLOCK_BYTES, CARRIED_TYPES, decode_blocks

_HALF_OFFSETS = {
    "Q8_0": (0,),
    "Q4_0": (0,),
    "Q4_1": (0, 2),
    "Q5_0": (0,),
    "Q5_1": (0, 2),
    "Q4_K": (0, 2),
    "Q5_K": (0, 2),
    "Q6_K": (208,),
}


def _random_tensor(gguf_type: str, rows: int, cols: int, seed: int) -> np.ndarray:
    """Random block bytes with finite float16 scales, as a quantized GGUF tensor would hold."""
    rng = np.random.default_rng(seed)
    values_per_block = 256 if gguf_type.endswith("_K") else 32
    blocks = rows * cols // values_per_block
    raw = rng.integers(0, 256, (blocks, _BLOCK_BYTES[gguf_type]), dtype=np.uint8)
    for offset in _HALF_OFFSETS[gguf_type]:
        halves = (rng.standard_normal(blocks) * 0.01).astype(np.float16)
        raw[:, offset : offset + 2] = halves.view(np.uint8).reshape(blocks, 2)
    return raw


@pytest.mark.parametrize("gguf_type", sorted(CARRIED_TYPES))
def test_decoded_blocks_equal_the_reference_dequantization(gguf_type, tmp_path: Path) -> None:
    import gguf

    rows, cols = 8, 512
    raw = _random_tensor(gguf_type, rows, cols, seed=len(gguf_type) + ord(gguf_type[1]))
    qtype = gguf.GGMLQuantizationType[gguf_type]
    path = tmp_path / "t.gguf"
    writer = gguf.GGUFWriter(str(path), "gemma3")
    writer.add_tensor("w", raw.reshape(rows, -1), raw_shape=(rows, raw.size // rows), raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()

    file = open_gguf(path)
    tensor = file.tensors[0]
    blocks = decode_blocks(file, tensor)
    assert blocks.q.max() < 2**blocks.bits
    reference = file.dequantize(tensor)
    np.testing.assert_allclose(blocks.dequantize(), reference, rtol=1e-6, atol=1e-9)


def test_default_model_blocks_decode_exactly() -> None:
    from edgekit.intake.default_model import default_gguf

    file = open_gguf(default_gguf())
    seen = set()
    for tensor in file.tensors:
        if tensor.type_name in seen or tensor.type_name not in CARRIED_TYPES:
            continue
        seen.add(tensor.type_name)
        blocks = decode_blocks(file, tensor)
        rows = min(tensor.shape[0], 64)
        np.testing.assert_allclose(blocks.dequantize()[:rows], file.dequantize(tensor)[:rows], rtol=1e-6, atol=1e-9)
    assert seen == {"Q8_0", "Q5_0", "Q4_K", "Q6_K"}
