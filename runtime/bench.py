"""Speed and memory of a bundle in LiteRT-LM on this CPU."""

from __future__ import annotations

import resource
from pathlib import Path
from typing import Any

from runtime.artifact import open_artifact
from runtime.litert_lm_runner import LiteRtLm


def bench(bundle: Path, threads: int = 2, prefill_tokens: int = 256, decode_tokens: int = 128) -> dict[str, Any]:
    """LiteRT-LM's own benchmark, run in a child process; peak RSS is that child's."""
    artifact = open_artifact(bundle)
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    (result,) = LiteRtLm(bundle, threads=threads).run(
        [{"op": "bench", "prefill_tokens": prefill_tokens, "decode_tokens": decode_tokens}])
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {
        "artifact": str(bundle),
        "format": artifact.format,
        "threads": threads,
        "runtime": "LiteRT-LM (CPU)",
        "load_seconds": round(result["init_time_in_second"], 3),
        "time_to_first_token_seconds": round(result["time_to_first_token_in_second"], 3),
        "prefill_tokens": result["last_prefill_token_count"],
        "prefill_tokens_per_second": round(result["last_prefill_tokens_per_second"], 1),
        "decode_tokens": result["last_decode_token_count"],
        "decode_tokens_per_second": round(result["last_decode_tokens_per_second"], 1),
        # RUSAGE_CHILDREN is the largest child so far: exact for the first, an upper bound after
        "peak_rss_bytes": max(peak_kib, before) * 1024,
    }
