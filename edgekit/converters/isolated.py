"""Run one conversion step in a forked child, so that the memory its libraries keep is gone
when it returns.

torch's ONNX exporter keeps every float weight alive after `torch.onnx.export` returns (onnx-ir
tensors that still wrap the model's parameters; no Python reference reaches them, so neither
`del` nor `gc.collect()` frees them), so later stages would run on top of them (the peaks with
steps isolated: benchmarks/conversion_memory.md). The child's peak is counted
by `edgekit.core.progress.peak_rss_bytes`. `outcome`/`unwrap` are also the protocol of the
conversion process itself (`pipeline.convert`).
"""

from __future__ import annotations

import ctypes
import os
import pickle
import signal
import sys
import traceback
from collections.abc import Callable
from typing import Any

from edgekit.core.errors import EdgekitError

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """A conversion killed on Ctrl-C must not leave its step running (Linux only)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def outcome(function: Callable[..., Any], *args: Any) -> tuple:
    """`function(*args)` as a picklable message for the parent (`unwrap`). A crash's traceback
    also goes to stderr, which conversion children point at the converter log."""
    try:
        return ("ok", function(*args))
    except EdgekitError as exc:
        return ("error", exc.problem, exc.fix, exc.exit_code)
    except BaseException as exc:  # noqa: BLE001 - re-raised in the parent as one line
        traceback.print_exc()
        return ("crash", f"{type(exc).__name__}: {exc}", traceback.format_exc())


def unwrap(message: tuple, where: str) -> Any:
    """The value of an `outcome` message, or its error raised again here (`where` says where
    to look for the details; EDGEKIT_DEBUG=1 adds the child's traceback)."""
    if message[0] == "error":
        error = EdgekitError(message[1], message[2])
        error.exit_code = message[3]
        raise error
    if message[0] == "crash":
        raise RuntimeError(f"{message[1]} ({where})" + ("\n" + message[2] if os.environ.get("EDGEKIT_DEBUG") else ""))
    return message[1]


def run_isolated(function: Callable[..., Any], *args: Any) -> Any:
    """`function(*args)` in a forked child; its return value must pickle."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into the caller's code, even when its parent is gone
        code = 1  # (a write to a dead parent's pipe raised into the caller once, which reported a crash)
        try:
            os.close(read_fd)
            _die_with_parent()
            with os.fdopen(write_fd, "wb") as pipe:
                pickle.dump(outcome(function, *args), pipe)
            code = 0
        finally:
            os._exit(code)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    if not data:
        raise EdgekitError(
            f"a conversion step died ({_describe(status)}); it may have run out of memory",
            "free memory or pass a smaller model",
        )
    return unwrap(pickle.loads(data), f"in the conversion step {function.__name__}")


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    return f"exit {os.waitstatus_to_exitcode(status)}"
