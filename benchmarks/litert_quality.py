"""LiteRT fidelity levers on the default model, each against the same recipes without it, in one run.

    .venv/bin/python benchmarks/litert_quality.py [--out benchmarks/out/litert_quality] [--threads 2]

1. Activation outliers migrated into the weights (`converters/smoothing.py`): the embedded
   Gemma 3 270M as `int8,int4,mixed` `.litertlm`, with (the default) and `--no-smoothing`.
2. Q4_0 blocks carried into int4 (`converters/litert_carry.py`): a Q4_0 GGUF of the embedded
   model (gguf-py's reference quantizer, every matrix Q4_0, as a quantization-aware-trained
   release ships it) converted as `int8,int4,mixed`, and its int4 again from the folder the
   GGUF reads as (the same values, no blocks to carry: rounded a second time).
Each artifact: `edgekit validate --json` against its own source's golden outputs and
`edgekit bench --json`. Writes benchmarks/litert_quality.md and .json.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks.edgekit_cli import edgekit  # noqa: E402


def log(text: str) -> None:
    print(f"[litert_quality] {text}", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "out" / "litert_quality")
    parser.add_argument("--threads", default="2")
    args = parser.parse_args()
    from edgekit.intake.checkpoint import load_checkpoint
    from edgekit.intake.default_model import default_gguf
    from tests.fixtures.gguf_writer import write_gguf

    args.out.mkdir(parents=True, exist_ok=True)
    q4_0 = args.out / "gemma-3-270m-q4_0.gguf"
    if not q4_0.exists():  # deterministic: kept between runs
        log("writing a Q4_0 GGUF of the default model")
        write_gguf(load_checkpoint(default_gguf()).hf_folder(), q4_0.with_suffix(".partial"), qtype="Q4_0")
        q4_0.with_suffix(".partial").rename(q4_0)
    runs = (  # label, recipes, checkpoint (None: the embedded one), output folder, extra options
        ("embedded Q4_K_M GGUF (outliers migrated: the default)", "int8,int4,mixed", None, "embedded", ()),
        ("embedded Q4_K_M GGUF, --no-smoothing", "int8,int4,mixed", None, "embedded-plain", ("--no-smoothing",)),
        ("Q4_0 GGUF (blocks carried; no migration)", "int8,int4,mixed", q4_0, "q4_0", ()),
        (
            "Q4_0 values, no blocks (rounded again), --no-smoothing",
            "int4",
            load_checkpoint(q4_0).hf_folder(),
            "q4_0-rounded",
            ("--no-smoothing",),
        ),
    )
    rows = []
    for label, quants, source, folder, extra in runs:
        log(f"convert {label}: {quants}")
        target = args.out / folder
        where = [str(source)] if source else []
        conversion = edgekit(
            "convert", *where, "--target", "litertlm", "--quant", quants, *extra, "--out", str(target), "--force"
        )
        for artifact in conversion["artifacts"]:
            path = artifact["artifact"]
            log(f"validate and bench {Path(path).name}")
            report = edgekit("validate", path, "--threads", args.threads)
            speed = edgekit("bench", path, "--threads", args.threads)
            carried = json.loads(Path(path + ".edgekit.json").read_text())["recipe"].get("litert_weights")
            tf = report["teacher_forced"]
            rows.append(
                {
                    "source": label,
                    "quant": artifact["quant"],
                    "carried": None
                    if not carried or not carried["blocks"]
                    else f"{carried['carried_tensors']} tensors, {carried['exact_blocks'] / carried['blocks']:.1%} "
                    f"blocks exact, {carried['clipped_values']} weights clipped",
                    "mib": round(artifact["size_bytes"] / 2**20, 1),
                    "top1": round(tf["top1_agreement"], 4),
                    "kl_mean": round(tf["kl_mean"], 5),
                    "kl_p99": round(tf["kl_p99"], 4),
                    "perplexity_ratio": round(tf["bundle_perplexity"] / tf["source_perplexity"], 4),
                    "validate": "pass" if report["passed"] else "fail",
                    "prefill_tok_s": speed["prefill_tokens_per_second"],
                    "decode_tok_s": speed["decode_tokens_per_second"],
                    "peak_rss_mib": round(speed["peak_rss_bytes"] / 2**20) if speed.get("peak_rss_bytes") else None,
                }
            )
    meta = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}",
        "threads": args.threads,
        "positions": tf["positions"],
    }
    (HERE / "litert_quality.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    lines = [
        f"# LiteRT fidelity levers on Gemma 3 270M ({meta['date']}, {meta['machine']}, {meta['threads']} threads)",
        "",
        "Written by `benchmarks/litert_quality.py`. `.litertlm` bundles in LiteRT-LM; quality is teacher-forced "
        f"over {meta['positions']} positions of the reference text against each bundle's own source (the Q4_0 "
        "rows: the Q4_0 GGUF's dequantized weights); speed: `edgekit bench` (256 prefill / 128 decode tokens).",
        "",
        "Levers: activation outliers migrated into the weights before the export "
        "(`edgekit/converters/smoothing.py`, on by default, off with `--no-smoothing`), against the same "
        "recipes without it; a Q4_0 GGUF's blocks carried into int4 (`edgekit/converters/litert_carry.py`), "
        "against the same values rounded again. A Q4_0 block is `d * (q - 8)`, XNNPACK's int4 layout, but XNNPACK refuses negative scales and Q4_0's "
        "is negative wherever the block's largest weight is positive: those blocks are stored as "
        "`|d| * (8 - q)`, exact but for the extreme weight, whose code 8 becomes 7.",
        "",
        "| source | recipe | carried | MiB | top-1 | KL mean | KL p99 | perplexity ratio | validate "
        "| prefill tok/s | decode tok/s | run peak RSS MiB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['source']} | {r['quant']} | {r['carried'] or '-'} | {r['mib']} | {r['top1']:.1%} | {r['kl_mean']} "
            f"| {r['kl_p99']} | {r['perplexity_ratio']} | {r['validate']} | {r['prefill_tok_s']} "
            f"| {r['decode_tok_s']} | {r['peak_rss_mib']} |"
        )
    (HERE / "litert_quality.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
