"""`edgekit handoff`: a complete folder whose snippets name the real files and options."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

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

    assert "## iOS, LiteRT-LM (Swift)" in integration and "## iOS, MediaPipe LlmInference (Swift)" in integration
    assert f'Bundle.main.path(forResource: "{bundles[1].stem}", ofType: "task")' in integration
    assert "maxNumTokens: 1024" in integration and "options.topk = 64" in integration

    card = (out / "MODEL_CARD.md").read_text()
    assert "**PASS**" in card and "decode tok/s" in card
    assert "Gemma Terms of Use" in card and "ai.google.dev/gemma/terms" in card
    assert f"`{bundles[0].name}` needs LiteRT-LM 0.18.1 or later" in card
    for bundle in bundles:  # the card's RAM is what `edgekit bench` of that bundle alone measures
        _assert_card_ram_is_benchs(card, bundle, tmp_path / f"cache-{bundle.suffix}")


def _assert_card_ram_is_benchs(card: str, bundle, cache: Path) -> None:
    """The card's first-run and later-run RAM equal two `edgekit bench` runs of the bundle alone,
    the first on an empty XNNPACK cache, within 15%."""
    (row,) = [line for line in card.splitlines() if line.startswith(f"| {bundle.name} | ") and line.count("|") == 9]
    first, later = (float(v) for v in row.strip("| ").split(" | ")[-2:])
    runs = [
        edgekit("bench", bundle, "--json", env={"EDGEKIT_CACHE": str(cache)}).json()["peak_rss_bytes"] / 2**20
        for _ in range(2)
    ]
    assert (first, later) == (pytest.approx(runs[0], rel=0.15), pytest.approx(runs[1], rel=0.15))


def test_handoff_of_a_task_alone_names_only_it(converted, tmp_path):
    task = converted["gemma3"][("int8", "task")]
    assert edgekit("handoff", task, "--out", tmp_path / "h", "--no-measure").code == 0
    integration = (tmp_path / "h" / "INTEGRATION.md").read_text()
    assert f"Files: `{task.name}` (MediaPipe). " in integration and "None" not in integration
    assert "LiteRT-LM" not in integration and "## iOS, MediaPipe LlmInference (Swift)" in integration
    assert json.loads((tmp_path / "h" / "edgekit-app.json").read_text())["litertlm_model"] is None


def test_validate_and_bench_print_no_native_chatter(converted):
    bundle = converted["gemma3"][("int8", "litertlm")]
    for command in (("validate", bundle), ("bench", bundle, "--decode-tokens", "8")):
        result = edgekit(*command)
        assert result.code == 0, result.stderr[-2000:]
        assert "INFO:" not in result.stdout + result.stderr, command[0]


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
    # the log's path is printed whole, however long (it once wrapped at 80 columns)
    (line,) = [line for line in result.stderr.splitlines() if "converter libraries log to" in line]
    assert Path(line.split("log to ", 1)[1]).is_file()
    card = (tmp_path / "handoff" / "MODEL_CARD.md").read_text()
    assert "**PASS**" in card and "gemma2-int8.litertlm" in card


@pytest.mark.slow
def test_handoff_of_the_default_bundles_names_the_real_files(default_bundles, tmp_path):
    bundles = [default_bundles[("int8", "litertlm")], default_bundles[("int8", "task")]]
    result = edgekit("handoff", *bundles, "--out", tmp_path / "handoff")
    assert result.code == 0, result.stderr[-2000:]
    assert "INFO:" not in result.stdout + result.stderr  # validate's and bench's native chatter is logged
    integration = (tmp_path / "handoff" / "INTEGRATION.md").read_text()
    assert (
        '/gemma-3-270m-int8.litertlm",' in integration and '"/data/local/tmp/llm/gemma-3-270m-int8.task"' in integration
    )
    assert "maxNumTokens = 1024" in integration and "topK: 64" in integration
    card = (tmp_path / "handoff" / "MODEL_CARD.md").read_text()
    assert "268,098,176 parameters" in card and "**PASS**" in card and "decode tok/s" in card
    # the default checkpoint is pretrained: both documents say so, and the snippets send raw text
    assert card.startswith("# Model card") and "**Pretrained model.**" in card.split("## Files")[0]
    assert "**Pretrained model.**" in integration.split("## Android")[0]
    assert "gemmaPrompt" not in integration and "let prompt = userText  // raw text" in integration
    for bundle in bundles:
        _assert_card_ram_is_benchs(card, bundle, tmp_path / f"cache-{bundle.suffix}")
    assert "## iOS, LiteRT-LM (Swift)" in integration and "## iOS, MediaPipe LlmInference (Swift)" in integration
    # the .task alone: only it is named, and only its sections appear
    assert edgekit("handoff", bundles[1], "--out", tmp_path / "task-only", "--no-measure").code == 0
    alone = (tmp_path / "task-only" / "INTEGRATION.md").read_text()
    assert "Files: `gemma-3-270m-int8.task` (MediaPipe). " in alone and "None" not in alone
    assert "LiteRT-LM" not in alone and "**Pretrained model.**" in alone
