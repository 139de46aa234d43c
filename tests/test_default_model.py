"""The embedded default model (real Gemma 3 270M): intake and tokenizer fidelity."""

from __future__ import annotations

import pytest

from tests.cli import edgekit
from tests.fixtures.tokenizer_corpus import tokenizer_corpus

pytestmark = pytest.mark.slow


def test_inspect_default_model():
    info = edgekit("inspect", "--json").json()
    assert info["default_model"] is True
    assert info["family"] == "gemma3"
    assert info["layers"] == 18
    assert info["vocab_size"] == 262144
    assert info["instruction_tuned"] is False  # the embedded GGUF is the pretrained model


def test_rebuilt_tokenizer_is_identical_to_transformers():
    """Every string of a 2,400-string corpus encodes to the same ids with the SentencePiece
    model rebuilt from the GGUF and with the tokenizer transformers builds from the GGUF."""
    import sentencepiece as spm
    import transformers

    from edgekit.intake.checkpoint import load_checkpoint

    ckpt = load_checkpoint(None)
    folder = ckpt.hf_folder()
    rebuilt = spm.SentencePieceProcessor(model_file=str(folder / "tokenizer.model"))
    reference = transformers.AutoTokenizer.from_pretrained(str(ckpt.path.parent), gguf_file=ckpt.path.name)
    corpus = tokenizer_corpus()
    assert len(corpus) >= 2000
    mismatches = [
        text for text in corpus if rebuilt.encode(text) != reference(text, add_special_tokens=False).input_ids
    ]
    assert mismatches == [], f"{len(mismatches)} of {len(corpus)} differ, e.g. {mismatches[:3]!r}"
    assert rebuilt.decode(rebuilt.encode(corpus[50])) == corpus[50]


@pytest.mark.parametrize("fmt", ["litertlm", "task"])
def test_default_int8_bundles_validate_with_every_first_token_and_keep_the_source(default_bundles, fmt):
    """`make demo`'s bundles run in LiteRT-LM and give the source's first greedy token on
    every golden prompt, and int8 keeps the source's distribution: mean KL <= 0.003 over the
    reference text (the Hadamard-rotated recipe; per-channel rounding without the rotation
    measured 0.007, benchmarks/litert_quality.md)."""
    report = edgekit("validate", default_bundles[("int8", fmt)], "--json").json()
    assert report["passed"] is True
    assert all(p["first_token_agrees"] for p in report["prompts"])
    forced = report["teacher_forced"]
    assert forced["positions"] >= 512
    assert forced["kl_mean"] <= 0.003, forced["kl_mean"]
    assert forced["top1_agreement"] >= 0.95, forced["top1_agreement"]


def test_run_continues_like_the_source(default_bundles):
    """`edgekit run --raw` on the default int8 bundle streams the source's own greedy words."""
    import json

    from edgekit.core.manifest import manifest_path

    bundle = default_bundles[("int8", "litertlm")]
    golden = json.loads(manifest_path(bundle).read_text())["golden"]["prompts"][0]
    result = edgekit("run", bundle, golden["prompt"], "--raw", "--max-tokens", "8")
    assert result.code == 0, result.stderr[-1000:]
    expected_words = golden["continuation"].split()[:3]
    assert result.stdout.split()[:3] == expected_words, (result.stdout, golden["continuation"])


def test_default_fp32_bundle_matches_source_logits(default_bundles):
    """Teacher-forced over the whole reference text, within 1e-3 of transformers fp32."""
    import numpy as np

    from edgekit.converters.golden import load_source_model, source_logits
    from edgekit.intake.checkpoint import load_checkpoint
    from edgekit.runtime.artifact import open_artifact
    from edgekit.runtime.tflite_runner import TfliteRunner

    artifact = open_artifact(default_bundles[("fp32", "litertlm")])
    ids = artifact.manifest.golden.reference.ids
    source = source_logits(load_source_model(load_checkpoint(None).hf_folder()), ids)
    worst = 0.0
    for position, logits in enumerate(TfliteRunner(artifact).logits(ids)):
        worst = max(worst, float(np.abs(logits - source[position]).max()))
    assert worst < 1e-3
