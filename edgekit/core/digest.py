"""Content hashes for checkpoints and artifacts (streamed: files can be gigabytes)."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path


def sha256_file(path: Path) -> str:
    """Remembered per (file, size, mtime) within a process: a conversion checks a multi-GB
    checkpoint for its cache key and again for its manifest, and should read it once."""
    stat = path.stat()
    return _sha256(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def sha256_artifact(path: Path) -> str:
    """A file's sha256; for a folder artifact (ONNX), the sha256 of its `SHA256SUMS`-style
    listing, so one value still pins every file."""
    if not path.is_dir():
        return sha256_file(path)
    listing = "".join(f"{sha256_file(p)}  {p.name}\n" for p in sorted(path.iterdir()) if p.is_file())
    return hashlib.sha256(listing.encode()).hexdigest()
