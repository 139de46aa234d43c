"""`edgekit bench BUNDLE [--threads N] [--json]`."""

from __future__ import annotations

from pathlib import Path

import click

from edgekit.commands.options import engine_option
from edgekit.commands.output import emit


@click.command("bench")
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--threads", type=int, default=2, show_default=True)
@click.option("--prefill-tokens", type=int, default=256, show_default=True)
@click.option("--decode-tokens", type=int, default=128, show_default=True)
@engine_option
@click.option("--json", "as_json", is_flag=True)
def bench_command(
    bundle: Path, threads: int, prefill_tokens: int, decode_tokens: int, engine: str, as_json: bool
) -> None:
    """Prefill and decode tokens/s, time to first token, load time and peak RSS (LiteRT-LM, CPU)."""
    from edgekit.runtime.bench import bench

    data = bench(bundle, threads, prefill_tokens, decode_tokens, engine=engine)
    human = (
        f"{bundle.name}: prefill {data['prefill_tokens_per_second']} tok/s ({data['prefill_tokens']} tokens), "
        f"decode {data['decode_tokens_per_second']} tok/s ({data['decode_tokens']} tokens), "
        f"first token {data['time_to_first_token_seconds']} s, load {data['load_seconds']} s, "
        f"peak RSS {data['peak_rss_bytes'] / 2**20:.0f} MiB, {threads} threads, {data['runtime']}"
    )
    if data.get("engine_note"):
        human += f" ({data['engine_note']})"
    emit(data, as_json, human)
