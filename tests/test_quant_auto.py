"""`--quant auto --max-size`: the plan fits the budget and beats plain int4, measured."""

from __future__ import annotations

from pathlib import Path

from edgekit.converters.quant_auto import choose_small_groups, next_target
from edgekit.converters.quant_scan import Group
from tests.cli import assert_one_line_error, edgekit

MIB = 2**20


def _graph_mib(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.glob("model.onnx*")) / MIB


def test_the_plan_is_the_cheapest_cover_not_the_greedy_order() -> None:
    groups = [Group("big", ("a",)), Group("small1", ("b",)), Group("small2", ("c",))]
    keep = {"a": 100 * MIB, "b": 10 * MIB, "c": 10 * MIB}
    small = {"a": 50 * MIB, "b": 5 * MIB, "c": 5 * MIB}
    # KL per byte: big is the best ratio, but two small groups reach the 8 MiB saving for less KL.
    costs = {"big": 0.05, "small1": 0.01, "small2": 0.01}
    plan = choose_small_groups(groups, costs, keep, small, fixed_bytes=0, budget_bytes=112 * MIB)
    assert sorted(plan.small_groups) == ["small1", "small2"]
    assert plan.estimated_bytes <= 112 * MIB


def test_a_plan_written_over_the_budget_is_planned_again_below_it() -> None:
    """The written graph is a little larger than the plan's estimate; the next plan aims below
    the budget by that error, not by the overshoot alone (which kept the same plan)."""
    groups = [Group(name, (name,)) for name in "abc"]
    keep = {name: 100 * MIB for name in "abc"}
    small = {name: 50 * MIB for name in "abc"}
    costs = {"a": 0.01, "b": 0.02, "c": 0.03}
    error = int(10.5 * MIB)
    budget = 260 * MIB
    plan = choose_small_groups(groups, costs, keep, small, fixed_bytes=0, budget_bytes=budget)
    assert plan.estimated_bytes + error == budget + MIB // 2  # over by half a MiB
    plan = choose_small_groups(
        groups, costs, keep, small, fixed_bytes=0, budget_bytes=next_target(budget, plan, plan.estimated_bytes + error)
    )
    assert plan.estimated_bytes + error <= budget and plan.small_groups == ["a", "b"]


def _onnx_auto(checkpoint: Path, budget_mib: float, out: Path, *options: str):
    return edgekit(
        "convert",
        checkpoint,
        "--target",
        "onnx",
        "--quant",
        "auto",
        "--max-size",
        f"{budget_mib:.4f}",
        "--out",
        out,
        *options,
    )


def test_auto_respects_the_budget_and_beats_int4(onnx_converted, tiny_hf, tmp_path) -> None:
    int8, int4 = onnx_converted["gemma3"]["int8"], onnx_converted["gemma3"]["int4"]
    budget = (_graph_mib(int8) + _graph_mib(int4)) / 2
    result = _onnx_auto(tiny_hf["gemma3"], budget, tmp_path, "--json")
    assert result.code == 0, result.stderr[-2000:]
    auto = Path(result.json()["artifacts"][0]["artifact"])
    assert _graph_mib(auto) <= budget

    def kl(folder: Path) -> float:
        report = edgekit("validate", folder, "--json")
        assert report.code == 0, report.stderr[-1000:]
        return report.json()["teacher_forced"]["kl_mean"]

    assert kl(auto) < kl(int4)
    from edgekit.core.manifest import manifest_path, read_manifest

    plan = read_manifest(manifest_path(auto)).recipe.onnx_weights["auto"]
    assert plan["groups_at_int4"] and set(plan["groups_at_int4"]) <= set(plan["scan_kl_at_int4"])


def test_auto_below_the_smallest_plan_is_refused(tiny_hf, tmp_path) -> None:
    """A budget under the weights at 4 bits is refused before any work (tests/test_bad_inputs.py);
    one just above it, under what the scale and float bytes add, once the scan has sized the plan."""
    from edgekit.core.recipes import budget_floor_bytes
    from edgekit.intake.checkpoint import load_checkpoint

    floor_mib = budget_floor_bytes(load_checkpoint(tiny_hf["gemma3"]).parameter_count) / 2**20
    result = _onnx_auto(tiny_hf["gemma3"], floor_mib * 1.02, tmp_path)
    assert_one_line_error(result, "--max-size", "smallest plan", "with every weight at int4")
    assert not any(tmp_path.iterdir())


