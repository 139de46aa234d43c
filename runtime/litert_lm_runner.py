"""Run `.task` / `.litertlm` bundles in the real LiteRT-LM engine, in a child process."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

from edgekit.errors import EdgekitError
from edgekit.paths import cache_dir


class LiteRtLm:
    """One engine session per call; `ops` are executed in order in one child process."""

    def __init__(self, model: Path, threads: int = 2) -> None:
        self.model = model
        self.threads = threads

    def _request(self, ops: list[dict[str, Any]]) -> dict[str, Any]:
        # The engine writes an XNNPACK cache beside the model unless told otherwise: keep the
        # bundle's folder clean (a validated hand-off folder must not change).
        xnn = cache_dir() / "xnnpack"
        xnn.mkdir(parents=True, exist_ok=True)
        return {"model": str(self.model.resolve()), "threads": self.threads, "cache_dir": str(xnn), "ops": ops}

    def events(self, ops: list[dict[str, Any]], timeout: float = 1800) -> Iterator[dict[str, Any]]:
        with tempfile.TemporaryFile("w+") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "runtime.litert_lm_worker"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True,
            )
            assert proc.stdin and proc.stdout
            proc.stdin.write(json.dumps(self._request(ops)))
            proc.stdin.close()
            error = None
            for line in proc.stdout:
                event = json.loads(line)
                if event.get("event") == "error":
                    error = event["message"]
                else:
                    yield event
            code = proc.wait(timeout=timeout)
            if code != 0 or error:
                log.seek(0)
                raise self._failure(code, error, log.read())

    def _failure(self, code: int, error: str | None, log: str) -> EdgekitError:
        if code == -signal.SIGILL:
            # LiteRT-LM's aarch64 wheel is built for ARMv8.1+ (LSE atomics): a Raspberry Pi 4's
            # Cortex-A72 is ARMv8.0. The engine names the missing feature on stderr.
            fatal = next((line.split("FATAL ERROR:", 1)[1].strip() for line in log.splitlines()
                          if "FATAL ERROR:" in line), "no detail")
            return EdgekitError(
                f"LiteRT-LM cannot run on this CPU: its build uses an instruction the CPU lacks ({fatal[:160]})",
                "use the ONNX artifact (`edgekit convert --target onnx`): onnxruntime runs on ARMv8.0 boards",
            )
        if code < 0:
            name = signal.Signals(-code).name
            return EdgekitError(
                f"LiteRT-LM aborted ({name}) while running {self.model.name}: the bundle is malformed "
                "or was built for another runtime",
                "re-run `edgekit convert`, or check the file with `edgekit inspect`",
            )
        detail = error or (log.strip().splitlines() or ["no message"])[-1]
        return EdgekitError(f"LiteRT-LM could not run {self.model.name} ({detail[:200]})",
                            "check the file with `edgekit inspect`, or re-run `edgekit convert`")

    def run(self, ops: list[dict[str, Any]], on_chunk: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = [{} for _ in ops]
        for event in self.events(ops):
            if event["event"] == "chunk" and on_chunk:
                on_chunk(event["text"])
            elif event["event"] == "result":
                results[event["index"]] = event
        return results
