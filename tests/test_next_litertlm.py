"""Gemma 3n and Gemma 4 as `.litertlm`: litert-torch's exportables (external token and
per-layer embedders beside the decoder, its metadata, the Hugging Face tokenizer) give bundles
whose float logits are transformers' own past the sliding window, that validate in the real
LiteRT-LM engine, and that it runs and benchmarks in Gemma 4's chat format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgekit.core.chat import Turn, render
from edgekit.families import family_named
from edgekit.formats.litertlm import open_litertlm
from edgekit.runtime import GREEDY, open_runner
from edgekit.runtime.artifact import EMBEDDER, PER_LAYER_EMBEDDER, PREFILL_DECODE, open_artifact
from tests.cli import assert_one_line_error, convert, edgekit
from tests.conftest import NEXT_FAMILIES

WINDOW = 16  # the tiny model's sliding window


@pytest.mark.parametrize("family", NEXT_FAMILIES)
def test_fp32_bundle_matches_transformers_past_the_window(next_bundles, tiny_next, family):
    """Stepped token by token through the bundle's three models (the engine hides logits).
    litert-torch's route leaves out the final logit soft-cap (30 in Gemma 3n's config and in
    the tiny Gemma 4's), and Gemma 3n's reads its sparsity quantile from an uninitialised buffer."""
    from edgekit.converters.golden import load_source_model, source_logits

    artifact = open_artifact(next_bundles[family]["fp32"])
    ids = artifact.manifest.golden.reference.ids
    assert len(ids) - 1 >= WINDOW + 64
    with open_runner(artifact) as runner:
        bundle = np.stack(list(runner.logits(ids)))
    assert np.abs(bundle - source_logits(load_source_model(tiny_next[family]), ids)).max() < 1e-3


@pytest.mark.parametrize("family", NEXT_FAMILIES)
@pytest.mark.parametrize("quant", ["fp32", "int8"])
def test_float_and_int8_bundles_validate_in_litert_lm(next_bundles, family, quant):
    report = edgekit("validate", next_bundles[family][quant], "--json")
    assert report.code == 0, report.json()["checks"]
    assert report.json()["quant"] == quant
    # The interpreter (the engine on a Pi 4) steps the bundle's embedders too, to the same first
    # tokens. (Their texts may differ where random weights emit byte tokens: LiteRT-LM shows
    # invalid UTF-8 otherwise and may cut the answer there.)
    interpreter = edgekit("validate", next_bundles[family][quant], "--engine", "interpreter", "--json")
    assert interpreter.code == 0, interpreter.json()["checks"]
    verdicts = [[p["first_token_agrees"] for p in r.json()["prompts"]] for r in (interpreter, report)]
    assert verdicts[0] == verdicts[1]


@pytest.mark.parametrize("family", NEXT_FAMILIES)
def test_the_int4_bundle_validates_in_litert_lm_and_is_measured_lossier(next_bundles, family):
    """int4 runs in LiteRT-LM (its all-zero blocks repaired, which XNNPACK otherwise refuses;
    Gemma 3n's narrow AltUp and LAuReL matrices in 8 bits) and, on the briefly trained tiny
    models, holds int4's limits."""
    int8 = edgekit("validate", next_bundles[family]["int8"], "--json").json()
    int4 = edgekit("validate", next_bundles[family]["int4"], "--json")
    assert int4.code == 0, int4.json()["checks"]
    assert int4.json()["teacher_forced"]["kl_mean"] > int8["teacher_forced"]["kl_mean"]


def test_the_bundle_holds_the_embedders_the_tokenizer_and_gemma4_metadata(gemma4_bundles, tiny_next):
    from tokenizers import Tokenizer

    file = open_litertlm(gemma4_bundles["int8"])
    models = {s.items.get("model_type") for s in file.sections if s.data_type == "TFLiteModel"}
    assert {PREFILL_DECODE, EMBEDDER, PER_LAYER_EMBEDDER} <= models
    describe = edgekit("inspect", gemma4_bundles["int8"])
    assert describe.code == 0 and "gemma4" in describe.stdout and "<|channel>thought" in describe.stdout
    source = Tokenizer.from_file(str(tiny_next["gemma4"] / "tokenizer.json"))
    text = "def f(x):\n    return x  # café 東京"
    assert (
        open_artifact(gemma4_bundles["int8"]).tokenizer().encode(text)
        == source.encode(text, add_special_tokens=False).ids
    )


def test_run_streams_the_engines_answer_to_gemma4_turns(gemma4_bundles):
    bundle = gemma4_bundles["int8"]
    result = edgekit("run", bundle, "the capital of france", "--system", "Be brief.", "--max-tokens", "6", "--json")
    assert result.code == 0, result.stderr[-2000:]
    with open_runner(bundle) as runner:
        prompt = render(runner.chat, [Turn("user", "the capital of france")], system="Be brief.")
        expected = "".join(runner.generate(prompt, 6, GREEDY))
    assert prompt.startswith("<|turn>system\nBe brief.<turn|>\n<|turn>user\n")
    assert result.json()["prompt"] == prompt and result.json()["answer"] == expected
    assert result.json()["backend"] == "LiteRT-LM"


def test_bench_measures_decode_in_litert_lm(gemma4_bundles):
    data = edgekit("bench", gemma4_bundles["int8"], "--prefill-tokens", "32", "--decode-tokens", "8", "--json").json()
    assert data["runtime"].startswith("LiteRT-LM") and data["decode_tokens"] == 8
    assert data["decode_tokens_per_second"] > 0 and data["peak_rss_bytes"] > 0


def test_plan_offers_the_bundle_and_a_task_is_refused_in_one_line(tiny_next, tmp_path):
    plan = edgekit("plan", "--device", "android", "--checkpoint", tiny_next["gemma4"], "--json").json()
    assert {o["format"] for o in plan["options"]} == {"litertlm"}
    refused = edgekit("convert", tiny_next["gemma4"], "--target", "task", "--out", tmp_path / "o")
    assert_one_line_error(refused, ".task cannot hold", "--target litertlm")
    assert not (tmp_path / "o").exists()


# Records the lightweight flag of every conversion litert-torch runs while edgekit exports a bundle.
_RECORD_CONVERSIONS = """
import sys
from pathlib import Path
from litert_torch._convert import interface
from edgekit.converters.litert_bundle import export_litertlm_bundles
from edgekit.families import family_named

checkpoint, work, flags = (Path(a) for a in sys.argv[1:])
convert = interface.Converter.convert

def recorded(self, *args, **kwargs):
    with flags.open("a") as record:
        record.write(f"{kwargs.get('lightweight_conversion', False)}\\n")
    return convert(self, *args, **kwargs)

interface.Converter.convert = recorded
family = family_named(checkpoint.name)
export_litertlm_bundles(
    checkpoint, family.chat, (8,), 64, 32, {"fp32": work / "fp32.litertlm"}, work, family.export_patches
)
"""


def test_every_litert_conversion_of_the_export_is_lightweight(tiny_next, next_bundles, tmp_path):
    """litert-torch 0.10 converts the per-layer embedder without the lightweight conversion its
    other exports take, so each of its signatures inlines a float32 copy of the per-layer table:
    9.4 GB a copy in Gemma 4 E2B, which then cannot convert in 24 GB
    (benchmarks/conversion_memory.md). The family's `lightweight_additional_models` patch makes
    every conversion lightweight. The real export runs in a fresh process (forking this one,
    which has run torch, can hang). Gemma 3n's per-layer embedder takes the same litert-torch
    route (`export_additional_models`), so one family is exported here and each family whose
    bundle holds a per-layer embedder must ask for the patch."""
    import subprocess
    import sys

    flags = tmp_path / "flags"
    work = tmp_path / "work"
    work.mkdir()
    subprocess.run(
        [sys.executable, "-c", _RECORD_CONVERSIONS, tiny_next["gemma4"], work, flags], check=True, timeout=900
    )
    assert (work / "fp32.litertlm").exists()
    assert flags.read_text().split() == ["True"] * 3  # embedder, decoder, per-layer embedder
    for family, bundles in next_bundles.items():
        assert open_litertlm(bundles["fp32"]).section("TFLiteModel", PER_LAYER_EMBEDDER), family
        assert "lightweight_additional_models" in family_named(family).export_patches, family


@pytest.fixture(scope="module")
def byte_emitting_bundle(tiny_tokenizer_model, tmp_path_factory) -> Path:
    """A tiny Gemma 4 whose greedy text runs into byte-fallback tokens that form invalid UTF-8."""
    from tests.fixtures.tiny_models import write_tiny_checkpoint

    root = tmp_path_factory.mktemp("gemma4-bytes")
    checkpoint = write_tiny_checkpoint("gemma4", root / "ckpt", tiny_tokenizer_model, byte_outputs=True)
    return convert(checkpoint, "--target", "litertlm", "--quant", "fp32", "--prefill", "32", "--out", root / "out")[
        "fp32"
    ]


def test_an_answer_the_engine_cuts_keeps_its_text_and_says_so(byte_emitting_bundle):
    """LiteRT-LM's streaming detokenizer stops on such bytes ("Stable text shrunk"): `run` keeps
    the text before it, notes why in one line, and exits 0; validate still judges the bundle."""
    artifact = open_artifact(byte_emitting_bundle)
    cut = []
    with open_runner(artifact) as runner:
        for prompt in artifact.manifest.golden.prompts:
            text = "".join(runner.generate(prompt.prompt, len(prompt.continuation_ids), GREEDY))
            if runner.stop_note:
                cut.append((prompt, text, runner.stop_note))
    assert cut, "no golden prompt reaches the detokenizer's limit any more"
    prompt, text, note = cut[0]
    length = str(len(prompt.continuation_ids))
    result = edgekit("run", byte_emitting_bundle, prompt.prompt, "--raw", "--max-tokens", length)
    assert result.code == 0 and result.stdout == text + "\n"
    assert [line for line in result.stderr.splitlines() if line.startswith("edgekit: note:")] == [
        f"edgekit: note: {note}"
    ]
    sent = edgekit("run", byte_emitting_bundle, prompt.prompt, "--raw", "--max-tokens", length, "--json")
    assert (sent.json()["answer"], sent.json()["stopped"]) == (text, note)
    assert edgekit("validate", byte_emitting_bundle).code == 0


def test_handoff_names_only_the_bundle_and_gemma4s_system_turn(gemma4_bundles, tmp_path):
    result = edgekit("handoff", gemma4_bundles["int8"], "--out", tmp_path / "h", "--no-measure")
    assert result.code == 0, result.stderr[-2000:]
    guide = (tmp_path / "h" / "INTEGRATION.md").read_text()
    assert f"Files: `{gemma4_bundles['int8'].name}` (LiteRT-LM). " in guide and "None" not in guide
    assert "has a system role" in guide and "<|turn>system" in guide and "MediaPipe" not in guide