def test_activation_energy_is_measured_per_input_of_every_weight(onnx_converted) -> None:
    """Weights that read the same activation (q/k/v; gate/up) get the same energy; every weight
    gets one value per input column; the tied embedding gets its output projection's input."""
    import numpy as np
    import onnx

    from edgekit.converters.activation_energy import input_energy
    from edgekit.converters.onnx_weights import find_weights
    from edgekit.converters.quant_scan import weight_groups

    graph = onnx_converted["gemma3"]["fp32"] / "model.onnx"
    model = onnx.load(str(graph), load_external_data=False)
    weights = find_weights(model)
    energy = input_energy(graph, weights, list(range(2, 60)))
    assert {w.key: energy[w.key].shape for w in weights} == {w.key: (w.cols,) for w in weights}
    assert all(np.isfinite(e).all() and (e >= 0).all() and e.max() > 0 for e in energy.values())
    shared = [g for g in weight_groups(model, weights) if len(g.keys) > 1]
    assert shared
    for group in shared:
        for key in group.keys[1:]:
            np.testing.assert_array_equal(energy[key], energy[group.keys[0]])
    distinct = {e.tobytes() for e in energy.values()}
    assert len(distinct) == len(weight_groups(model, weights))  # one activation per group, all different


TABLE_RARE_ROWS = "embedding / output projection, rare rows"
TABLE_KEPT_ROWS = "embedding / output projection, kept rows"


def test_litert_auto_respects_the_budget_and_beats_int4(converted, tiny_hf, tmp_path) -> None:
    """Both bundle formats from one plan: each file within --max-size, int4 blocks where the
    scan says they cost least, and closer to the source than int4 everywhere. The export splits
    the embedding table, so the scan prices its rare rows apart from the rest."""
    from edgekit.core.manifest import manifest_path, read_manifest

    sizes = {q: converted["gemma3"][(q, "litertlm")].stat().st_size / MIB for q in ("int8", "int4")}
    budget = (sizes["int8"] + sizes["int4"]) / 2
    result = edgekit(
        "convert",
        tiny_hf["gemma3"],
        "--target",
        "android",
        "--quant",
        "auto",
        "--max-size",
        f"{budget:.4f}",
        "--prefill",
        "32",
        "--max-tokens",
        "1024",
        "--out",
        tmp_path,
        "--json",
    )
    assert result.code == 0, result.stderr[-2000:]
    bundles = {a["format"]: Path(a["artifact"]) for a in result.json()["artifacts"]}
    assert set(bundles) == {"litertlm", "task"}

    def kl(bundle: Path) -> float:
        report = edgekit("validate", bundle, "--json")
        assert report.code == 0, report.stderr[-1000:]
        return report.json()["teacher_forced"]["kl_mean"]

    for fmt, bundle in bundles.items():
        assert bundle.stat().st_size / MIB <= budget, fmt
        recipe = read_manifest(manifest_path(bundle)).recipe
        plan = recipe.litert_weights["auto"]
        assert plan["groups_at_int4"] and set(plan["groups_at_int4"]) < set(plan["scan_kl_at_int4"])
        assert recipe.litert_rare_rows and {TABLE_RARE_ROWS, TABLE_KEPT_ROWS} <= set(plan["scan_kl_at_int4"])
        bits = [entry["op_config"]["weight_tensor_config"]["num_bits"] for entry in recipe.quantizer_recipe]
        assert 4 in bits and 8 in bits
        assert kl(bundle) < kl(converted["gemma3"][("int4", fmt)]), fmt


def test_the_litert_scan_rotates_as_the_quantizer_does(converted) -> None:
    """The scan prices each group's int4 blocks in the basis the bundle stores them in: the int4
    bundle's weights, read back, are the float weights (the fp32 bundle's) turned by the scan's
    Hadamard blocks, then rounded, so they are far nearer those than the unturned weights. (The
    rounding itself differs a little: the quantizer's rotation clips its scales, by OCTAV.)"""
    import numpy as np

    from edgekit.converters.litert_scan import turned
    from edgekit.converters.tflite_buffers import blockwise_weights, float_matrices, read_model
    from edgekit.runtime.artifact import open_artifact

    source = open_artifact(converted["gemma3"][("fp32", "litertlm")]).model_bytes()
    floats = float_matrices(read_model(source), source)
    data = open_artifact(converted["gemma3"][("int4", "litertlm")]).model_bytes()
    compared = 0
    for weight in blockwise_weights(read_model(data), data):
        stored, float_weight = weight.values(), floats[weight.name]
        assert np.abs(stored - turned(float_weight)).mean() < 0.3 * np.abs(stored - float_weight).mean(), weight.name
        compared += 1
    assert compared


def test_litert_auto_is_refused_for_bundles_litert_torch_exports(tiny_next, tmp_path) -> None:
    result = edgekit(
        "convert", tiny_next["gemma4"], "--target", "litertlm", "--quant", "auto", "--max-size", "5", "--out", tmp_path
    )
    assert_one_line_error(result, "--quant auto", "Gemma 1, 2 and 3")
    assert not any(tmp_path.iterdir())
