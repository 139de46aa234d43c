"""Where edgekit keeps what it builds once and reuses: `EDGEKIT_CACHE` or ~/.cache/edgekit."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    root = os.environ.get("EDGEKIT_CACHE") or Path.home() / ".cache" / "edgekit"
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path
