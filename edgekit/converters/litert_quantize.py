"""Apply one of edgekit's recipes to the float LiteRT model with ai-edge-quantizer, then carry
a Q4_0 GGUF's own blocks into its int4 weights (`litert_carry`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgekit.converters.litert_carry import carry_q4_0_blocks
from edgekit.converters.litert_fixups import repair_zero_scales
from edgekit.converters.recipes import recipe


@dataclass(frozen=True)
class QuantizedTflite:
    path: Path
    weights: dict[str, Any] | None = None  # which int4 weights carried GGUF blocks (litert_carry)


def quantize_tflite(
    float_tflite: Path,
    quant: str,
    block_size: int,
    out: Path,
    int8_scope: str | None = None,
    gguf: Path | None = None,
    rotate: bool = True,
) -> QuantizedTflite:
    """Write the quantized model to `out`; fp32 returns the float model unchanged. `gguf`: the
    Q4_0 checkpoint the float model was exported from, whose blocks int4 weights carry;
    `rotate`: see `recipe`."""
    plan = recipe(quant, block_size, int8_scope, rotate)
    if plan is None:
        return QuantizedTflite(float_tflite)
    from ai_edge_quantizer import quantizer

    qt = quantizer.Quantizer(str(float_tflite))
    qt.load_quantization_recipe(plan)
    qt.quantize().export_model(str(out), overwrite=True)
    data = bytearray(out.read_bytes())
    weights = None
    if gguf is not None:
        weights = carry_q4_0_blocks(float_tflite, data, gguf)
    repair_zero_scales(data)  # after the carry: an all-zero Q4_0 block has scale 0 too
    out.write_bytes(data)
    return QuantizedTflite(out, weights)
