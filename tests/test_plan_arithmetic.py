"""`edgekit plan`'s arithmetic on synthetic rows: KV cache, size, RAM and speed estimates, and
the guide's order of recommendation."""

from __future__ import annotations

import pytest

from edgekit.app.devices import device
from edgekit.app.plan import (
    DEFAULT_MODEL_KV_BYTES_PER_TOKEN,
    RUNTIME_BASE_BYTES,
    Option,
    Provenance,
    StepBytes,
    _ram,
    _speed,
    cache_byte_cost,
    kv_cache_bytes,
    recommend,
)
from edgekit.families import family_named

GEMMA3 = family_named("gemma3")
DEFAULT_MODEL_SHAPE = {"num_hidden_layers": 18, "num_key_value_heads": 1, "head_dim": 256}
MIB = 2**20
ROW = {
    "format": "litertlm",
    "quant": "int8",
    "mib": 272.0,
    "run_peak_mib": 566.0,
    "run_kv_tokens": 1024,
    "decode_tok_s": 80.0,
}


def test_kv_cache_is_keys_and_values_of_every_caching_layer_in_float32():
    assert kv_cache_bytes(GEMMA3, DEFAULT_MODEL_SHAPE, 1024) == 2 * 18 * 1 * 256 * 1024 * 4
    assert kv_cache_bytes(GEMMA3, DEFAULT_MODEL_SHAPE, 1) == DEFAULT_MODEL_KV_BYTES_PER_TOKEN
    gemma4 = family_named("gemma4")
    config = {
        "num_hidden_layers": 4,
        "num_kv_shared_layers": 1,
        "num_key_value_heads": 2,
        "head_dim": 32,
        "layer_types": ["sliding_attention", "full_attention", "sliding_attention", "full_attention"],
        "per_layer_config": {"1": {"head_dim": 64}, "3": {"head_dim": 64}},
    }
    # layers 0-2 keep a cache (the last reuses one): heads x head size 2x32 + 2x64 + 2x32
    assert kv_cache_bytes(gemma4, config, 10) == 2 * (64 + 128 + 64) * 10 * 4


def test_global_layers_are_found_in_a_config_transformers_saved():
    """transformers writes Gemma 4's per-layer overrides keyed "02", "05", ... once a model has
    ten layers (every released size): the global layers' wider heads must still be read, or the
    ONNX export's cache inputs disagree with the model (seen on the E2B shape)."""
    import json

    import transformers

    layer_types = ["full_attention" if (i + 1) % 3 == 0 else "sliding_attention" for i in range(12)]
    saved = transformers.Gemma4TextConfig(
        num_hidden_layers=12,
        num_kv_shared_layers=4,
        num_key_value_heads=1,
        head_dim=32,
        global_head_dim=64,
        layer_types=layer_types,
    ).to_json_string()
    config = json.loads(saved)
    assert "02" in config["per_layer_config"]
    assert family_named("gemma4").cache_shapes(config) == [
        (1, 64 if kind == "full_attention" else 32) for kind in layer_types[:8]
    ]


def test_ram_moves_the_kv_cache_and_scales_the_weights_part():
    same = _ram(ROW, int(272 * MIB), GEMMA3, DEFAULT_MODEL_SHAPE, 1024)
    assert same == pytest.approx(566 * MIB, rel=1e-6)  # the measured row itself
    longer = _ram(ROW, int(272 * MIB), GEMMA3, DEFAULT_MODEL_SHAPE, 4096)
    assert longer - same == kv_cache_bytes(GEMMA3, DEFAULT_MODEL_SHAPE, 4096 - 1024)
    half = _ram(ROW, int(136 * MIB), GEMMA3, DEFAULT_MODEL_SHAPE, 1024)
    weights_part = 566 * MIB - RUNTIME_BASE_BYTES["litert"] - kv_cache_bytes(GEMMA3, DEFAULT_MODEL_SHAPE, 1024)
    assert same - half == pytest.approx(weights_part / 2, rel=1e-6)


