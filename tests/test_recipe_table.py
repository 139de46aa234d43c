"""The recipe table is the one place recipes are defined: the CLI, the LiteRT quantizer
settings and the memory guard read it, and its memory lines cover what was measured."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest

from edgekit.converters.memory import disk_bytes, estimate_peak_bytes
from edgekit.converters.recipes import recipe
from edgekit.core.recipes import LOGITS_SCOPE, RECIPE_NAMES, RECIPES, recipe_named, recipes_for
from edgekit.families import family_named
from tests.cli import edgekit

REPO = Path(__file__).resolve().parent.parent
V1_0_LITERT = REPO / "tests" / "fixtures" / "manifests" / "v1.0-litertlm-int8.edgekit.json"


def test_names_are_unique_and_every_format_has_recipes():
    assert len(set(RECIPE_NAMES)) == len(RECIPES)
    for fmt in ("litertlm", "task", "onnx"):
        assert recipes_for(fmt)
    assert [r.precision_rank for r in RECIPES if r.is_float] == [0, 0]


def test_the_cli_offers_exactly_the_table(tmp_path):
    refused = edgekit("convert", "--quant", "int3", "--out", tmp_path)
    assert refused.code == 2
    offered = re.search(r"use one or more of ([\w,-]+)", refused.stderr).group(1)
    assert tuple(offered.split(",")) == RECIPE_NAMES
    validate_help = edgekit("validate", "--help").stdout
    assert all(name in validate_help for name in RECIPE_NAMES)


def test_litert_int8_settings_are_the_first_release_s_with_rotated_inputs():
    """The quantizer recipe an int8 bundle was made with is pinned by a manifest of the first
    release; since then only the Hadamard rotation of every weight's input was added, in blocks
    of 128 for the embedding table and the output projection that reads it, 64 elsewhere."""
    fully_connected, lookup = json.loads(V1_0_LITERT.read_text())["recipe"]["quantizer_recipe"]
    output_projection = {**copy.deepcopy(fully_connected), "regex": LOGITS_SCOPE}
    for entry, block in ((fully_connected, 64), (lookup, 128), (output_projection, 128)):
        entry["algorithm_key"] = "DECOMPOSED_HADAMARD_ROTATION"
        entry["op_config"]["weight_tensor_config"]["algorithm_params"] = {"max_hadamard_size": block}
    assert recipe("int8", 32) == [fully_connected, lookup, output_projection]


@pytest.mark.parametrize("name", [r.name for r in recipes_for("litertlm")])
def test_litert_settings_follow_the_rules(name):
    settings = recipe(name, 64)
    table = recipe_named(name)
    if table.litert_float16:
        assert settings[0]["algorithm_key"] == "float_casting"
    elif not table.litert_rules:
        assert settings is None
    else:
        bits = [s["op_config"]["weight_tensor_config"]["num_bits"] for s in settings]
        assert bits == [rule.bits for rule in table.litert_rules]
        blockwise = [s["op_config"]["weight_tensor_config"]["granularity"] == "BLOCKWISE_64" for s in settings]
        assert any(blockwise) == table.block_size_applies
        rotated = [s["algorithm_key"] == "DECOMPOSED_HADAMARD_ROTATION" for s in settings]
        assert rotated == [bool(rule.rotation) for rule in table.litert_rules]


def test_memory_estimates_cover_every_measured_conversion():
    """Each measured peak (benchmarks/conversion_memory.json) is at most the guard's estimate,
    and the estimate is not so loose that it refuses what fits (within 1.6x); a run the guard
    refused was estimated above the memory the machine had."""
    results = json.loads((REPO / "benchmarks" / "conversion_memory.json").read_text())
    assert results["rows"]
    for row in results["rows"]:
        fmt, quant = row["run"].split()
        bundle_lines = family_named(row.get("family", "gemma3")).litert_bundle_memory
        estimate = estimate_peak_bytes(row["parameters"], [(row.get("route", fmt), quant)], bundle_lines)
        if "refused" in row:
            assert estimate > results["meta"]["memory_gib"] * 2**30, row
            continue
        peak = row["peak_gib"] * 2**30
        assert peak <= estimate <= 1.6 * peak, row


def test_disk_estimate_adds_the_float_export():
    params = 10**8
    assert disk_bytes(params, ["int8", "int4"]) == int(params * (1.1 + 0.6) + params * 4)


def test_disk_estimate_counts_every_float_copy_a_route_writes():
    """Gemma 3n E2B's .litertlm ran out of disk with 36 GB free: litert-torch's bundle route
    writes the source under renamed tensors (17 GB) beside its float export (19 GB)."""
    from edgekit.converters.memory import BUNDLE_ROUTE, float_copies

    assert float_copies([("onnx", "int4")]) == 1
    assert float_copies([("litertlm", "int8"), ("task", "int8"), ("onnx", "int8")]) == 2
    assert float_copies([(BUNDLE_ROUTE, "int4")]) == 2
    assert float_copies([(BUNDLE_ROUTE, "int4"), ("onnx", "int4")], merges_adapter=True) == 4
