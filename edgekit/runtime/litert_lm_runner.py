"""`.task` / `.litertlm` bundles in the real LiteRT-LM engine, hosted by a child process.

The engine gives text, not logits: `LiteRtLmRunner` streams text and tokenizes through the
engine, and takes per-position logits (prefill, decode steps, scores) from the bundle's own
LiteRT model through the interpreter (`TfliteRunner`).
"""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.core.errors import EdgekitError
from edgekit.core.paths import cache_dir
from edgekit.runtime.artifact import Artifact
from edgekit.runtime.runner import Runner
from edgekit.runtime.sampling import GREEDY, Sampling
from edgekit.runtime.tflite_runner import TfliteRunner


class EngineCannotRunHere(EdgekitError):
    """LiteRT-LM's build uses an instruction this CPU lacks (it died on SIGILL)."""


def xnnpack_cache_for(model: Path) -> Path:
    """One cache folder per bundle path. The engine names its cache file after the bundle's file
    name and keeps one per name, so two bundles of one name in different folders (an int8 build
    at 1024 and at 4096 cache tokens) replaced each other's cache on every load, and each load
    packed the weights again (on the default model: 2 s instead of 0.4 s, peak RSS 644 MiB
    instead of 480)."""
    return cache_dir() / "xnnpack" / hashlib.sha256(str(model.resolve()).encode()).hexdigest()[:16]


class LiteRtLm:
    """The engine in a child process that lives as long as this object (see litert_lm_worker)."""

    def __init__(self, model: Path, threads: int = 2, xnnpack_cache: Path | None = None) -> None:
        self.model = model
        self.threads = threads
        self.xnnpack_cache = xnnpack_cache
        self._proc: subprocess.Popen | None = None
        self._log = None

    def _start(self) -> subprocess.Popen:
        # The engine writes an XNNPACK cache beside the model unless told otherwise: keep the
        # bundle's folder clean (a validated hand-off folder must not change).
        xnn = self.xnnpack_cache or xnnpack_cache_for(self.model)
        xnn.mkdir(parents=True, exist_ok=True)
        self._log = tempfile.TemporaryFile("w+")
        proc = subprocess.Popen(
            [sys.executable, "-m", "edgekit.runtime.litert_lm_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        self._send(proc, {"model": str(self.model.resolve()), "threads": self.threads, "cache_dir": str(xnn)})
        return proc

    @staticmethod
    def _send(proc: subprocess.Popen, message: dict[str, Any]) -> None:
        assert proc.stdin
        try:
            proc.stdin.write(json.dumps(message) + "\n")
            proc.stdin.flush()
        except BrokenPipeError:
            pass  # the child died; reading its stdout reports why

    def call(self, op: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """The operation's `chunk` events, then its `result`."""
        proc = self._proc = self._proc or self._start()
        self._send(proc, op)
        finished = False
        try:
            assert proc.stdout
            for line in proc.stdout:
                event = json.loads(line)
                if event["event"] == "error":
                    finished = True
                    raise EdgekitError(
                        f"LiteRT-LM could not run {self.model.name} ({event['message'][:200]})",
                        "check the file with `edgekit inspect`, or re-run `edgekit convert`",
                    )
                yield event
                if event["event"] == "result":
                    finished = True
                    return
            finished = True
            raise self._failure(proc.wait())
        finally:
            if not finished:  # abandoned mid-answer: the child's output is out of step now
                self.close(kill=True)

    def run(self, op: dict[str, Any]) -> dict[str, Any]:
        *_, result = self.call(op)
        return result

    def log_line(self, containing: str) -> str | None:
        """The engine's last stderr line that contains `containing` (its errors are logged, not raised)."""
        if self._log is None:
            return None
        self._log.seek(0)
        lines = [line.strip() for line in self._log.read().splitlines() if containing in line]
        self._log.seek(0, 2)
        return lines[-1] if lines else None

    def _failure(self, code: int) -> EdgekitError:
        assert self._log
        self._log.seek(0)
        log = self._log.read()
        self.close()
        if code == -signal.SIGILL:
            # LiteRT-LM's aarch64 wheel is built for ARMv8.1+ (LSE atomics): a Raspberry Pi 4's
            # Cortex-A72 is ARMv8.0. The engine names the missing feature on stderr.
            fatal = next(
                (line.split("FATAL ERROR:", 1)[1].strip() for line in log.splitlines() if "FATAL ERROR:" in line),
                "no detail",
            )
            return EngineCannotRunHere(
                f"LiteRT-LM's build uses an instruction this CPU lacks ({fatal[:160]})",
                "drop --engine litert-lm: the LiteRT interpreter runs the bundle on this CPU",
            )
        if code < 0:
            name = signal.Signals(-code).name
            return EdgekitError(
                f"LiteRT-LM aborted ({name}) while running {self.model.name}: the bundle is malformed "
                "or was built for another runtime",
                "re-run `edgekit convert`, or check the file with `edgekit inspect`",
            )
        detail = (log.strip().splitlines() or ["no message"])[-1]
        return EdgekitError(
            f"LiteRT-LM could not run {self.model.name} ({detail[:200]})",
            "check the file with `edgekit inspect`, or re-run `edgekit convert`",
        )

    def close(self, kill: bool = False) -> None:
        """End the child: it exits when its stdin closes, or at once when `kill` (mid-answer)."""
        proc, self._proc = self._proc, None
        if proc is not None:
            if kill:
                proc.kill()
            if proc.stdin:
                try:
                    proc.stdin.close()
                except BrokenPipeError:
                    pass
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout:
                proc.stdout.close()
        if self._log is not None:
            self._log.close()
            self._log = None


class LiteRtLmRunner(Runner):
    backend = "LiteRT-LM"

    def __init__(self, artifact: Artifact, threads: int = 2) -> None:
        super().__init__(artifact)
        self.threads = threads
        self.engine = LiteRtLm(artifact.path, threads)

    @cached_property
    def _steps(self) -> TfliteRunner:
        return TfliteRunner(self.artifact, self.threads)

    @property
    def cache_length(self) -> int:
        return self._steps.cache_length

    def engine_tokenize(self, texts: list[str]) -> list[list[int]]:
        """The engine's own tokenization (validate compares it with the golden ids)."""
        return self.engine.run({"op": "tokenize", "texts": texts})["ids"]

    def generate(self, prompt: str, max_tokens: int, sampling: Sampling = GREEDY) -> Iterator[str]:
        """Text streamed by the engine (it adds BOS and stops at the bundle's stop tokens)."""
        op = {
            "op": "generate",
            "prompt": prompt,
            "max_tokens": max_tokens,
            "sampler": sampling.engine_config(),
            "stream": True,
        }
        self.stop_note = None
        events = self.engine.call(op)
        try:
            for event in events:
                if event["event"] == "chunk":
                    yield event["text"]
                elif event.get("stopped"):
                    self.stop_note = f"LiteRT-LM ended the answer early ({event['stopped'][:120]})"
        finally:
            events.close()  # a stream stopped early ends the child's answer too

    def prefill(self, ids: Sequence[int]) -> np.ndarray:
        return self._steps.prefill(ids)

    def decode_step(self, token: int) -> np.ndarray:
        return self._steps.decode_step(token)

    def logits(self, ids: Sequence[int]) -> Iterator[np.ndarray]:
        return self._steps.logits(ids)

    def close(self) -> None:
        self.engine.close()
