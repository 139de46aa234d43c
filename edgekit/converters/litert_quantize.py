"""Apply one of edgekit's recipes to the float LiteRT model with ai-edge-quantizer."""

from __future__ import annotations

from pathlib import Path

from edgekit.converters.litert_fixups import fix_zero_block_scales
from edgekit.converters.recipes import recipe


def quantize_tflite(float_tflite: Path, quant: str, block_size: int, out: Path, int8_scope: str | None = None) -> Path:
    """Write the quantized model to `out`; fp32 returns the float model unchanged."""
    plan = recipe(quant, block_size, int8_scope)
    if plan is None:
        return float_tflite
    from ai_edge_quantizer import quantizer

    qt = quantizer.Quantizer(str(float_tflite))
    qt.load_quantization_recipe(plan)
    qt.quantize().export_model(str(out), overwrite=True)
    fix_zero_block_scales(out)
    return out
