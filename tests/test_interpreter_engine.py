"""The LiteRT interpreter as the whole engine for `.task` / `.litertlm` bundles: where LiteRT-LM
cannot start (a Raspberry Pi 4), validate, run and bench still check the phone bundles, and
they check the same thing as in LiteRT-LM."""

from __future__ import annotations

import numpy as np
import pytest

from edgekit.runtime import GREEDY, open_runner
from edgekit.runtime.artifact import open_artifact
from edgekit.runtime.engines import HWCAP_ATOMICS, litert_lm_cpu_gap
from edgekit.runtime.tflite_runner import TfliteRunner
from tests.cli import assert_one_line_error, edgekit

FORMATS = ("task", "litertlm")


def test_an_armv8_0_cpu_is_told_apart_before_litert_lm_starts():
    """A Cortex-A72 advertises no LSE atomics (HWCAP_ATOMICS), which LiteRT-LM's aarch64 build needs."""
    a72_hwcaps = 0xFF  # fp, asimd, evtstrm, aes, pmull, sha1, sha2, crc32
    assert "LSE atomics" in litert_lm_cpu_gap("aarch64", a72_hwcaps)
    assert litert_lm_cpu_gap("aarch64", a72_hwcaps | HWCAP_ATOMICS) is None
    assert litert_lm_cpu_gap("x86_64", 0) is None
    assert litert_lm_cpu_gap("aarch64", None) is None  # unknown: LiteRT-LM is tried, its SIGILL still caught
    assert litert_lm_cpu_gap() is None  # this x86_64 test machine runs LiteRT-LM


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_prompt_through_the_prefill_signatures_gives_the_stepped_logits(converted, fmt):
    """The interpreter prefills in chunks of the bundle's prefill_32 signature, as LiteRT-LM does;
    the logits after the prompt, and after a decode step that follows, equal stepping every token
    through `decode` (lengths below, at and across the chunk, and two chunks)."""
    runner = TfliteRunner(open_artifact(converted["gemma3"][("int8", fmt)]))
    assert sorted(runner._prefills) == [32]
    for length in (2, 32, 33, 34, 70):
        ids = [runner.bos] + [3 + (i * 37) % 400 for i in range(length - 1)]
        prefilled, after_prefill = runner.prefill(ids), runner.decode_step(7)
        *_, stepped = runner.logits(ids)
        after_steps = runner.decode_step(7)
        np.testing.assert_allclose(prefilled, stepped, atol=1e-4, err_msg=f"{length} tokens")
        np.testing.assert_allclose(after_prefill, after_steps, atol=1e-4, err_msg=f"{length} tokens, then one")


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_interpreter_and_litert_lm_agree_on_the_golden_prompts(converted, fmt):
    """Same greedy text for every golden prompt, and the same per-prompt first-token verdicts and
    teacher-forced figures from `edgekit validate`: the fallback validates what LiteRT-LM would."""
    bundle = converted["gemma3"][("int8", fmt)]
    artifact = open_artifact(bundle)
    with open_runner(artifact, engine="litert-lm") as engine, open_runner(artifact, engine="interpreter") as own:
        assert engine.backend == "LiteRT-LM" and own.backend == "LiteRT interpreter"
        for prompt in artifact.manifest.golden.prompts:
            assert "".join(own.generate(prompt.prompt, 24, GREEDY)) == "".join(
                engine.generate(prompt.prompt, 24, GREEDY)
            ), prompt.prompt

    reports = {}
    for choice in ("litert-lm", "interpreter"):
        result = edgekit("validate", bundle, "--engine", choice, "--json")
        assert result.code == 0, result.stderr[-2000:]
        reports[choice] = result.json()
    lm, interpreter = reports["litert-lm"], reports["interpreter"]
    assert (lm["engine"], lm["engine_note"]) == ("LiteRT-LM", None)
    assert interpreter["engine"] == "LiteRT interpreter"
    assert interpreter["engine_note"] == "chosen with --engine interpreter"
    assert [p["got"] for p in interpreter["prompts"]] == [p["got"] for p in lm["prompts"]]
    assert [p["first_token_agrees"] for p in interpreter["prompts"]] == [p["first_token_agrees"] for p in lm["prompts"]]
    assert interpreter["teacher_forced"] == lm["teacher_forced"]


def test_run_and_bench_on_the_interpreter_say_so(converted):
    bundle = converted["gemma3"][("int8", "litertlm")]
    run = edgekit("run", bundle, "Hello", "--engine", "interpreter", "--max-tokens", "6")
    assert run.code == 0, run.stderr[-2000:]
    assert run.stderr.strip().splitlines() == [
        "edgekit: note: LiteRT interpreter runs the bundle (chosen with --engine interpreter)"
    ]
    bench = edgekit(
        "bench", bundle, "--engine", "interpreter", "--prefill-tokens", "64", "--decode-tokens", "16", "--json"
    )
    assert bench.code == 0, bench.stderr[-2000:]
    data = bench.json()
    assert data["runtime"] == "LiteRT interpreter (CPU)" and data["engine_note"] == "chosen with --engine interpreter"
    assert (data["prefill_tokens"], data["decode_tokens"]) == (64, 15)
    assert data["prefill_tokens_per_second"] > 0 and data["decode_tokens_per_second"] > 0


def test_an_engine_choice_for_an_onnx_graph_is_refused(onnx_converted):
    graph = next(iter(onnx_converted["gemma3"].values()))
    for command in (("run", graph, "Hello"), ("validate", graph), ("bench", graph)):
        assert_one_line_error(edgekit(*command, "--engine", "interpreter"), "--engine interpreter is for .task")


@pytest.mark.slow
def test_the_interpreter_and_litert_lm_agree_on_the_default_model(default_bundles):
    """On real weights (real text, not a tiny model's loops): the same greedy tokens for every
    golden prompt, and `edgekit validate --engine interpreter` passes."""
    bundle = default_bundles[("int8", "litertlm")]
    artifact = open_artifact(bundle)
    with open_runner(artifact, engine="litert-lm") as engine, open_runner(artifact, engine="interpreter") as own:
        for prompt in artifact.manifest.golden.prompts:
            n = len(prompt.continuation_ids)
            assert "".join(own.generate(prompt.prompt, n, GREEDY)) == "".join(engine.generate(prompt.prompt, n, GREEDY))
    result = edgekit("validate", bundle, "--engine", "interpreter", "--json")
    assert result.code == 0, result.stderr[-2000:]
    assert result.json()["engine"] == "LiteRT interpreter"
