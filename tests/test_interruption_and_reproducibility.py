"""Ctrl-C and SIGTERM leave nothing behind; the same conversion twice gives the same bytes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from edgekit.core.digest import sha256_file
from tests.cli import edgekit


def _convert_until_the_export(tiny_hf, out, log) -> subprocess.Popen:
    """`edgekit convert` started, returned mid-run (work files exist), its stderr going to `log`."""
    with open(log, "w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "edgekit", "convert", str(tiny_hf["gemma3"]), "--out", str(out), "--prefill", "32"],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    deadline = time.monotonic() + 300
    while "exporting the float LiteRT model" not in log.read_text():
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
        time.sleep(0.2)
    return proc


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_during_convert_leaves_nothing(tiny_hf, tmp_path, sig):
    out, log = tmp_path / "out", tmp_path / "stderr.txt"
    proc = _convert_until_the_export(tiny_hf, out, log)
    time.sleep(3)
    proc.send_signal(sig)
    code = proc.wait(timeout=300)
    assert code == 130, log.read_text()[-2000:]
    assert "interrupted" in log.read_text()
    assert "Traceback" not in log.read_text()
    assert list(out.iterdir()) == []


def test_a_crash_of_the_conversion_process_is_one_line(tiny_hf, tmp_path):
    """A converter library that crashes in native code (seen once: a SIGSEGV in free() while a
    .task was written) kills the conversion process without a word; the user gets one line
    naming the signal and the log, exit 2, and nothing in the output folder."""
    out, log = tmp_path / "out", tmp_path / "stderr.txt"
    proc = _convert_until_the_export(tiny_hf, out, log)
    (conversion,) = open(f"/proc/{proc.pid}/task/{proc.pid}/children").read().split()
    os.kill(int(conversion), signal.SIGSEGV)
    code = proc.wait(timeout=300)
    text = log.read_text()
    assert code == 2, text[-2000:]
    errors = [line for line in text.splitlines() if line.startswith("edgekit: error:")]
    assert len(errors) == 1 and "died on SIGSEGV" in errors[0] and "converter libraries log" in text, text[-2000:]
    assert "Traceback" not in text and "internal error" not in text
    assert list(out.iterdir()) == []


def test_same_conversion_twice_gives_the_same_content(tiny_hf, tmp_path):
    """`.task`: byte-identical. `.litertlm`: LiteRT-LM's builder stamps a UUID and the time into
    the header, so the manifest's content hash (every section's bytes) is what must match."""
    runs = []
    for run in ("a", "b"):
        result = edgekit(
            "convert", tiny_hf["gemma"], "--quant", "int4", "--prefill", "32", "--out", tmp_path / run, "--json"
        )
        assert result.code == 0, result.stderr[-2000:]
        runs.append({os.path.basename(a["artifact"]): a for a in result.json()["artifacts"]})
    first, second = runs
    assert first["gemma-int4.task"]["sha256"] == second["gemma-int4.task"]["sha256"]
    assert first["gemma-int4.litertlm"]["content_sha256"] == second["gemma-int4.litertlm"]["content_sha256"]
    assert sha256_file(tmp_path / "a" / "gemma-int4.task") == first["gemma-int4.task"]["sha256"]
