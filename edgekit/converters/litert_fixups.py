"""Repairs to quantized LiteRT models that the quantizer leaves and the runtime refuses.

An all-zero weight block or channel (a zeroed padding-token embedding row is common) gets
scale 0 (int4 blocks; int8 channels when the rotation's rounding sets the scales), and XNNPACK
refuses a tensor with a zero scale ("unsupported scale value (0.000000)"), so the bundle cannot
even load. Every value there quantizes to 0, so any positive scale dequantizes it exactly: zero
scales are replaced by the smallest normal float, in place.
"""

from __future__ import annotations

import numpy as np

from edgekit.converters.tflite_buffers import blockwise_weights, channel_scales, read_model


def repair_zero_scales(data: bytearray) -> int:
    """Patch the model bytes `data`; returns how many scales were replaced."""
    model = read_model(data)
    scales = [weight.scales for weight in blockwise_weights(model, data)] + list(channel_scales(model))
    fixed = 0
    for values in scales:
        zero = values == 0
        if zero.any():
            values[zero] = np.finfo(values.dtype).smallest_normal
            fixed += int(zero.sum())
    return fixed
