"""Content hashes for checkpoints and artifacts (streamed: files can be gigabytes)."""

from __future__ import annotations

import hashlib
from pathlib import Path


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def sha256_artifact(path: Path) -> str:
    """A file's sha256; for a folder artifact (ONNX), the sha256 of its `SHA256SUMS`-style
    listing, so one value still pins every file."""
    if not path.is_dir():
        return sha256_file(path)
    listing = "".join(f"{sha256_file(p)}  {p.name}\n" for p in sorted(path.iterdir()) if p.is_file())
    return hashlib.sha256(listing.encode()).hexdigest()
