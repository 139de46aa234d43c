"""edgekit against llama.cpp on the default Gemma 3 270M: size, cost, speed and quality, one run.

    .venv/bin/python benchmarks/run.py [--out benchmarks/out] [--threads 2]

Needs `make test`'s install (the converter stack) plus cmake and a C++ compiler for the peer:
llama.cpp is built once from llama-cpp-python's sdist into the edgekit cache (~4 min here).

Every artifact is measured the same way, in this run, on this machine:
- edgekit: one `edgekit convert --target all` (LiteRT-LM `.litertlm`/`.task`, ONNX) and one
  `--target onnx --quant auto --max-size 250`; quality by `edgekit validate`, speed by
  `edgekit bench`.
- llama.cpp: the embedded GGUF itself (Q4_K_M), and Q8_0 / Q4_K_M re-made by `llama-quantize`
  from an fp32 GGUF of the same source weights; quality from its teacher-forced logits over
  the same token ids, scored by edgekit's own metric code; speed by `llama-bench`.
- Quality is against the fp32 source (the GGUF dequantized), on the reference text.
- Roofline: decode speed as a fraction of (measured read bandwidth / bytes read per token),
  with the bytes read per token taken as the weight bytes (the tied embedding is read whole,
  as the output projection, on every token).

Writes benchmarks/results.md and results.png, and edgekit/data/benchmarks.json: the table
`edgekit plan` quotes (it ships inside the package).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import threading
import time
from datetime import date
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
TABLE = HERE.parent / "edgekit" / "data" / "benchmarks.json"
sys.path.insert(0, str(HERE.parent))

from benchmarks.edgekit_cli import edgekit  # noqa: E402
from benchmarks.peers import llama_cpp  # noqa: E402

PREFILL, DECODE = 256, 128
EDGEKIT_RUNS = (
    ("all", ("int8", "mixed", "int4"), ()),
    ("onnx", ("auto",), ("--max-size", "250")),
    ("litertlm", ("fp16", "fp32"), ()),  # float references for `edgekit plan`; no llama.cpp peer row
)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def read_bandwidth(threads: int, gib: float = 1.0) -> float:
    """Bytes/s for reading a buffer far larger than the caches, split across `threads`: the best
    of three rounds of three kernels that read each byte once (sum, max, and a dot product of a
    part with itself). np.sum alone once read 20 GB/s in this script, which put llama.cpp at
    105% of the roofline."""
    data = np.ones(int(gib * 2**30) // 4, dtype=np.float32)
    parts = np.array_split(data, threads)
    best = 0.0
    for _ in range(3):
        for kernel in (np.sum, np.max, lambda p: np.dot(p, p)):
            workers = [threading.Thread(target=kernel, args=(p,)) for p in parts]
            started = time.perf_counter()
            for w in workers:
                w.start()
            for w in workers:
                w.join()
            best = max(best, data.nbytes / (time.perf_counter() - started))
    return best


def weight_bytes(artifact: Path, fmt: str) -> int:
    if fmt == "onnx":
        return sum(p.stat().st_size for p in artifact.glob("model.onnx*"))
    if fmt == "gguf":
        from edgekit.formats.gguf import open_gguf

        return sum(t.nbytes for t in open_gguf(artifact).tensors)
    return artifact.stat().st_size  # .litertlm/.task: the tflite is nearly all of it


def cache_length(artifact: Path) -> int:
    manifest = artifact.with_name(artifact.name + ".edgekit.json")
    return int(json.loads(manifest.read_text())["recipe"]["cache_length"])


def edgekit_rows(out: Path, threads: int) -> tuple[list[dict], dict]:
    rows, conversions = [], {}
    for target, quants, extra in EDGEKIT_RUNS:
        log(f"edgekit convert --target {target} --quant {','.join(quants)} {' '.join(extra)}")
        conversion = edgekit(
            "convert", "--target", target, "--quant", ",".join(quants), *extra, "--out", str(out), "--force"
        )
        conversions[f"{target}: {','.join(quants)}"] = conversion
        for artifact in conversion["artifacts"]:
            path = Path(artifact["artifact"])
            log(f"validate + bench {path.name}")
            report = edgekit("validate", str(path), "--threads", str(threads))
            speed = edgekit(
                "bench",
                str(path),
                "--threads",
                str(threads),
                "--prefill-tokens",
                str(PREFILL),
                "--decode-tokens",
                str(DECODE),
            )
            tf = report["teacher_forced"]
            rows.append(
                {
                    "tool": "edgekit",
                    "artifact": path.name,
                    "format": artifact["format"],
                    "runtime": speed["runtime"],
                    "quant": artifact["quant"],
                    "mib": round(artifact["size_bytes"] / 2**20, 1),
                    "weight_bytes": weight_bytes(path, artifact["format"]),
                    "convert_s": conversion["seconds"],
                    "convert_peak_gib": round(conversion["peak_rss_bytes"] / 2**30, 2),
                    "load_s": speed["load_seconds"],
                    "prefill_tok_s": speed["prefill_tokens_per_second"],
                    "decode_tok_s": speed["decode_tokens_per_second"],
                    "ttft_s": speed["time_to_first_token_seconds"],
                    "top1": tf["top1_agreement"],
                    "kl_mean": tf["kl_mean"],
                    "kl_p99": tf["kl_p99"],
                    "ppl_ratio": tf["bundle_perplexity"] / tf["source_perplexity"],
                    "run_peak_mib": round(speed["peak_rss_bytes"] / 2**20, 1),
                    # KV tokens held at that peak: LiteRT-LM allocates the bundle's whole cache at load,
                    # onnxruntime grows it with the bench's prompt and answer.
                    "run_kv_tokens": PREFILL + DECODE if artifact["format"] == "onnx" else cache_length(path),
                }
            )
    return rows, conversions


def llama_rows(out: Path, golden_manifest: Path, threads: int) -> list[dict]:
    from edgekit.intake.checkpoint import load_checkpoint
    from edgekit.intake.default_model import default_gguf
    from edgekit.runtime.metrics import teacher_forced
    from tests.fixtures.gguf_writer import write_gguf

    log("building llama.cpp (cached after the first run)")
    llama_cpp.ensure_built(out / "llama-build.log")
    source_gguf = default_gguf()
    log("writing an fp32 GGUF of the source weights")
    f32 = write_gguf(load_checkpoint(source_gguf).hf_folder(), out / "gemma-3-270m-f32.gguf", qtype=None)
    models = [("Q4_K_M (the embedded GGUF)", source_gguf, {"seconds": None, "peak_rss_bytes": None})]
    for gguf_type in ("Q8_0", "Q4_K_M"):
        target = out / f"gemma-3-270m-{gguf_type}.gguf"
        log(f"llama-quantize {gguf_type}")
        models.append(
            (f"{gguf_type} (llama-quantize from fp32)", target, llama_cpp.quantize(f32, target, gguf_type, threads))
        )
    reference = json.loads(golden_manifest.read_text())["golden"]["reference"]
    ids = reference["ids"]
    rows = []
    for label, model, cost in models:
        log(f"llama.cpp {label}: teacher-forced logits and llama-bench")
        logits, load_s = llama_cpp.teacher_forced_logits(model, ids[:-1], threads)
        n = len(logits)
        tf = teacher_forced(
            logits,
            np.array(reference["top_ids"][:n]),
            np.array(reference["top_logprobs"][:n]),
            np.array(ids[1 : n + 1]),
            np.array(reference["target_logprobs"][:n]),
        )
        speed = llama_cpp.bench(model, threads, PREFILL, DECODE)
        rows.append(
            {
                "tool": "llama.cpp",
                "artifact": model.name,
                "format": "gguf",
                "runtime": "llama.cpp (CPU)",
                "quant": label,
                "mib": round(model.stat().st_size / 2**20, 1),
                "weight_bytes": weight_bytes(model, "gguf"),
                "convert_s": cost["seconds"],
                "convert_peak_gib": round(cost["peak_rss_bytes"] / 2**30, 2) if cost["peak_rss_bytes"] else None,
                "load_s": load_s,
                **{
                    k.replace("_tokens_per_second", "_tok_s").replace("time_to_first_token_seconds", "ttft_s"): v
                    for k, v in speed.items()
                },
                "top1": tf.top1_agreement,
                "kl_mean": tf.kl_mean,
                "kl_p99": tf.kl_p99,
                "ppl_ratio": tf.bundle_perplexity / tf.source_perplexity,
            }
        )
    return rows


def peer_for(row: dict, peers: dict[str, dict]) -> dict | None:
    """The llama.cpp row of the same bit width: Q8_0 for int8, Q4_K_M for 4-bit recipes."""
    if row["quant"] in ("fp16", "fp32"):
        return None
    return peers["Q8_0"] if row["quant"] == "int8" else peers["Q4_K_M"]


def chart(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (speed, quality) = plt.subplots(1, 2, figsize=(15, 6))
    labels = [f"{r['tool']} {r['quant']} {r['format']}" for r in rows]
    colors = ["#1f77b4" if r["tool"] == "edgekit" else "#d62728" for r in rows]
    speed.barh(labels, [r["decode_tok_s"] for r in rows], color=colors)
    speed.set_xlabel("decode tokens/s (2 threads, higher is better)")
    speed.invert_yaxis()
    for r, color in zip(rows, colors):
        kl = max(r["kl_mean"], 1e-7)  # fp32 can be exactly 0 on a log axis
        quality.scatter(r["mib"], kl, color=color)
        quality.annotate(f"{r['quant']} {r['format']}", (r["mib"], kl), fontsize=7)
    quality.set_xlabel("size on disk, MiB")
    quality.set_ylabel("mean KL to the fp32 source (lower is better)")
    quality.set_yscale("log")
    fig.suptitle("edgekit (blue) vs llama.cpp (red), Gemma 3 270M")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def write_results(rows: list[dict], meta: dict) -> None:
    peers = {
        ("Q8_0" if r["quant"].startswith("Q8_0") else "Q4_K_M"): r
        for r in rows
        if r["tool"] == "llama.cpp" and "llama-quantize" in r["quant"]
    }
    bandwidth = meta["read_bandwidth_gb_s"] * 1e9
    for r in rows:
        r["roofline_fraction"] = round(r["decode_tok_s"] / (bandwidth / r["weight_bytes"]), 3)
        if r["tool"] == "edgekit":
            peer = peer_for(r, peers)
            if peer is None:
                continue
            r["decode_vs_llama_cpp"] = round(r["decode_tok_s"] / peer["decode_tok_s"], 2)
            r["prefill_vs_llama_cpp"] = round(r["prefill_tok_s"] / peer["prefill_tok_s"], 2)
    TABLE.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    chart(rows, HERE / "results.png")
    lines = [
        f"# edgekit vs llama.cpp on Gemma 3 270M ({meta['date']}, {meta['machine']}, {meta['threads']} threads)",
        "",
        f"Generated by `benchmarks/run.py`; edgekit rows {meta.get('edgekit_rows', 'measured in this run')}. Speed: {PREFILL} prefill / {DECODE} decode tokens "
        "(`edgekit bench`, `llama-bench`). Quality: teacher-forced over the "
        f"{meta['positions']} positions of the reference text against the fp32 source (the embedded GGUF "
        "dequantized), top-8 bucketed KL, the same code for every row. Roofline: decode tok/s ÷ "
        f"(measured read bandwidth {meta['read_bandwidth_gb_s']:.1f} GB/s ÷ weight bytes). Ratios are to "
        "llama.cpp at the same width, re-quantized from the same fp32 source (Q8_0 for int8, Q4_K_M otherwise). "
        "MiB is the whole artifact (an ONNX folder carries a 33 MB tokenizer.json for onnxruntime-genai); "
        "weights MiB is the model graph / GGUF tensors alone. Convert s and peak GiB are per `edgekit convert` "
        "run (one run makes several artifacts).",
        "",
        "![chart](results.png)",
        "",
        "| tool | recipe | format (runtime) | MiB | weights MiB | convert s | convert peak GiB | load s | prefill tok/s "
        "| decode tok/s | TTFT s | run peak MiB | top-1 | KL mean | KL p99 | ppl ratio | roofline | decode / llama.cpp |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['tool']} | {r['quant']} | {r['format']} ({r['runtime']}) | {r['mib']} | "
            f"{r['weight_bytes'] / 2**20:.1f} | {r['convert_s'] or '-'} | "
            f"{r['convert_peak_gib'] or '-'} | {r['load_s']} | {r['prefill_tok_s']} | {r['decode_tok_s']} | {r['ttft_s']} | {r.get('run_peak_mib', '-')} | "
            f"{r['top1']:.1%} | {r['kl_mean']:.4f} | {r['kl_p99']:.3f} | {r['ppl_ratio']:.3f} | "
            f"{r['roofline_fraction']:.0%} | {r.get('decode_vs_llama_cpp', '-')} |"
        )
    lines += ["", "Conversions: " + "; ".join(f"`{k}` {v}" for k, v in meta["conversions"].items()) + "."]
    lines += conversion_curve()
    (HERE / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def conversion_curve() -> list[str]:
    """The conversion-cost-vs-size table from benchmarks/conversion_memory.py's last run."""
    saved = HERE / "conversion_memory.md"
    if not saved.exists():
        return []
    table = [line for line in saved.read_text().splitlines() if line.startswith("|")]
    return ["", "## Conversion cost vs model size (`benchmarks/conversion_memory.py`, its own run)", "", *table]


