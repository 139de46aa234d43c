"""Run the real `edgekit` command in a child process, as a user would."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def edgekit(*args: str, timeout: float = 900, env: dict[str, str] | None = None) -> Result:
    proc = subprocess.run(
        [sys.executable, "-m", "edgekit", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def convert(*args: Any) -> dict[str, Path]:
    """`edgekit convert ARGS --json`, which must succeed: {quant: artifact} (one format)."""
    result = edgekit("convert", *args, "--json")
    assert result.code == 0, result.stderr[-3000:]
    return {a["quant"]: Path(a["artifact"]) for a in result.json()["artifacts"]}


def assert_one_line_error(result: Result, *needles: str, code: int = 2) -> None:
    """Exit code, a single `edgekit: error:` line, no traceback."""
    assert result.code == code, (result.code, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("edgekit: error:")]
    assert len(errors) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle.lower() in errors[0].lower(), errors[0]


def litert_lm(*args: object) -> str:
    """The official LiteRT-LM CLI (PyPI `litert-lm`, a test extra), which must succeed: its stdout."""
    cli = shutil.which("litert-lm", path=str(Path(sys.executable).parent))
    assert cli, "the test extras install the official LiteRT-LM CLI"
    done = subprocess.run([cli, *map(str, args)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout
