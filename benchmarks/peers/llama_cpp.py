"""llama.cpp as the peer: built here from the sources llama-cpp-python ships, run with its own tools.

Its high-level Python API is slow on Gemma's 262k vocabulary (it scores the whole vocabulary
per token in Python), so speed comes from `llama-bench` and quality from the low-level ctypes bindings of the same
release (`llama_cpp.llama_cpp`, loaded from the sdist beside the library built here).
The build is cached under `$EDGEKIT_CACHE/peers` (about 10-20 minutes on 2 cores, once).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

from edgekit.core.paths import cache_dir

RELEASE = "0.3.36"
_SDIST = f"llama_cpp_python-{RELEASE}"
TOOLS = ("llama-bench", "llama-quantize")
NO_AMX = "-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"


def peer_root() -> Path:
    return cache_dir() / "peers" / _SDIST


def build_dir() -> Path:
    return peer_root() / "build"


def tool(name: str) -> Path:
    return build_dir() / "bin" / name


def ensure_built(log: Path) -> Path:
    """Download the sdist and build llama.cpp's library and tools, unless already built."""
    root = peer_root()
    if all(tool(t).exists() for t in TOOLS) and (build_dir() / "bin" / "libllama.so").exists():
        return root
    peers = root.parent
    peers.mkdir(parents=True, exist_ok=True)
    with log.open("a") as out:
        if not (root / "vendor" / "llama.cpp" / "CMakeLists.txt").exists():
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "--no-binary",
                    ":all:",
                    "--no-deps",
                    f"llama-cpp-python=={RELEASE}",
                    "-d",
                    str(peers),
                ],
                check=True,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
            with tarfile.open(peers / f"{_SDIST}.tar.gz") as archive:
                archive.extractall(peers, filter="data")
        source = root / "vendor" / "llama.cpp"
        subprocess.run(
            [
                "cmake",
                "-S",
                str(source),
                "-B",
                str(build_dir()),
                "-DCMAKE_BUILD_TYPE=Release",
                "-DBUILD_SHARED_LIBS=ON",
                "-DGGML_NATIVE=ON",
                # This machine's CPU lists AMX tiles that its kernel does not grant: llama-bench
                # died on SIGILL in ggml's AMX matmul (`tilezero`). Without them ggml uses AVX-512.
                f"-DCMAKE_C_FLAGS={NO_AMX}",
                f"-DCMAKE_CXX_FLAGS={NO_AMX}",
                "-DLLAMA_CURL=OFF",
                "-DLLAMA_BUILD_TESTS=OFF",
                "-DLLAMA_BUILD_EXAMPLES=OFF",
                "-DLLAMA_BUILD_SERVER=OFF",
                "-DLLAMA_BUILD_TOOLS=ON",
                f"-DCMAKE_RUNTIME_OUTPUT_DIRECTORY={build_dir() / 'bin'}",
                f"-DCMAKE_LIBRARY_OUTPUT_DIRECTORY={build_dir() / 'bin'}",
            ],
            check=True,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        subprocess.run(
            ["cmake", "--build", str(build_dir()), "-j", str(os.cpu_count() or 2), "--target", *TOOLS, "llama"],
            check=True,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return root


def _bindings():
    """llama-cpp-python's ctypes bindings from the sdist, on the library built here."""
    os.environ["LLAMA_CPP_LIB_PATH"] = str(build_dir() / "bin")
    if str(peer_root()) not in sys.path:
        sys.path.insert(0, str(peer_root()))
    import llama_cpp

    return llama_cpp


def quantize(source: Path, out: Path, gguf_type: str, threads: int) -> dict:
    """`llama-quantize`, timed, with its peak RSS: measured by a fresh Python parent whose only
    child it is (this process's children also include edgekit's converters)."""
    import time

    probe = (
        "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, capture_output=True); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    started = time.monotonic()
    peak_kib = subprocess.run(
        [sys.executable, "-c", probe, str(tool("llama-quantize")), str(source), str(out), gguf_type, str(threads)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return {"seconds": round(time.monotonic() - started, 1), "peak_rss_bytes": int(peak_kib) * 1024}


def bench(model: Path, threads: int, prefill: int, decode: int, repetitions: int = 3) -> dict:
    """llama-bench's own prefill and decode rates."""
    import json

    out = subprocess.run(
        [
            str(tool("llama-bench")),
            "-m",
            str(model),
            "-t",
            str(threads),
            "-p",
            str(prefill),
            "-n",
            str(decode),
            "-r",
            str(repetitions),
            "-o",
            "json",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    rows = json.loads(out.stdout)
    prefill_rate = next(r["avg_ts"] for r in rows if r["n_prompt"] and not r["n_gen"])
    decode_rate = next(r["avg_ts"] for r in rows if r["n_gen"] and not r["n_prompt"])
    return {
        "prefill_tokens_per_second": round(prefill_rate, 1),
        "decode_tokens_per_second": round(decode_rate, 1),
        "time_to_first_token_seconds": round(prefill / prefill_rate, 3),
    }


def teacher_forced_logits(model: Path, ids: list[int], threads: int) -> tuple[list, float]:
    """Logits after every position of `ids` (one batch), and the model's load time."""
    import time

    import numpy as np

    llama_cpp = _bindings()
    started = time.monotonic()
    llm = llama_cpp.Llama(
        model_path=str(model),
        n_ctx=max(1024, len(ids)),
        n_batch=len(ids),
        n_ubatch=len(ids),
        n_threads=threads,
        logits_all=True,
        verbose=False,
    )
    loaded = time.monotonic() - started
    llm.eval(ids)
    logits = [np.array(row, dtype=np.float32) for row in llm.scores[: len(ids)]]
    llm.close()
    return logits, round(loaded, 3)