def rerender() -> None:
    """Rewrite results.md/png from the saved table (after a change of layout, no new measurement)."""
    saved = json.loads(TABLE.read_text())
    write_results(saved["rows"], saved["meta"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "out")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--reuse-edgekit",
        action="store_true",
        help="Take the edgekit rows from the last run in --out; measure the peers again.",
    )
    parser.add_argument(
        "--rerender",
        action="store_true",
        help="Rewrite results.md/png from the saved table (and the conversion curve); measure nothing.",
    )
    args = parser.parse_args()
    if args.rerender:
        rerender()
        return
    args.out.mkdir(parents=True, exist_ok=True)

    saved = args.out / "edgekit-rows.json"
    if args.reuse_edgekit and saved.exists():
        rows, conversions = json.loads(saved.read_text()).values()
    else:
        rows, conversions = edgekit_rows(args.out, args.threads)
        saved.write_text(json.dumps({"rows": rows, "conversions": conversions}))
    manifest = next(args.out.glob("*-int8.litertlm.edgekit.json"))
    rows += llama_rows(args.out, manifest, args.threads)
    log("measuring read bandwidth")
    meta = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}",
        "threads": args.threads,
        "read_bandwidth_gb_s": round(read_bandwidth(args.threads) / 1e9, 2),
        "edgekit_rows": "reused from an earlier run (--reuse-edgekit)"
        if args.reuse_edgekit
        else "measured in this run",
        "positions": len(json.loads(manifest.read_text())["golden"]["reference"]["ids"]) - 1,
        "conversions": {
            k: f"{c['seconds']} s, peak RSS {c['peak_rss_bytes'] / 2**30:.2f} GiB" for k, c in conversions.items()
        },
    }
    write_results(rows, meta)


if __name__ == "__main__":
    main()
