"""`edgekit plan`: recommendations per device for the default model, from the measured table."""

from __future__ import annotations

import pytest

from edgekit.app.plan import benchmark_table, estimated_bytes
from edgekit.intake.checkpoint import load_checkpoint
from tests.cli import assert_one_line_error, edgekit
from tests.fixtures.released_shapes import header_only_checkpoint


def _plan(*args: str) -> dict:
    result = edgekit("plan", *args, "--json")
    assert result.code == 0, result.stderr
    return result.json()


def test_pi_with_2gb_and_web_get_different_justified_recommendations():
    pi, web = _plan("--device", "pi", "--ram", "2"), _plan("--device", "web")
    # The Pi has room for the source's float weights: fp32 (fp16's measured peak is far higher).
    assert (pi["recommendation"]["quant"], pi["recommendation"]["format"]) == ("fp32", "litertlm")
    assert pi["recommendation"]["ram_bytes"] <= pi["usable_mib"] * 2**20
    assert "full precision fits" in pi["why"] and "int8" in pi["why"]  # the speed it costs is stated
    fp16 = next(o for o in pi["options"] if (o["quant"], o["format"]) == ("fp16", "litertlm"))
    assert not fp16["fits"] and "needs" in fp16["why_not"]
    # A page's visitors download the bundle first: float is over budget; the web engine loads .task.
    assert (web["recommendation"]["quant"], web["recommendation"]["format"]) == ("int8", "task")
    assert {o["format"] for o in web["options"]} == {"task"}
    assert "download" in web["why"] and "fp16" in web["why"]
    # Measured numbers are quoted from the table for what is recommended.
    for result in (pi, web):
        assert result["recommendation"]["size_provenance"] == "measured"
        assert result["recommendation"]["top1"] is not None
        assert any("pretrained" in w for w in result["warnings"])  # the embedded model is the PT 270M


def test_a_pi_4_runs_onnx_and_validates_the_phone_bundles():
    """LiteRT-LM's aarch64 build stops on a Cortex-A72 (no LSE atomics; tests/arm/run.sh), so
    ONNX is what a Pi 4 runs; the interpreter still validates .task / .litertlm there."""
    pi4 = _plan("--device", "pi4", "--ram", "1.4")
    assert {o["format"] for o in pi4["options"]} == {"onnx"}
    assert pi4["recommendation"]["format"] == "onnx" and "LSE" in pi4["why"]
    assert ".litertlm" in pi4["validate_note"] and "interpreter" in pi4["validate_note"]
    assert _plan("--device", "pi")["validate_note"] is None
    human = edgekit("plan", "--device", "pi4", "--ram", "1.4")
    assert "validate: `edgekit validate` also checks the phone bundles" in human.stdout


def test_a_desktop_has_room_for_full_precision():
    desktop = _plan("--device", "desktop")
    assert desktop["recommendation"]["quant"] in ("fp16", "fp32") and "full precision" in desktop["why"]


def test_less_memory_forces_fewer_bits_then_nothing():
    tight = _plan("--device", "pi", "--ram", "1.4")
    assert tight["recommendation"]["quant"] == "int8"
    assert "nothing more precise fits" in tight["why"] and "fp32" in tight["why"]
    none = _plan("--device", "pi", "--ram", "0.8")
    assert none["recommendation"] is None and "nothing fits" in none["why"]
    assert _plan("--device", "pi", "--ram", "0.8", "--app", "text")["warnings"] == []


def test_size_estimates_match_the_measured_artifacts():
    """The bits-per-weight the plan uses for unmeasured checkpoints, checked against the
    default model's measured LiteRT artifacts."""
    ckpt = load_checkpoint(None)
    rows = [r for r in benchmark_table()["rows"] if r["tool"] == "edgekit" and r["format"] == "litertlm"]
    assert {r["quant"] for r in rows} >= {"int8", "int4", "mixed"}
    for row in rows:
        estimate = estimated_bytes(ckpt, row["format"], row["quant"]).total
        assert abs(estimate / (row["mib"] * 2**20) - 1) < 0.03, row["quant"]


def test_instruction_tuned_preset_plans_without_a_chat_warning(tiny_keras):
    result = _plan("--device", "android", "--checkpoint", str(tiny_keras["gemma3"]))
    assert result["checkpoint"]["instruction_tuned"] is True and result["warnings"] == []
    assert result["recommendation"]["quant"] in ("fp16", "fp32")
    assert all(o["size_provenance"] == "estimated" for o in result["options"])


@pytest.mark.parametrize(
    "args, needle",
    [
        (("--device", "fridge"), "fridge"),
        (("--device", "pi", "--ram", "-1"), "--ram"),
        (("--device", "pi", "--checkpoint", "/nonexistent"), "does not exist"),
    ],
)
def test_bad_plan_options_are_one_line(args, needle):
    assert_one_line_error(edgekit("plan", *args), needle)


def test_plan_runs_from_the_base_install_with_its_packaged_table(base_venv, tiny_hf, tmp_path):
    """`pip install .` alone: the benchmark table ships inside the package (estimates scale from it)."""
    import json
    import subprocess

    result = subprocess.run(
        [
            str(base_venv / "bin" / "edgekit"),
            "plan",
            "--device",
            "pi",
            "--checkpoint",
            str(tiny_hf["gemma3"]),
            "--json",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    plan = json.loads(result.stdout)
    assert plan["recommendation"] is not None
    assert all(o["ram_provenance"] == "estimated" and "the measured" in o["ram_source"] for o in plan["options"])


@pytest.mark.parametrize("shape", ["gemma4-e2b", "gemma3n-e2b"])
def test_plan_of_an_e2b_shape_gives_back_the_run_its_family_measured(shape, tmp_path, tiny_tokenizer_model):
    """Per-layer embedding tables are lookups that the runtimes keep mapped and read a row of
    per token, so an E2B checkpoint's memory and speed come from its family's own measured runs
    (edgekit/data/family_runs.json), not from the default model's rows scaled by size (which
    said ~290 MiB for an int4 bundle that peaks near 2 GiB). For the very shape measured, the
    plan gives the measurement back, the KV cache moved to the plan's context (for LiteRT-LM, which
    reads its whole cache on every step, the decode speed too)."""
    from edgekit.app.plan import family_run_table
    from edgekit.families import family_named

    folder = header_only_checkpoint(shape, tmp_path / shape, tiny_tokenizer_model)
    ckpt = load_checkpoint(folder)
    runs = [r for r in family_run_table()[ckpt.family.name] if r["shape"] == shape]
    assert {(r["format"], r["quant"]) for r in runs} >= {("litertlm", "int4"), ("onnx", "int4")}
    context = 2048
    options = {
        (o["format"], o["quant"]): o
        for o in _plan("--device", "desktop", "--checkpoint", str(folder), "--context", str(context))["options"]
    }
    kv = family_named(ckpt.family.name).kv_cache_bytes(ckpt.config, context)
    for run in runs:
        option = options[run["format"], run["quant"]]
        expected_ram = run["run_peak_mib"] * 2**20 - run["run_kv_bytes"] + kv
        assert option["ram_bytes"] == pytest.approx(expected_ram, rel=0.05), run
        if run["format"] == "onnx":
            assert option["decode_tok_s"] == pytest.approx(run["decode_tok_s"], rel=0.05), run
        else:  # LiteRT-LM reads its whole cache on every step, and this one is longer than the run's
            assert kv > run["run_kv_bytes"] and option["decode_tok_s"] < run["decode_tok_s"], run
        assert "random-weight" in option["ram_source"] and "random-weight" in option["speed_source"]
