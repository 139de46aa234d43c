"""LiteRT fidelity levers, one at a time, on one float export: each lever is an ai-edge-quantizer
recipe applied to the same float LiteRT model (outliers migrated or not), packed as a
`.litertlm` the way `edgekit convert` packs it, scored teacher-forced against the source's
golden outputs and timed in LiteRT-LM (`edgekit bench`). `benchmarks/litert_quality.py` runs
them; the recipes `edgekit convert` ships are measured there too, through the whole pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgekit.converters.recipes import quantizer_entry
from edgekit.core.recipes import (
    EMBEDDING,
    FC,
    HADAMARD_BLOCK,
    INT8_RULES,
    LOGITS_SCOPE,
    OUTLIER_INPUT_SCOPE,
    RARE_ROWS_SCOPE,
    TABLE_HADAMARD_BLOCK,
    LiteRtRule,
    recipe_named,
)

CALIBRATED = ("GPTQ", "OSCAR")  # algorithms that read activations from a calibration run


@dataclass(frozen=True)
class Op:
    """One recipe entry: weights of `op` ops matching `scope`; later entries win."""

    bits: int | None  # None: left float
    op: str = FC
    scope: str = ".*"
    algorithm: str = "min_max_uniform_quantize"
    block: int = 0  # 0: per channel
    rotation: int = 0
    integer_compute: bool = True  # False: weights dequantized to float at run time (weight-only)

    def entry(self) -> dict[str, Any]:
        if self.bits is None:
            return {"regex": self.scope, "operation": self.op, "algorithm_key": "no_quantize", "op_config": {}}
        rule = LiteRtRule(self.bits, "BLOCKWISE" if self.block else "CHANNELWISE", self.op, self.scope, self.rotation)
        return quantizer_entry(rule, self.block, self.algorithm, self.integer_compute)


@dataclass(frozen=True)
class Lever:
    group: str  # int8, mixed, int4
    label: str
    migrated: bool  # the float model with activation outliers migrated (converters/smoothing.py)
    ops: tuple[Op, ...]
    role: str = ""  # "before" / "now": the recipe of that name before rotation and today's, timed A/B
    split: bool = False  # exported with the table's rare rows as a tensor of their own (converters/table_split.py)


def _int8(algorithm: str = "min_max_uniform_quantize", rotation: int = 0) -> tuple[Op, ...]:
    return (Op(8, algorithm=algorithm, rotation=rotation), Op(8, EMBEDDING, rotation=rotation))


_R, _T = HADAMARD_BLOCK, TABLE_HADAMARD_BLOCK
_TABLE = (Op(8, EMBEDDING), Op(8, FC, LOGITS_SCOPE))  # mixed's 8-bit embedding and output projection
_TABLE_ROTATED = (Op(8, EMBEDDING, rotation=_R), Op(8, FC, LOGITS_SCOPE, rotation=_R))
_OUTLIERS_8 = Op(8, FC, OUTLIER_INPUT_SCOPE, rotation=_R)
_INT4 = Op(4, block=32)
_INT4_ROTATED = Op(4, block=32, rotation=_R)


def _recipe(rules: tuple[LiteRtRule, ...]) -> tuple[Op, ...]:
    """A shipped recipe's rules as lever ops (blocks of 32, the default block size)."""
    return tuple(
        Op(r.bits, r.op, r.scope, block=32 if r.granularity == "BLOCKWISE" else 0, rotation=r.rotation) for r in rules
    )


_INT8_RECIPE = _recipe(INT8_RULES)

