"""Repairs to quantized LiteRT models that the quantizer leaves and the runtime refuses.

An all-zero weight block (a zeroed padding-token embedding row is common) gets scale 0, and
XNNPACK refuses an int4 tensor with a zero scale ("unsupported scale value (0.000000)"), so
the bundle cannot even load. Every value in such a block quantizes to 0, so any positive scale
dequantizes it exactly: zero scales are replaced by the smallest normal float, in place.
"""

from __future__ import annotations

import numpy as np

from edgekit.converters.tflite_buffers import blockwise_weights, read_model


def repair_zero_scales(data: bytearray) -> int:
    """Patch the model bytes `data`; returns how many scales were replaced."""
    fixed = 0
    for weight in blockwise_weights(read_model(data), data):
        zero = weight.scales == 0
        if zero.any():
            weight.scales[zero] = np.finfo(weight.scales.dtype).smallest_normal
            fixed += int(zero.sum())
    return fixed
