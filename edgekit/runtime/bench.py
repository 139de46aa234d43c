"""Speed and memory of an artifact on this CPU: LiteRT-LM for bundles (the LiteRT interpreter where
LiteRT-LM cannot run), onnxruntime for ONNX."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.core.errors import EdgekitError
from edgekit.core.progress import own_peak_rss_bytes
from edgekit.runtime.artifact import Artifact, open_artifact
from edgekit.runtime.dispatch import check_engine, interpreter_reason, interpreter_runner
from edgekit.runtime.litert_lm_runner import EngineCannotRunHere, LiteRtLm
from edgekit.runtime.runner import Runner


def bench_prompt(tokens: int, vocab: int) -> list[int]:
    """The benchmark's prompt: BOS, then ids every Gemma vocabulary has (the same for every tool)."""
    return [2] + [3 + (i * 7919) % min(vocab - 3, 1000) for i in range(tokens - 1)]


def bench_in_process(runner: Runner, vocab: int, prefill_tokens: int, decode_tokens: int) -> dict[str, Any]:
    """A runner in this process (onnxruntime, or the LiteRT interpreter where LiteRT-LM cannot run):
    prefill = time to the first token; decode = the rest, greedy, without stopping at
    end-of-text (every run decodes the same number of tokens). Load time is the runner's
    creation, which the caller times."""
    if runner.cache_length and prefill_tokens + decode_tokens > runner.cache_length:
        raise EdgekitError(
            f"{prefill_tokens} + {decode_tokens} tokens do not fit {runner.artifact.path.name}'s KV cache "
            f"of {runner.cache_length}",
            "pass smaller --prefill-tokens / --decode-tokens",
        )
    prompt = bench_prompt(prefill_tokens, vocab)
    started = time.perf_counter()
    token = int(np.argmax(runner.prefill(prompt)))
    first = time.perf_counter()
    for _ in range(decode_tokens - 1):
        token = int(np.argmax(runner.decode_step(token)))
    done = time.perf_counter()
    return {
        "time_to_first_token_seconds": round(first - started, 3),
        "prefill_tokens": len(prompt),
        "prefill_tokens_per_second": round(len(prompt) / (first - started), 1),
        "decode_tokens": decode_tokens - 1,
        "decode_tokens_per_second": round((decode_tokens - 1) / (done - first), 1) if decode_tokens > 1 else 0.0,
        "peak_rss_bytes": own_peak_rss_bytes(),
    }


def bench_onnx(
    artifact: Artifact, threads: int, prefill_tokens: int, decode_tokens: int, **runner_options: bool | None
) -> dict[str, Any]:
    """`runner_options`: `OnnxRunner`'s choices, which benchmarks/speed.py sets to time each."""
    from edgekit.runtime.onnx_runner import OnnxRunner

    started = time.perf_counter()
    runner = OnnxRunner(artifact, threads, **runner_options)
    loaded = time.perf_counter()
    vocab = json.loads((artifact.path / "genai_config.json").read_text())["model"]["vocab_size"]
    return {
        "artifact": str(artifact.path),
        "format": "onnx",
        "threads": threads,
        "runtime": "onnxruntime (CPU)",
        "load_seconds": round(loaded - started, 3),
        **bench_in_process(runner, vocab, prefill_tokens, decode_tokens),
    }


def bench_interpreter(
    artifact: Artifact, threads: int, prefill_tokens: int, decode_tokens: int, why: str
) -> dict[str, Any]:
    """The bundle's own model in the LiteRT interpreter, prompts through its prefill signatures."""
    started = time.perf_counter()
    with interpreter_runner(artifact, threads, why) as runner:
        vocab = len(runner.decode_step(runner.bos))  # also applies XNNPACK, as LiteRT-LM does while loading
        loaded = time.perf_counter()
        return {
            "artifact": str(artifact.path),
            "format": artifact.format,
            "threads": threads,
            "runtime": "LiteRT interpreter (CPU)",
            "engine_note": why,
            "load_seconds": round(loaded - started, 3),
            **bench_in_process(runner, vocab, prefill_tokens, decode_tokens),
        }


def bench(
    bundle: Path,
    threads: int = 2,
    prefill_tokens: int = 256,
    decode_tokens: int = 128,
    xnnpack_cache: Path | None = None,
    engine: str = "auto",
) -> dict[str, Any]:
    """LiteRT-LM's own benchmark in a child process (peak RSS is that child's); ONNX folders
    run on onnxruntime in this process. LiteRT-LM's first run of a bundle packs its weights
    into XNNPACK's cache (`xnnpack_cache`, default edgekit's), which costs memory later runs
    do not pay. Where LiteRT-LM cannot run (or `engine` is "interpreter"), the interpreter is
    timed instead, and the result says so."""
    artifact = open_artifact(bundle)
    check_engine(artifact, engine)
    if artifact.format == "onnx":
        return bench_onnx(artifact, threads, prefill_tokens, decode_tokens)
    why = interpreter_reason(engine)
    if why:
        return bench_interpreter(artifact, threads, prefill_tokens, decode_tokens, why)
    lm = LiteRtLm(bundle, threads=threads, xnnpack_cache=xnnpack_cache)
    try:
        result = lm.run({"op": "bench", "prefill_tokens": prefill_tokens, "decode_tokens": decode_tokens})
        why = lm.log_line("Failed to generate content")
    except EngineCannotRunHere as failure:
        if engine != "auto":
            raise
        return bench_interpreter(artifact, threads, prefill_tokens, decode_tokens, failure.problem)
    finally:
        lm.close()
    if decode_tokens and not result["last_decode_token_count"]:
        raise EdgekitError(
            f"LiteRT-LM's benchmark decoded no tokens of {bundle.name} ({(why or 'no message')[-160:]})",
            "check the bundle with `edgekit validate`",
        )
    return {
        "artifact": str(bundle),
        "format": artifact.format,
        "threads": threads,
        "runtime": "LiteRT-LM (CPU)",
        "load_seconds": round(result["init_time_in_second"], 3),
        "time_to_first_token_seconds": round(result["time_to_first_token_in_second"], 3),
        "prefill_tokens": result["last_prefill_token_count"],
        "prefill_tokens_per_second": round(result["last_prefill_tokens_per_second"], 1),
        "decode_tokens": result["last_decode_token_count"],
        "decode_tokens_per_second": round(result["last_decode_tokens_per_second"], 1),
        "peak_rss_bytes": result["peak_rss_bytes"],  # the engine process's own peak
    }
