"""The edgekit CLI as the benchmarks call it: one command, its `--json` answer."""

from __future__ import annotations

import json
import subprocess
import sys


def edgekit(*args: str) -> dict:
    proc = subprocess.run([sys.executable, "-m", "edgekit", *args, "--json"], capture_output=True, text=True)
    if proc.returncode not in (0, 1):  # 1 = validation ran and failed: still a measurement
        sys.exit(f"edgekit {args[0]} failed: {proc.stderr.strip().splitlines()[-1:]}")
    return json.loads(proc.stdout)
