"""llama.cpp as the peer: built here from the sources llama-cpp-python ships, run with its own tools.

Its high-level Python API is slow on Gemma's 262k vocabulary (7-11 tok/s, ../shared/NOTES.md),
so speed comes from `llama-bench` and quality from the low-level ctypes bindings of the same
release (`llama_cpp.llama_cpp`, loaded from the sdist beside the library built here).
The build is cached under `$EDGEKIT_CACHE/peers` (about 10-20 minutes on 2 cores, once).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

from edgekit.paths import cache_dir

RELEASE = "0.3.36"
_SDIST = f"llama_cpp_python-{RELEASE}"
TOOLS = ("llama-bench", "llama-quantize")


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
                [sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps",
                 f"llama-cpp-python=={RELEASE}", "-d", str(peers)],
                check=True, stdout=out, stderr=subprocess.STDOUT,
            )
            with tarfile.open(peers / f"{_SDIST}.tar.gz") as archive:
                archive.extractall(peers, filter="data")
        source = root / "vendor" / "llama.cpp"
        subprocess.run(
            ["cmake", "-S", str(source), "-B", str(build_dir()), "-DCMAKE_BUILD_TYPE=Release",
             "-DBUILD_SHARED_LIBS=ON", "-DGGML_NATIVE=ON", "-DLLAMA_CURL=OFF", "-DLLAMA_BUILD_TESTS=OFF",
             "-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_BUILD_SERVER=OFF", "-DLLAMA_BUILD_TOOLS=ON",
             f"-DCMAKE_RUNTIME_OUTPUT_DIRECTORY={build_dir() / 'bin'}",
             f"-DCMAKE_LIBRARY_OUTPUT_DIRECTORY={build_dir() / 'bin'}"],
            check=True, stdout=out, stderr=subprocess.STDOUT,
        )
        subprocess.run(
            ["cmake", "--build", str(build_dir()), "-j", str(os.cpu_count() or 2), "--target", *TOOLS, "llama"],
            check=True, stdout=out, stderr=subprocess.STDOUT,
        )
    return root
