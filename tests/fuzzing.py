"""Mutation fuzzing of edgekit's readers: any bytes in, either a result or an EdgekitError out.

Shared by the bounded pass in the tests and the long run in benchmarks/fuzz.py.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from edgekit.core.errors import EdgekitError


def _read_gguf(path: Path) -> None:
    from edgekit.formats.gguf import open_gguf

    gguf = open_gguf(path)
    gguf.tensor_types()


def _read_task(path: Path) -> None:
    from edgekit.formats.task_bundle import open_task

    open_task(path).metadata()


def _read_litertlm(path: Path) -> None:
    from edgekit.formats.litertlm import llm_metadata, open_litertlm

    llm_metadata(open_litertlm(path))


def _read_manifest(path: Path) -> None:
    from edgekit.core.manifest import read_manifest

    read_manifest(path)


def _read_safetensors(path: Path) -> None:
    from edgekit.formats.safetensors import read_header

    read_header(path)


READERS: dict[str, tuple[str, Callable[[Path], None]]] = {
    "gguf": (".gguf", _read_gguf),
    "task": (".task", _read_task),
    "litertlm": (".litertlm", _read_litertlm),
    "manifest": (".edgekit.json", _read_manifest),
    "safetensors": (".safetensors", _read_safetensors),
}


def mutate(seed: bytes, rng: random.Random) -> bytes:
    data = bytearray(seed)
    for _ in range(rng.randint(1, 8)):
        choice = rng.random()
        if choice < 0.15 and len(data) > 1:
            data = data[: rng.randrange(len(data))]  # truncate
        elif choice < 0.30:
            pos = rng.randrange(len(data) + 1)
            data[pos:pos] = rng.randbytes(rng.randint(1, 16))  # insert
        elif data:
            # overwrite, biased towards the header where lengths and offsets live
            span = min(len(data), 4096) if rng.random() < 0.8 else len(data)
            pos = rng.randrange(span)
            width = rng.choice((1, 2, 4, 8))
            data[pos : pos + width] = rng.choice(
                (rng.randbytes(width), b"\xff" * width, b"\x00" * width, (2**31).to_bytes(8, "little")[:width])
            )
    return bytes(data)


@dataclass
class FuzzResult:
    inputs: int = 0
    rejected: int = 0
    accepted: int = 0
    crashes: list[str] = field(default_factory=list)


def fuzz(kind: str, seed: bytes, count: int, workdir: Path, rng_seed: int = 0) -> FuzzResult:
    suffix, reader = READERS[kind]
    rng = random.Random(rng_seed)
    path = workdir / f"fuzz{suffix}"
    result = FuzzResult()
    for _ in range(count):
        path.write_bytes(mutate(seed, rng) if rng.random() < 0.95 else rng.randbytes(rng.randint(0, 256)))
        result.inputs += 1
        try:
            reader(path)
            result.accepted += 1
        except EdgekitError:
            result.rejected += 1
        except Exception as exc:  # anything else is a crash: a reader let bad input through
            result.crashes.append(f"{type(exc).__name__}: {exc}"[:300])
    return result
