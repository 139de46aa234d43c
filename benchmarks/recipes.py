"""Size, quality and speed of every recipe and format on the default model, in one run.

    .venv/bin/python benchmarks/recipes.py [--out benchmarks/out] [--threads 2]

Converts the embedded Gemma 3 270M with every LiteRT recipe, fp32 and fp16 included (one
float export; `.litertlm`, run in LiteRT-LM; ONNX is measured beside llama.cpp by
benchmarks/run.py); then for each artifact
`edgekit validate --json` (quality vs the golden outputs) and `edgekit bench --json` (CPU speed). Writes benchmarks/recipes.md and benchmarks/recipes.json; the
README's recipe table quotes that file.
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

RUNS = (("litertlm", ("fp32", "fp16", "int8", "mixed", "int4")),)  # ONNX and the peers: benchmarks/run.py


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "out")
    parser.add_argument("--threads", default="2")
    args = parser.parse_args()

    rows, conversions = [], {}
    artifacts = []
    for target, quants in RUNS:
        conversion = edgekit(
            "convert", "--quant", ",".join(quants), "--target", target, "--out", str(args.out), "--force"
        )
        conversions[target] = conversion
        artifacts += conversion["artifacts"]
    for artifact in artifacts:
        path = artifact["artifact"]
        report = edgekit("validate", path, "--threads", args.threads)
        speed = edgekit("bench", path, "--threads", args.threads)
        tf = report["teacher_forced"]
        rows.append(
            {
                "format": artifact["format"],
                "runtime": speed["runtime"],
                "quant": artifact["quant"],
                "mib": round(artifact["size_bytes"] / 2**20, 1),
                "top1": round(tf["top1_agreement"], 4),
                "kl_mean": round(tf["kl_mean"], 5),
                "kl_p99": round(tf["kl_p99"], 4),
                "perplexity": round(tf["bundle_perplexity"], 3),
                "source_perplexity": round(tf["source_perplexity"], 3),
                "first_token": next(c["value"] for c in report["checks"] if c["name"].startswith("first-token")),
                "validate": "pass" if report["passed"] else "fail",
                "prefill_tok_s": speed["prefill_tokens_per_second"],
                "decode_tok_s": speed["decode_tokens_per_second"],
                "ttft_s": speed["time_to_first_token_seconds"],
            }
        )
    meta = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}",
        "threads": args.threads,
        "conversion": {
            t: f"{c['seconds']} s, peak RSS {c['peak_rss_bytes'] / 2**30:.2f} GiB" for t, c in conversions.items()
        },
        "positions": tf["positions"],
    }
    (HERE / "recipes.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    lines = [
        f"# Recipes on Gemma 3 270M ({meta['date']}, {meta['machine']}, {meta['threads']} threads)",
        "",
        "Conversions of the embedded model, every recipe per format: "
        + "; ".join(f"{t}: {v}" for t, v in meta["conversion"].items())
        + ". Quality: teacher-forced over "
        f"{meta['positions']} positions of the reference text against the source's golden outputs; "
        "speed: `edgekit bench` (CPU, 256 prefill / 128 decode tokens).",
        "",
        "| format (runtime) | recipe | MiB | top-1 | KL mean | KL p99 | perplexity (source) | first token "
        "| validate | prefill tok/s | decode tok/s | TTFT s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['format']} ({r['runtime']}) | {r['quant']} | {r['mib']} | {r['top1']:.1%} | {r['kl_mean']} | {r['kl_p99']} | "
            f"{r['perplexity']} ({r['source_perplexity']}) | {r['first_token']:.0%} | {r['validate']} | "
            f"{r['prefill_tok_s']} | {r['decode_tok_s']} | {r['ttft_s']} |"
        )
    (HERE / "recipes.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