LEVERS: tuple[Lever, ...] = (
    Lever("int8", "per channel, min-max", False, _int8()),
    Lever("int8", "per channel, min-max (the recipe before rotation)", True, _int8(), "before"),
    Lever("int8", "OCTAV rounding", True, _int8("OCTAV")),
    Lever("int8", "MSE rounding", True, _int8("MSE")),
    Lever(
        "int8",
        "OSCAR (activation-aware scales and clipping; calibrated)",
        True,
        (Op(8, algorithm="OSCAR"), Op(8, EMBEDDING), Op(8, FC, LOGITS_SCOPE)),
    ),
    Lever(
        "int8",
        "GPTQ (calibrated; embedding and output projection min-max)",
        True,
        (Op(8, algorithm="GPTQ"), Op(8, EMBEDDING), Op(8, FC, LOGITS_SCOPE)),
    ),
    Lever(
        "int8", "weights only: int8 weights, float activations", True, (Op(8, integer_compute=False), Op(8, EMBEDDING))
    ),
    Lever("int8", "down projection left float", True, (*_int8(), Op(None, FC, "down_proj"))),
    Lever("int8", "output projection left float", True, (*_int8(), Op(None, FC, LOGITS_SCOPE))),
    Lever(
        "int8", f"rotation ({_R}) of the down projection's input", True, (*_int8(), Op(8, FC, "down_proj", rotation=_R))
    ),
    Lever("int8", f"rotation ({_R}) of attention output and down projection inputs", True, (*_int8(), _OUTLIERS_8)),
    Lever("int8", f"rotation ({_R}) of every input, embedding included", True, _int8(rotation=_R)),
    Lever(
        "int8",
        f"rotation ({_R}), output projection left float",
        True,
        (*_int8(rotation=_R), Op(None, FC, LOGITS_SCOPE)),
    ),
    Lever(
        "int8",
        f"rotation ({_R}), output projection as unrotated int8 weights, float activations",
        True,
        (*_int8(rotation=_R), Op(8, FC, LOGITS_SCOPE, integer_compute=False)),
    ),
    Lever(
        "int8",
        f"rotation ({_T}) of the embedding and output projection, {_R} elsewhere (the recipe)",
        True,
        (*_int8(rotation=_R), Op(8, EMBEDDING, rotation=_T), Op(8, FC, LOGITS_SCOPE, rotation=_T)),
        "now",
    ),
    Lever("int8", "rotation (128) of every input", True, _int8(rotation=128)),
    Lever("int8", "rotation (256) of every input", True, _int8(rotation=256)),
    Lever("int8", f"rotation ({_R}) of every input, no migration", False, _int8(rotation=_R)),
    Lever(
        "mixed",
        "int4 blocks of 32, int8 embedding and output projection (the recipe before)",
        True,
        (_INT4, *_TABLE),
        "before",
    ),
    Lever("mixed", "+ int8 attention output and down projection, rotated", True, (_INT4, *_TABLE, _OUTLIERS_8)),
    Lever("mixed", "+ embedding and output projection rotated", True, (_INT4, *_TABLE_ROTATED, _OUTLIERS_8)),
    Lever(
        "mixed",
        f"+ embedding and output projection rotated in {_T}-blocks instead",
        True,
        (_INT4, Op(8, EMBEDDING, rotation=_T), Op(8, FC, LOGITS_SCOPE, rotation=_T), _OUTLIERS_8),
    ),
    Lever(
        "mixed",
        f"+ int4 blocks' inputs rotated ({_R}) too (the recipe)",
        True,
        (_INT4_ROTATED, *_TABLE_ROTATED, _OUTLIERS_8),
        "now",
    ),
    Lever(
        "mixed",
        "the recipe, int4 blocks' inputs rotated in 32-blocks",
        True,
        (Op(4, block=32, rotation=32), *_TABLE_ROTATED, _OUTLIERS_8),
    ),
    Lever(
        "mixed",
        "the recipe, int4 blocks' inputs rotated in 128-blocks",
        True,
        (Op(4, block=32, rotation=128), *_TABLE_ROTATED, _OUTLIERS_8),
    ),
    Lever(
        "mixed",
        "int4 blocks unrotated, q/k/v int8 too",
        True,
        (_INT4, *_TABLE_ROTATED, _OUTLIERS_8, Op(8, FC, "self_attn;;")),
    ),
    Lever(
        "mixed",
        "int4 blocks unrotated, rounded by GPTQ (calibrated)",
        True,
        (Op(4, block=32, algorithm="GPTQ"), *_TABLE_ROTATED, _OUTLIERS_8),
    ),
    Lever(
        "mixed",
        f"int4 per channel rotated ({_R}) instead of blocks",
        True,
        (Op(4, rotation=_R), *_TABLE_ROTATED, _OUTLIERS_8),
    ),
    Lever(
        "mixed",
        "int8 matrices, int4-block embedding and output projection",
        True,
        (Op(8), Op(4, EMBEDDING, block=32), Op(4, FC, LOGITS_SCOPE, block=32), _OUTLIERS_8),
    ),
    Lever(
        "mixed",
        f"int8 matrices, int4-block embedding and output projection, every input rotated ({_R})",
        True,
        (Op(8, rotation=_R), Op(4, EMBEDDING, block=32, rotation=_R), Op(4, FC, LOGITS_SCOPE, block=32, rotation=_R)),
    ),
    Lever(
        "mixed",
        f"int8 matrices rotated ({_R}), int4-block embedding and output projection rotated ({_T})",
        True,
        (Op(8, rotation=_R), Op(4, EMBEDDING, block=32, rotation=_T), Op(4, FC, LOGITS_SCOPE, block=32, rotation=_T)),
    ),
    Lever("int8-rare4", "table split, every row int8 (the int8 recipe)", True, _INT8_RECIPE, split=True),
    Lever(
        "int8-rare4",
        "table split, rare rows int4 blocks of 32, unrotated (the recipe)",
        True,
        _recipe(recipe_named("int8-rare4").litert_rules),
        split=True,
    ),
    Lever(
        "int8-rare4",
        f"table split, rare rows int4 blocks of 32, rotated ({_R})",
        True,
        (
            *_INT8_RECIPE,
            Op(4, EMBEDDING, RARE_ROWS_SCOPE, block=32, rotation=_R),
            Op(4, FC, RARE_ROWS_SCOPE, block=32, rotation=_R),
        ),
        split=True,
    ),
    Lever(
        "int4",
        "int4 blocks of 32, min-max (the recipe before rotation)",
        True,
        (_INT4, Op(4, EMBEDDING, block=32)),
        "before",
    ),
    Lever(
        "int4",
        f"int4 blocks of 32, every input rotated ({_R}) (the recipe)",
        True,
        (_INT4_ROTATED, Op(4, EMBEDDING, block=32, rotation=_R)),
        "now",
    ),
    Lever(
        "int4",
        "int4 blocks of 32, every input rotated (128)",
        True,
        (Op(4, block=32, rotation=128), Op(4, EMBEDDING, block=32, rotation=128)),
    ),
    Lever("int4", "int4 blocks of 32, no migration", False, (_INT4, Op(4, EMBEDDING, block=32))),
    Lever("int4", "int4 blocks of 32, OCTAV", True, (Op(4, block=32, algorithm="OCTAV"), Op(4, EMBEDDING, block=32))),
    Lever(
        "int4",
        "int4 blocks of 32, GPTQ (calibrated; embedding and output projection min-max)",
        True,
        (Op(4, block=32, algorithm="GPTQ"), Op(4, EMBEDDING, block=32), Op(4, FC, LOGITS_SCOPE, block=32)),
    ),
    Lever(
        "int4",
        "int4 blocks of 32, OSCAR (calibrated)",
        True,
        (Op(4, block=32, algorithm="OSCAR"), Op(4, EMBEDDING, block=32), Op(4, FC, LOGITS_SCOPE, block=32)),
    ),
    Lever(
        "int4",
        f"int4 per channel, every input rotated ({_R})",
        True,
        (Op(4, rotation=_R), Op(4, EMBEDDING, rotation=_R)),
    ),
)


