"""Which GGUF tensor each weight of an exported graph came from, found by value.

The export renames weights (`val_84`) and transposes them; matching by name would depend on the
export's internals. Rows of dequantized GGUF blocks are compared with the graph's float rows:
the HF folder a GGUF is read through holds exactly those dequantized values.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from edgekit.formats.gguf import open_gguf
from edgekit.formats.gguf_blocks import CARRIED_TYPES, Blocks, decode_blocks

_PROBE_ROWS = (0, 1, -1)  # first, second and last row


def carried_blocks(
    gguf_path: Path,
    weights: dict[str, tuple[int, int]],
    float_rows: Callable[[str, tuple[int, ...]], np.ndarray],
    shared: bool = False,
) -> dict[str, tuple[str, Blocks]]:
    """{weight key: (GGUF tensor name, blocks)} for each weight whose values a GGUF tensor holds.

    weights: {key: (rows, cols)}; float_rows(key, rows) gives those rows of the float weight.
    `shared`: one GGUF tensor may hold several weights (a tied embedding that a LiteRT model
    keeps twice, as lookup table and output projection).
    """
    gguf = open_gguf(gguf_path)
    by_shape: dict[tuple[int, int], list] = {}
    for tensor in gguf.tensors:
        if tensor.type_name in CARRIED_TYPES and len(tensor.shape) == 2:
            by_shape.setdefault(tuple(tensor.shape), []).append(tensor)
    found: dict[str, tuple[str, Blocks]] = {}
    taken: set[str] = set()
    for key, shape in weights.items():
        probe = float_rows(key, _PROBE_ROWS)
        for tensor in by_shape.get(shape, []):
            if tensor.name in taken and not shared:
                continue
            rows = [r % shape[0] for r in _PROBE_ROWS]
            if np.array_equal(decode_blocks(gguf, tensor, rows).dequantize(), probe):
                found[key] = (tensor.name, decode_blocks(gguf, tensor))
                taken.add(tensor.name)
                break
    return found
