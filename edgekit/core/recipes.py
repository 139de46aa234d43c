"""The one table of quantization recipes: every part of edgekit reads recipe names, formats,
bits, quantizer settings, validation thresholds and memory estimates from here.

Thresholds were chosen from `benchmarks/recipes.py` on the default model (results in
benchmarks/recipes.md): each sits a margin below what a correct conversion measured, so they
catch a broken bundle without hiding a recipe's known quality loss, which reports show in full.
Memory lines come from benchmarks/conversion_memory.md; bits per weight from the measured
artifacts in benchmarks/results.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from edgekit.core.errors import EdgekitError

LITERT_FORMATS = ("litertlm", "task")
ALL_FORMATS = (*LITERT_FORMATS, "onnx")
BLOCK_SIZES = (32, 64, 128, 256)
DEFAULT_BLOCK_SIZE = 32
DEFAULT_QUANT = "int8"

# A conversion's peak memory is the largest of its lines: fixed bytes + factor x float32 weights.
MemoryLine = tuple[float, float]
# Litert-torch's export holds a fixed amount (tracing, the converter, a 262k-vocabulary's logits)
# that dominates small models; the steps that hold the float32 model dominate large ones.
LITERT_MEMORY: tuple[MemoryLine, ...] = ((5.0e9, 0.3), (2.0e9, 1.05))
# ONNX: the golden-output step holds the float32 source model and its logits. int4's calibration
# run of the float graph (activation energy) peaks no higher: measured on 270M and the E2B shapes.
ONNX_MEMORY: tuple[MemoryLine, ...] = ((1.5e9, 1.15),)
# The budget scan runs the float graph with every weight as an input, plus full logits.
ONNX_SCAN_MEMORY: tuple[MemoryLine, ...] = ((4.0e9, 3.0),)


@dataclass(frozen=True)
class Thresholds:
    """Pass/fail limits `edgekit validate` applies to an artifact of a recipe."""

    top1_min: float
    kl_mean_max: float
    first_token_min: float
    perplexity_ratio_max: float


@dataclass(frozen=True)
class LiteRtRule:
    """One entry of an ai-edge-quantizer recipe: weights of `op` ops whose output name matches
    `scope` get `bits`, per channel or in blocks of `--block-size`.

    `rotation` > 0: the weights' input dimension is rotated in Hadamard blocks of that size
    before rounding, and the op's input is rotated back at run time (a reshape and a small
    float matmul). XNNPACK quantizes each token's activations to int8 with one scale per row;
    the rotation spreads Gemma's few large activation channels over their block, so the small
    channels keep their bits, and it flattens each weight row the same way. The embedding
    lookup and the output projection share one table: both take the same rotation, or the
    table is stored twice. int4 blocks are rounded after the rotation, so a block's one large
    weight no longer sets the step of the other 31. Measured lever by lever in
    benchmarks/litert_quality.md.
    """

    bits: int
    granularity: Literal["CHANNELWISE", "BLOCKWISE"]
    op: str
    scope: str = ".*"
    rotation: int = 0


# Where weights live in litert-torch's export: fully-connected ops and the one embedding lookup.
FC, EMBEDDING = "FULLY_CONNECTED", "EMBEDDING_LOOKUP"
# The output projection is the decode signature's `..._logits_output` fully-connected op (split
# by `converters.table_split`, its two ops are named `logits_kept_rows` and `logits_rare_rows`).
LOGITS_SCOPE = "logits"
# The tied table's rare rows, where the export splits them off (`converters.table_split`): its
# lookup and its output projection.
RARE_ROWS_SCOPE = "rare_rows"
# The rest of the split table. The rare rows' output projection is joined to its sibling's name
# (`...logits_kept_rows...logits_rare_rows;`), so the scope leaves out any name with `rare_rows`.
KEPT_ROWS_SCOPE = r"^(?!.*rare_rows).*kept_rows"
# Fully-connected ops whose inputs carry the largest activation outliers: the attention output
# (o) and the MLP's down projection (names as litert-torch's export writes them).
OUTLIER_INPUT_SCOPE = "o_proj|down_proj"
HADAMARD_BLOCK = 64  # 64, 128 and 256 measured alike; 64 adds the least float work
# The embedding/output projection table's rotation. Its own rounding is most of an int8
# bundle's loss (the output projection left float recovers a third of the KL; as int8 weights
# with float activations it loses more than rotated int8 does), and 128-blocks flatten its rows
# further than 64 for one 128-wide float matmul per token and per lookup; the recipe runs as
# fast as the unrotated one within the rounds' spread (benchmarks/litert_quality.md).
TABLE_HADAMARD_BLOCK = 128

INT8_RULES = (
    LiteRtRule(8, "CHANNELWISE", FC, rotation=HADAMARD_BLOCK),
    LiteRtRule(8, "CHANNELWISE", EMBEDDING, rotation=TABLE_HADAMARD_BLOCK),
    LiteRtRule(8, "CHANNELWISE", FC, LOGITS_SCOPE, rotation=TABLE_HADAMARD_BLOCK),
)


def table_int4_rules(scope: str) -> tuple[LiteRtRule, ...]:
    """Int4 blocks for the split table's lookup and output projection under `scope`, unrotated:
    rotated, the default model's rare rows lost their sense at a few positions (KL 0.72
    against 0.0019, benchmarks/litert_quality.md)."""
    return LiteRtRule(4, "BLOCKWISE", EMBEDDING, scope), LiteRtRule(4, "BLOCKWISE", FC, scope)


# ONNX weight forms: `keep` is the faithful form (a GGUF's own blocks, else 8 bits); `small` is
# 4 bits; `scan` lets the budget scan decide per weight group.
OnnxForm = Literal["keep", "small", "scan"]


@dataclass(frozen=True)
class OnnxForms:
    matrices: OnnxForm
    embedding: OnnxForm
    # A GGUF's own codes compute with float32 activations where onnxruntime's float path is fast;
    # False: int8 activations everywhere (`converters.onnx_blocks.container_parts`).
    float_for_carried: bool = True
    # > 0: a tied 8-bit table's output projection ranks the vocabulary by its codes' top nibbles
    # and re-scores this many leaders exactly (`converters.onnx_head`); 0: one whole product.
    head_candidates: int = 0


@dataclass(frozen=True)
class Recipe:
    name: str
    summary: str
    formats: tuple[str, ...]  # artifact formats it can be written to
    # (embedding, other matrices) bits per weight of the written artifact, for size estimates;
    # None where it depends on the request (`auto`'s budget).
    bits: tuple[float, float] | None
    # The guide's order: the source's float weights first (0), then fewer bits.
    precision_rank: int
    thresholds: Thresholds
    block_size_applies: bool = False
    needs_budget: bool = False  # --max-size MiB
    litert_rules: tuple[LiteRtRule, ...] = ()  # empty: float32 weights (or float16 casting)
    litert_float16: bool = False
    onnx_forms: OnnxForms | None = None  # None: the float graph as exported
    onnx_memory: tuple[MemoryLine, ...] = ONNX_MEMORY
    # Bytes per parameter of the written LiteRT model, rounded up (disk guard).
    disk_bytes_per_parameter: float = 1.1
    litert_bits: tuple[float, float] | None = None  # `bits` of .litertlm/.task, where they differ

    @property
    def is_float(self) -> bool:
        return self.precision_rank == 0

    @property
    def splits_table(self) -> bool:
        """Whether its LiteRT export stores the tied table's rare rows apart: its rules name them
        (`RARE_ROWS_SCOPE`), or its budget scan may choose them."""
        return self.needs_budget or any(rule.scope == RARE_ROWS_SCOPE for rule in self.litert_rules)

    def bits_for(self, fmt: str) -> tuple[float, float] | None:
        return self.litert_bits if self.litert_bits and fmt in LITERT_FORMATS else self.bits

    def memory_lines(self, fmt: str) -> tuple[MemoryLine, ...]:
        return self.onnx_memory if fmt == "onnx" else LITERT_MEMORY


RECIPES: tuple[Recipe, ...] = (
    Recipe(
        "fp32",
        "float32 weights, as the source",
        ("litertlm", "task", "onnx"),
        (32.0, 32.0),
        0,
        Thresholds(top1_min=0.99, kl_mean_max=1e-3, first_token_min=1.0, perplexity_ratio_max=1.01),
        disk_bytes_per_parameter=4.1,
    ),
    Recipe(
        "fp16",
        "float16 weights",
        LITERT_FORMATS,
        (16.0, 16.0),
        0,
        Thresholds(top1_min=0.98, kl_mean_max=5e-3, first_token_min=1.0, perplexity_ratio_max=1.02),
        litert_float16=True,
        disk_bytes_per_parameter=2.1,
    ),
    Recipe(
        "int8",
        "8-bit weights (ONNX: a GGUF's own blocks carried over)",
        ALL_FORMATS,
        (8.5, 8.5),
        1,
        Thresholds(top1_min=0.85, kl_mean_max=0.05, first_token_min=0.85, perplexity_ratio_max=1.08),
        litert_rules=INT8_RULES,
        onnx_forms=OnnxForms(matrices="keep", embedding="keep"),
    ),
    Recipe(
        "int8-fast",
        "ONNX: int8's weights, int8 activations on every product, the output projection read by half "
        "(faster decode, less faithful)",
        ("onnx",),
        (8.5, 8.5),
        1,
        Thresholds(top1_min=0.85, kl_mean_max=0.05, first_token_min=0.85, perplexity_ratio_max=1.08),
        # 512 leaders keep the KL of one whole 8-bit product (benchmarks/speed.md)
        onnx_forms=OnnxForms(matrices="keep", embedding="keep", float_for_carried=False, head_candidates=512),
    ),
    Recipe(
        "int8-rare4",
        "8-bit weights; the embedding/output table's rarer half of the vocabulary in 4-bit blocks",
        LITERT_FORMATS,
        # the rare rows are 45% of Gemma 3's table (`converters.table_split.rare_rows`)
        (0.55 * 8.5 + 0.45 * 4.5, 8.5),
        2,
        Thresholds(top1_min=0.85, kl_mean_max=0.05, first_token_min=0.85, perplexity_ratio_max=1.08),
        block_size_applies=True,
        litert_rules=(*INT8_RULES, *table_int4_rules(RARE_ROWS_SCOPE)),
    ),
    Recipe(
        "mixed",
        "4-bit blocks; 8-bit embedding, output projection and (LiteRT) attention output and down projection",
        ALL_FORMATS,
        (8.5, 4.74),
        3,
        Thresholds(top1_min=0.55, kl_mean_max=0.40, first_token_min=0.50, perplexity_ratio_max=2.2),
        block_size_applies=True,
        # int8 where int4 error costs most: the embedding and output projection, and (LiteRT) the
        # ops whose inputs carry the largest outliers; every input rotated, as in int8
        litert_rules=(
            LiteRtRule(4, "BLOCKWISE", FC, rotation=HADAMARD_BLOCK),
            LiteRtRule(8, "CHANNELWISE", EMBEDDING, rotation=HADAMARD_BLOCK),
            LiteRtRule(8, "CHANNELWISE", FC, LOGITS_SCOPE, rotation=HADAMARD_BLOCK),
            LiteRtRule(8, "CHANNELWISE", FC, OUTLIER_INPUT_SCOPE, rotation=HADAMARD_BLOCK),
        ),
        onnx_forms=OnnxForms(matrices="small", embedding="keep"),
        disk_bytes_per_parameter=1.0,
        # the o and down projections are about 35% of a Gemma's matrix weights (3 270M, 1B, 2 2B)
        litert_bits=(8.5, 0.35 * 8.5 + 0.65 * 4.74),
    ),
    Recipe(
        "int4",
        "4-bit blocks everywhere",
        ALL_FORMATS,
        (4.74, 4.74),
        4,
        Thresholds(top1_min=0.45, kl_mean_max=0.50, first_token_min=0.50, perplexity_ratio_max=2.5),
        block_size_applies=True,
        litert_rules=(
            LiteRtRule(4, "BLOCKWISE", FC, rotation=HADAMARD_BLOCK),
            LiteRtRule(4, "BLOCKWISE", EMBEDDING, rotation=HADAMARD_BLOCK),
        ),
        onnx_forms=OnnxForms(matrices="small", embedding="small"),
        disk_bytes_per_parameter=0.6,
    ),
    Recipe(
        "auto",
        "4 bits where a measured scan says it costs least, to fit --max-size",
        ALL_FORMATS,
        None,
        2,
        # a budget plan is at least as faithful as mixed at mixed's size
        Thresholds(top1_min=0.55, kl_mean_max=0.40, first_token_min=0.50, perplexity_ratio_max=2.2),
        block_size_applies=True,
        needs_budget=True,
        onnx_forms=OnnxForms(matrices="scan", embedding="scan"),
        onnx_memory=ONNX_SCAN_MEMORY,
    ),
)
RECIPE_NAMES = tuple(r.name for r in RECIPES)
# No recipe stores a weight in fewer bits: a --max-size below a checkpoint's weights at this width
# fits no plan, and is refused before the minutes of export and scan that would show it.
FEWEST_BITS_PER_WEIGHT = 4


def budget_floor_bytes(parameter_count: int) -> int:
    """Fewer bytes than any plan writes (scales, float norms and headers only add)."""
    return parameter_count * FEWEST_BITS_PER_WEIGHT // 8


_BY_NAME = {r.name: r for r in RECIPES}


def recipe_named(name: str) -> Recipe:
    if name not in _BY_NAME:
        raise EdgekitError(f"unknown quantization {name!r}", f"use one of {', '.join(RECIPE_NAMES)}")
    return _BY_NAME[name]


def recipes_for(fmt: str) -> tuple[Recipe, ...]:
    """The recipes an artifact format can be written with, in table order."""
    return tuple(r for r in RECIPES if fmt in r.formats)
