"""`edgekit convert` on tiny Gemma 1, 2 and 3 checkpoints: every recipe, both bundle formats,
run in the real LiteRT-LM engine and checked against the source model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgekit.core.manifest import manifest_path
from edgekit.formats.litertlm import llm_metadata, open_litertlm
from edgekit.formats.task_bundle import open_task
from edgekit.runtime import open_runner
from edgekit.runtime.artifact import open_artifact
from edgekit.runtime.tflite_runner import TfliteRunner
from tests.cli import assert_one_line_error, edgekit
from tests.conftest import FAMILIES


@pytest.mark.parametrize("family", FAMILIES)
def test_every_recipe_runs_in_litert_lm(converted, family):
    for (quant, fmt), path in converted[family].items():
        with open_runner(path) as runner:
            assert "".join(runner.generate("the capital of france is", 4)), (quant, fmt)


@pytest.mark.parametrize("family", FAMILIES)
def test_fp32_bundle_matches_source_logits(converted, tiny_hf, family):
    """Teacher-forced over the reference text, the fp32 bundle's logits equal the source's
    within 1e-3 (past the sliding window, so both attention kinds are covered)."""
    from edgekit.converters.golden import load_source_model, source_logits

    artifact = open_artifact(converted[family][("fp32", "task")])
    ids = artifact.manifest.golden.reference.ids[:200]
    bundle = np.stack(list(TfliteRunner(artifact).logits(ids)))
    source = source_logits(load_source_model(tiny_hf[family]), ids)
    assert np.abs(bundle - source).max() < 1e-3


@pytest.mark.parametrize("family", FAMILIES)
def test_int8_bundles_pass_validation(converted, family):
    for fmt in ("litertlm", "task"):
        result = edgekit("validate", converted[family][("int8", fmt)], "--json")
        report = result.json()
        assert result.code == 0, report["checks"]
        assert report["passed"] and report["teacher_forced"]["positions"] >= 512


def test_manifest_records_source_recipe_versions_and_golden(converted, tiny_hf):
    path = converted["gemma3"][("mixed", "litertlm")]
    manifest = json.loads(manifest_path(path).read_text())
    assert manifest["artifact"]["size_bytes"] == path.stat().st_size
    assert manifest["source"]["family"] == "gemma3"
    assert manifest["source"]["weights_sha256"]["model.safetensors"]
    assert manifest["recipe"]["quant"] == "mixed" and manifest["recipe"]["block_size"] == 32
    assert {"litert-torch", "ai-edge-quantizer", "mediapipe", "transformers"} <= set(manifest["libraries"])
    assert manifest["conversion"]["peak_rss_bytes"] > 0
    golden = manifest["golden"]
    assert len(golden["prompts"]) >= 8
    assert all(len(p["continuation_ids"]) == 32 for p in golden["prompts"])
    assert len(golden["reference"]["ids"]) >= 512
    assert len(golden["reference"]["top_ids"][0]) == 8


def test_bundles_carry_gemma_chat_metadata(converted):
    task = open_task(converted["gemma2"][("int8", "task")]).metadata()
    assert task["start_token"] == "<bos>"
    assert task["stop_tokens"] == ["<eos>", "<end_of_turn>"]
    assert task["prompt_templates"]["user"]["prefix"] == "<start_of_turn>user\n"
    meta = llm_metadata(open_litertlm(converted["gemma2"][("int8", "litertlm")]))
    stop_ids = [s["tokenIds"]["ids"][0] for s in meta["stopTokens"]]
    assert stop_ids == [1, 5]  # <eos>, <end_of_turn> in the tiny tokenizer
    assert meta["promptTemplates"]["model"]["prefix"] == "<start_of_turn>model\n"


def test_existing_output_needs_force(converted, tiny_hf):
    out = converted["gemma"][("int8", "task")].parent
    result = edgekit("convert", tiny_hf["gemma"], "--quant", "int8", "--out", out)
    assert_one_line_error(result, "already exists", "--force")


def test_bad_convert_options_fail_fast(tiny_hf, tmp_path):
    assert_one_line_error(edgekit("convert", tiny_hf["gemma"], "--quant", "int3", "--out", tmp_path), "--quant")
    assert_one_line_error(
        edgekit("convert", tiny_hf["gemma"], "--max-tokens", "64", "--prefill", "128", "--out", tmp_path),
        "--max-tokens",
    )
    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert_one_line_error(edgekit("convert", tiny_hf["gemma"], "--out", a_file), "is a file")
    assert_one_line_error(
        edgekit("convert", tiny_hf["gemma"], "--out", tmp_path / "o", env={"EDGEKIT_AVAILABLE_MEMORY": "1e6"}),
        "memory",
        "--force",
    )
    # refused before any work: at most the empty output folder the memory check was asked for
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) in (["file"], ["file", "o"])