def _cache(tokens: int) -> int:
    return kv_cache_bytes(GEMMA3, DEFAULT_MODEL_SHAPE, tokens)


def test_speed_scales_down_with_bytes_but_never_up():
    def step(mib: int) -> StepBytes:
        return StepBytes(mib * MIB, _cache(1024), 0.0)

    assert _speed(ROW, ROW, step(272), "here")[:2] == (80.0, Provenance.MEASURED)
    bigger, provenance, _ = _speed(None, ROW, step(544), "here")
    assert (bigger, provenance) == (40.0, Provenance.ESTIMATED)
    smaller, _, why = _speed(None, ROW, step(100), "here")
    assert smaller == 80.0 and "at least" in why
    assert _speed(None, None, step(1), "here")[:2] == (None, Provenance.NOT_MEASURED)


def test_litert_decode_slows_with_the_cache_it_attends_over():
    """LiteRT-LM reads a bundle's whole fixed KV cache on every step: the cost of a cache byte
    comes from the int8 bundle measured at two cache lengths, and a plan for either length
    gives that measurement back. onnxruntime's cache grows with the tokens held: its measured
    speed stands for any context."""
    long_row = {**ROW, "run_kv_tokens": 4096, "cache_length": 4096, "decode_tok_s": 50.0}
    short_row = {**ROW, "cache_length": 1024}
    table = {"rows": [{"tool": "edgekit", "weight_bytes": 272 * MIB, **r} for r in (long_row, short_row)]}
    cost = cache_byte_cost(table)
    assert cost > 0

    def litert(tokens: int) -> tuple:
        return _speed(ROW, ROW, StepBytes(272 * MIB, _cache(tokens), cost), "here")

    assert litert(1024)[:2] == (80.0, Provenance.MEASURED)
    assert litert(4096)[0] == pytest.approx(50.0, abs=0.1)
    middle, provenance, why = litert(2048)
    assert 50.0 < middle < 80.0 and provenance == Provenance.ESTIMATED and "1024-token KV cache" in why
    assert litert(256)[0] > 80.0
    onnx = _speed(ROW, ROW, StepBytes(272 * MIB, _cache(4096), 0.0), "here")
    assert onnx[:2] == (80.0, Provenance.MEASURED)
    # an unmeasured model with a longer cache reads more per step than the reference
    estimated, _, why = _speed(None, ROW, StepBytes(272 * MIB, _cache(4096), cost), "here")
    assert estimated == pytest.approx(50.0, abs=0.1) and "measured cost" in why


def _option(quant: str, fmt: str, ram_mib: float, fits: bool = True) -> Option:
    return Option(
        fmt,
        quant,
        int(ram_mib * MIB),
        Provenance.ESTIMATED,
        "",
        int(ram_mib * MIB),
        Provenance.ESTIMATED,
        "",
        None,
        Provenance.NOT_MEASURED,
        "",
        None,
        None,
        Provenance.NOT_MEASURED,
        "",
        fits,
        "" if fits else "needs more",
    )


def test_full_precision_first_then_fewer_bits_then_the_device_format_order():
    pi = device("pi")
    options = [
        _option("int4", "litertlm", 300),
        _option("int8", "onnx", 400),
        _option("int8", "litertlm", 450),
        _option("fp32", "litertlm", 1200, fits=False),
        _option("fp16", "litertlm", 3000, fits=False),
    ]
    best, why = recommend(options, pi)
    assert (best.quant, best.format) == ("int8", "litertlm")  # int8 before int4; litertlm first on a Pi
    assert "nothing more precise fits" in why
    options[3].fits = True
    best, why = recommend(options, pi)
    assert best.quant == "fp32" and "full precision fits" in why


def test_nothing_fits_names_the_smallest():
    best, why = recommend(
        [_option("int4", "onnx", 900, fits=False), _option("int8", "onnx", 1200, fits=False)], device("pi4")
    )
    assert best is None and "int4 onnx" in why
