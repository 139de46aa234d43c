"""`edgekit bench BUNDLE [--threads N] [--json]`."""

from __future__ import annotations

import resource
from pathlib import Path

import click

from edgekit.cli import emit


@click.command("bench")
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--threads", type=int, default=2, show_default=True)
@click.option("--prefill-tokens", type=int, default=256, show_default=True)
@click.option("--decode-tokens", type=int, default=128, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def bench_command(bundle: Path, threads: int, prefill_tokens: int, decode_tokens: int, as_json: bool) -> None:
    """Prefill and decode tokens/s, time to first token, load time and peak RSS (LiteRT-LM, CPU)."""
    from runtime.artifact import open_artifact
    from runtime.litert_lm_runner import LiteRtLm

    artifact = open_artifact(bundle)
    engine = LiteRtLm(bundle, threads=threads)
    (result,) = engine.run([{"op": "bench", "prefill_tokens": prefill_tokens, "decode_tokens": decode_tokens}])
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    data = {
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
        "peak_rss_bytes": peak,
    }
    human = (f"{bundle.name}: prefill {data['prefill_tokens_per_second']} tok/s ({data['prefill_tokens']} tokens), "
             f"decode {data['decode_tokens_per_second']} tok/s ({data['decode_tokens']} tokens), "
             f"first token {data['time_to_first_token_seconds']} s, load {data['load_seconds']} s, "
             f"peak RSS {peak / 2**20:.0f} MiB, {threads} threads")
    emit(data, as_json, human)
