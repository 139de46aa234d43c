"""`edgekit convert BASE --adapter DIR`: a PEFT LoRA adapter, written by peft itself, merged in
float32 before golden outputs and quantization; bad adapters refused in one line. The
fine-tune brings its own chat template in ChatML turns (`--chat-template FILE.jinja`), which
the `.task` and `.litertlm` carry as their prefixes and suffixes."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgekit.core.digest import sha256_file
from tests.cli import assert_one_line_error, edgekit
from tests.fixtures.chat_templates import CHATML
from tests.fixtures.lora_adapters import edited, peft_merged_model, write_adapter, write_adapter_for_config


@pytest.fixture(scope="module")
def adapter(tiny_hf, tmp_path_factory) -> Path:
    return write_adapter(tiny_hf["gemma3"], tmp_path_factory.mktemp("lora") / "my-adapter")


@pytest.fixture(scope="module")
def conversion(tiny_hf, adapter, tmp_path_factory):
    """fp32 and int8, .litertlm, .task and ONNX, from one conversion with the adapter."""
    out = tmp_path_factory.mktemp("lora-out")
    template = out / "chatml.jinja"
    template.write_text(CHATML)
    result = edgekit(
        "convert", tiny_hf["gemma3"], "--adapter", adapter, "--chat-template", template, "--target", "all",
        "--quant", "fp32,int8", "--prefill", "32", "--out", out, "--json",
    )  # fmt: skip
    assert result.code == 0, result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def merged_bundles(conversion) -> dict[tuple[str, str], Path]:
    return {(a["quant"], a["format"]): Path(a["artifact"]) for a in conversion.json()["artifacts"]}


def _reference_ids(tiny_hf) -> list[int]:
    from edgekit.converters.golden import reference_ids
    from edgekit.formats.tokenizer import folder_tokenizer

    return reference_ids(folder_tokenizer(tiny_hf["gemma3"]), 2)[:80]  # past the sliding window (16)


@pytest.mark.parametrize("fmt", ["litertlm", "onnx"])
def test_fp32_bundles_give_the_peft_merged_models_logits(merged_bundles, tiny_hf, adapter, fmt):
    import torch

    from edgekit.converters.golden import load_source_model
    from edgekit.runtime.artifact import open_artifact
    from edgekit.runtime.onnx_runner import OnnxRunner
    from edgekit.runtime.tflite_runner import TfliteRunner

    ids = _reference_ids(tiny_hf)
    with torch.no_grad():
        merged = peft_merged_model(tiny_hf["gemma3"], adapter)(torch.tensor([ids])).logits[0].numpy()
        base = load_source_model(tiny_hf["gemma3"])(torch.tensor([ids])).logits[0].numpy()
    runner = (TfliteRunner if fmt == "litertlm" else OnnxRunner)(open_artifact(merged_bundles[("fp32", fmt)]))
    bundle = np.stack(list(runner.logits(ids)))
    assert np.abs(merged - base).max() > 1.0  # the adapter changes the model: the check below can fail
    assert np.abs(bundle - merged).max() < 1e-4


def test_int8_bundles_validate_without_torch_and_name_the_adapter(merged_bundles, adapter, base_venv, tmp_path):
    for fmt in ("litertlm", "onnx"):
        bundle = merged_bundles[("int8", fmt)]
        assert bundle.name.startswith("gemma3-my-adapter-int8")
        done = subprocess.run(
            [str(base_venv / "bin" / "edgekit"), "validate", str(bundle), "--json"],
            capture_output=True, text=True, cwd=tmp_path,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        manifest = json.loads(bundle.with_name(bundle.name + ".edgekit.json").read_text())
        record = manifest["adapter"]
        assert record["weights_sha256"] == sha256_file(adapter / "adapter_model.safetensors")
        assert record["config_sha256"] == sha256_file(adapter / "adapter_config.json")
        assert (record["rank"], record["alpha"], record["rslora"]) == (4, 8.0, True)
        assert record["target_modules"] == ["down_proj", "gate_proj", "o_proj", "q_proj", "v_proj"]
        assert record["adapted_weights"] == 5 * 6  # five projections in each of six layers
        assert manifest["source"]["weights_sha256"]  # and the base's, as for every conversion


def test_validate_against_the_base_needs_the_same_adapter(merged_bundles, tiny_hf, adapter):
    bundle = merged_bundles[("int8", "litertlm")]
    result = edgekit("validate", bundle, "--reference", tiny_hf["gemma3"])
    assert_one_line_error(result, "converted with the LoRA adapter", "--adapter")
    result = edgekit("validate", bundle, "--reference", tiny_hf["gemma3"], "--adapter", adapter, "--json")
    assert result.code == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert result.json()["against"].startswith("reference checkpoint")


def test_the_fine_tunes_template_gives_the_task_and_litertlm_its_turns(conversion, merged_bundles):
    from edgekit.formats.litertlm import describe_litertlm
    from edgekit.formats.task_bundle import open_task

    assert not [line for line in conversion.stderr.splitlines() if line.startswith("edgekit: warning:")]
    task = open_task(merged_bundles[("int8", "task")]).metadata()["prompt_templates"]
    assert task["user"] == {"prefix": "<|im_start|>user\n", "suffix": "<|im_end|>\n"}
    assert task["model"] == {"prefix": "<|im_start|>assistant\n", "suffix": "<|im_end|>\n"}
    litertlm = describe_litertlm(merged_bundles[("int8", "litertlm")])["llm_metadata"]["promptTemplates"]
    assert litertlm["user"] == {"prefix": "<|im_start|>user\n", "suffix": "<|im_end|>\n"}
    assert litertlm["model"]["prefix"] == "<|im_start|>assistant\n"


def _bad(case: str, tiny_hf, good: Path, root: Path) -> Path:
    base = tiny_hf["gemma3"]
    if case == "shapes":
        return write_adapter_for_config("gemma3", root / "wider", intermediate_size=96)
    if case == "unknown target":
        return write_adapter(base, root / "embedding", r=4, lora_alpha=8, target_modules=["q_proj", "embed_tokens"])
    if case == "pickle":
        return write_adapter(base, root / "pickled", safe=False)
    if case == "no config":
        copy = shutil.copytree(good, root / "no-config")
        (copy / "adapter_config.json").unlink()
        return copy
    if case == "lying rank":
        return edited(good, root / "lying", r=8, rank_pattern={})
    if case == "lying targets":
        return edited(good, root / "lying-targets", target_modules=["q_proj", "v_proj"])
    if case == "other family":
        return write_adapter(tiny_hf["gemma2"], root / "gemma2-adapter")
    if case == "DoRA":
        return write_adapter(base, root / "dora", r=4, lora_alpha=8, target_modules=["q_proj"], use_dora=True)
    raise ValueError(case)


@pytest.mark.parametrize(
    ("case", "needle"),
    [
        ("shapes", "does not fit"),
        ("unknown target", "targets embed_tokens"),
        ("pickle", "pickle"),
        ("no config", "no adapter_config.json"),
        ("lying rank", "says rank 8"),
        ("lying targets", "do not include"),
        ("other family", "trained on Gemma2ForCausalLM"),
        ("DoRA", "DoRA"),
    ],
)
def test_a_bad_adapter_gets_one_line_and_nothing_written(tiny_hf, adapter, tmp_path, case, needle):
    bad = _bad(case, tiny_hf, adapter, tmp_path)
    out = tmp_path / "out"
    result = edgekit("convert", tiny_hf["gemma3"], "--adapter", bad, "--target", "litertlm", "--out", out)
    assert_one_line_error(result, needle)
    assert not out.exists() or not any(out.iterdir())
