"""The official LiteRT-LM CLI (PyPI `litert-lm`, the release of the pinned `litert-lm-api`)
reads what edgekit writes: `describe` shows the runtime a bundle needs, and `run --prompt`,
which renders the bundle's own Jinja template through LiteRT-LM's Conversation API, answers
as `edgekit run` does."""

from __future__ import annotations

import pytest

from tests.cli import edgekit, litert_lm


def test_describe_shows_the_runtime_the_bundle_needs(converted):
    assert "Min Runtime Version:    0.18.1" in litert_lm("describe", converted["gemma3"][("int8", "litertlm")])


@pytest.mark.slow
def test_run_renders_the_bundles_template_as_edgekit_does(default_bundles):
    """Greedy, both: the CLI's answer (to the KV cache's end or a stop token) starts with
    edgekit's first 24 tokens; a template that mishandled LiteRT-LM's list-of-parts content
    sent `[{"type": "text", ...}]` to the model instead."""
    bundle = default_bundles[("int8", "litertlm")]
    question = "What is the capital of France?"
    greedy = ("--top-k", "1", "--temperature", "0")
    ours = edgekit("run", bundle, question, "--max-tokens", "24", *greedy, "--json").json()["answer"]
    theirs = litert_lm("run", bundle, "--prompt", question, *greedy, "--seed", "0", "--cpu-thread-count", "2")
    assert len(ours) > 10 and "type" not in theirs[:200]
    assert "Min Runtime Version:    0.18.1" in litert_lm("describe", bundle)
    assert theirs.startswith(ours), (ours, theirs[:300])
