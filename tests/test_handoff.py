"""`edgekit handoff`: a complete folder whose snippets name the real files and options."""

from __future__ import annotations

import hashlib
import json

import pytest

from tests.cli import assert_one_line_error, edgekit


def test_handoff_folder_is_complete_and_filled_in(converted, tmp_path):
    bundles = [converted["gemma3"][("int8", "litertlm")], converted["gemma3"][("int8", "task")]]
    out = tmp_path / "handoff"
    result = edgekit("handoff", *bundles, "--out", out, "--json")
    assert result.code == 0, result.stderr[-2000:]
    names = {p.name for p in out.iterdir()}
    for bundle in bundles:
        assert {bundle.name, bundle.name + ".edgekit.json"} <= names
    assert {"SHA256SUMS", "MODEL_CARD.md", "INTEGRATION.md", "edgekit-app.json"} <= names

    for line in (out / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split("  ")
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest

    config = json.loads((out / "edgekit-app.json").read_text())
    assert config["litertlm_model"] == bundles[0].name and config["task_model"] == bundles[1].name
    assert config["max_tokens"] == 1024 and config["top_k"] == 64

    integration = (out / "INTEGRATION.md").read_text()
    assert f'modelPath = "${{context.filesDir}}/{bundles[0].name}"' in integration
    assert f'.setModelPath("/data/local/tmp/llm/{bundles[1].name}")' in integration
    assert f"modelAssetPath: '/models/{bundles[1].name}'" in integration
    assert ".setMaxTokens(1024)" in integration and "maxNumTokens = 1024" in integration
    assert "<end_of_turn>" in integration and "forceF32: true" in integration

    card = (out / "MODEL_CARD.md").read_text()
    assert "**PASS**" in card and "decode tok/s" in card
    assert "Gemma Terms of Use" in card and "ai.google.dev/gemma/terms" in card


def test_handoff_refuses_a_bundle_without_manifest(converted, tmp_path):
    lone = tmp_path / "lone.task"
    lone.write_bytes(converted["gemma"][("int8", "task")].read_bytes())
    assert_one_line_error(edgekit("handoff", lone, "--out", tmp_path / "h"), "no manifest")
    assert not (tmp_path / "h").exists()


def test_convert_with_handoff_writes_both(tiny_hf, tmp_path):
    result = edgekit(
        "convert",
        tiny_hf["gemma2"],
        "--quant",
        "int8",
        "--prefill",
        "32",
        "--out",
        tmp_path / "out",
        "--handoff",
        tmp_path / "handoff",
        "--json",
    )
    assert result.code == 0, result.stderr[-2000:]
    assert result.json()["handoff"] == str(tmp_path / "handoff")
    card = (tmp_path / "handoff" / "MODEL_CARD.md").read_text()
    assert "**PASS**" in card and "gemma2-int8.litertlm" in card


@pytest.mark.slow
def test_handoff_of_the_default_bundles_names_the_real_files(default_bundles, tmp_path):
    bundles = [default_bundles[("int8", "litertlm")], default_bundles[("int8", "task")]]
    result = edgekit("handoff", *bundles, "--out", tmp_path / "handoff")
    assert result.code == 0, result.stderr[-2000:]
    integration = (tmp_path / "handoff" / "INTEGRATION.md").read_text()
    assert (
        '/gemma-3-270m-int8.litertlm",' in integration and '"/data/local/tmp/llm/gemma-3-270m-int8.task"' in integration
    )
    assert "maxNumTokens = 1024" in integration and "topK: 64" in integration
    card = (tmp_path / "handoff" / "MODEL_CARD.md").read_text()
    assert "268,098,176 parameters" in card and "**PASS**" in card and "decode tok/s" in card