def _calls(inputs: dict[str, Any], windows: list[list[int]]) -> list[dict[str, Any]]:
    """Independent calls from position 0, one per window of ids (empty cache, causal mask)."""
    import numpy as np

    length, cache = len(windows[0]), inputs["mask"]["shape"][-1]
    mask = np.triu(np.full((length, cache), -np.inf, np.float32), k=1)[None, None]
    calls = []
    for window in windows:
        call = {k: np.zeros(v["shape"], v["dtype"]) for k, v in inputs.items() if k.startswith("kv_cache")}
        call.update(tokens=np.array([window], np.int32), input_pos=np.arange(length, dtype=np.int32), mask=mask)
        calls.append(call)
    return calls


def calibration_samples(float_tflite: Path, ids: list[int]) -> dict[str, list[dict[str, Any]]]:
    """The calibration text for the algorithms that read activations: prefill calls over it (the
    last ending at its end), and decode calls of its first tokens. Both signatures share the
    weights, so both must be calibrated or their rounding differs."""
    from edgekit.formats.tflite import interpreter

    model = interpreter(float_tflite.read_bytes(), 2)
    prefill = model.get_signature_runner("prefill_128").get_input_details()
    decode = model.get_signature_runner("decode").get_input_details()
    starts = sorted({*range(0, max(len(ids) - 128, 0) + 1, 128), max(len(ids) - 128, 0)})
    return {
        "prefill_128": _calls(prefill, [ids[s : s + 128] for s in starts]),
        "decode": _calls(decode, [[token] for token in ids[:16]]),
    }


def quantize(float_tflite: Path, lever: Lever, calibration_ids: list[int], out: Path) -> Path:
    from ai_edge_quantizer import quantizer

    from edgekit.converters.litert_fixups import repair_zero_scales

    qt = quantizer.Quantizer(str(float_tflite))
    qt.load_quantization_recipe([op.entry() for op in lever.ops])
    calibrated = None
    if any(op.algorithm in CALIBRATED for op in lever.ops):
        calibrated = qt.calibrate(calibration_samples(float_tflite, calibration_ids), num_threads=2)
    qt.quantize(calibrated).export_model(str(out), overwrite=True)
    data = bytearray(out.read_bytes())
    repair_zero_scales(data)
    out.write_bytes(data)
    return out
