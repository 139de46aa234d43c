"""The runner for an artifact, by what its bytes are and which engine can run on this CPU."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from edgekit.core.errors import EdgekitError
from edgekit.runtime.artifact import Artifact, open_artifact
from edgekit.runtime.engines import ENGINES, litert_lm_cpu_gap
from edgekit.runtime.litert_lm_runner import EngineCannotRunHere, LiteRtLmRunner
from edgekit.runtime.onnx_runner import OnnxRunner
from edgekit.runtime.runner import Runner
from edgekit.runtime.tflite_runner import TfliteRunner

T = TypeVar("T")


def open_runner(path: str | Path | Artifact, threads: int = 2, engine: str = "auto") -> Runner:
    """The runner for an artifact's format: LiteRT-LM for bundles (the interpreter where LiteRT-LM
    cannot run, or when asked), onnxruntime for ONNX."""
    artifact = path if isinstance(path, Artifact) else open_artifact(Path(path))
    check_engine(artifact, engine)
    if artifact.format == "onnx":
        return OnnxRunner(artifact, threads)
    if artifact.format == "tflite":
        raise EdgekitError(
            f"{artifact.path.name} is a bare LiteRT model with no tokenizer",
            "pass the .task or .litertlm bundle it came from",
        )
    why = interpreter_reason(engine)
    if why:
        return interpreter_runner(artifact, threads, why)
    return LiteRtLmRunner(artifact, threads)


def interpreter_reason(engine: str) -> str | None:
    """Why a bundle runs on the interpreter instead of LiteRT-LM, before the engine is tried."""
    if engine == "interpreter":
        return "chosen with --engine interpreter"
    gap = litert_lm_cpu_gap() if engine == "auto" else None
    return f"LiteRT-LM cannot run here: {gap}" if gap else None


def check_engine(artifact: Artifact, engine: str) -> None:
    if engine not in ENGINES:
        raise EdgekitError(f"unknown engine {engine!r}", f"use one of {', '.join(ENGINES)}")
    if artifact.format == "onnx" and engine != "auto":
        raise EdgekitError(
            f"--engine {engine} is for .task and .litertlm bundles; {artifact.path.name} is an ONNX graph",
            "drop --engine: ONNX graphs run on onnxruntime",
        )


def interpreter_runner(artifact: Artifact, threads: int, why: str) -> TfliteRunner:
    runner = TfliteRunner(artifact, threads)
    runner.engine_note = why
    return runner


def with_runner(path: str | Path | Artifact, threads: int, engine: str, work: Callable[[Runner], T]) -> T:
    """`work` on the artifact's runner. When LiteRT-LM dies on this CPU (an instruction it lacks)
    and the engine was left to edgekit, `work` runs again on the interpreter: the engine fails
    while it loads, before any answer, so nothing is done twice."""
    artifact = path if isinstance(path, Artifact) else open_artifact(Path(path))
    try:
        with open_runner(artifact, threads, engine) as runner:
            return work(runner)
    except EngineCannotRunHere as failure:
        if engine != "auto":
            raise
        why = failure.problem
    with interpreter_runner(artifact, threads, why) as runner:
        return work(runner)
