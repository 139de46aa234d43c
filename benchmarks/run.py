"""edgekit against llama.cpp on the default Gemma 3 270M: size, cost, speed and quality, one run.

    .venv/bin/python benchmarks/run.py [--out benchmarks/out] [--threads 2] [--rounds 3]

Needs `make test`'s install (the converter stack) plus cmake and a C++ compiler for the peer:
llama.cpp is built once from llama-cpp-python's sdist into the edgekit cache (~4 min here).

Every artifact is measured the same way, in this run, on this machine:
- edgekit: one `edgekit convert --target all` (LiteRT-LM `.litertlm`/`.task`, ONNX), one
  `--target onnx --quant auto,int8-fast --max-size 250`, one `--target android --quant int8-rare4` (its
  export splits the table), float `.litertlm` references, and the int8
  `.litertlm` again with a 4096-token KV cache (what a longer cache costs LiteRT-LM's decode,
  which `edgekit plan` reads); quality by `edgekit validate`, speed by `edgekit bench`.
- llama.cpp: the embedded GGUF itself (Q4_K_M), and Q8_0 / Q4_K_M re-made by `llama-quantize`
  from an fp32 GGUF of the same source weights; quality from its teacher-forced logits over
  the same token ids, scored by edgekit's own metric code; speed by `llama-bench`.
- onnxruntime-genai: its own model builder's int4 and int8 graphs of the same fp32 weights,
  run by onnxruntime-genai (`benchmarks/peers/ort_genai.py`); quality from its logits one
  token at a time over the same ids, scored by edgekit's metric code.
- Speed: every artifact once per round, `--rounds` interleaved rounds (so a slow spell of the
  machine hits every row alike), median and min-max of the rounds.
- Quality is against the fp32 source (the GGUF dequantized), on the reference text.
- Roofline: decode speed as a fraction of (measured read bandwidth / bytes read per token),
  with the bytes read per token taken as the weight bytes (the tied embedding is read whole,
  as the output projection, on every token; `int8-fast` reads only its top nibbles; a
  separate table that only a lookup reads, as genai's int8 graph has, is not counted).

Writes benchmarks/results.md and results.png, and edgekit/data/benchmarks.json: the table
`edgekit plan` quotes (it ships inside the package).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import threading
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
TABLE = HERE.parent / "edgekit" / "data" / "benchmarks.json"
sys.path.insert(0, str(HERE.parent))

from benchmarks.edgekit_cli import edgekit  # noqa: E402
from benchmarks.peers import llama_cpp, ort_genai  # noqa: E402

PREFILL, DECODE = 256, 128
LONG_CACHE = 4096


@dataclass(frozen=True)
class EdgekitRun:
    target: str
    quants: tuple[str, ...]
    extra: tuple[str, ...] = ()
    folder: str = ""  # under --out, for a run whose artifact names another run also writes


EDGEKIT_RUNS = (
    EdgekitRun("all", ("int8", "mixed", "int4")),
    EdgekitRun("onnx", ("auto", "int8-fast"), ("--max-size", "250")),
    EdgekitRun("android", ("int8-rare4",)),  # its own export: the table split (converters/table_split.py)
    EdgekitRun("litertlm", ("fp16", "fp32")),  # float references for `edgekit plan`; no llama.cpp peer row
    # what a longer KV cache costs LiteRT-LM's decode, for `edgekit plan --context`
    EdgekitRun("litertlm", ("int8",), ("--max-tokens", str(LONG_CACHE)), f"cache-{LONG_CACHE}"),
)
SPEED_FIGURES = ("prefill_tok_s", "decode_tok_s", "ttft_s", "load_s", "run_peak_mib")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


SIMD_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "asimddp", "i8mm")


def cpu_description() -> str:
    """The architecture, the CPU's model and the SIMD extensions that the int8 kernels of
    XNNPACK, onnxruntime and llama.cpp pick their code paths by (/proc/cpuinfo): runs on two
    x86_64 machines differ by 2-4x in LiteRT-LM's prefill."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.machine()
    model = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "cpu")
    flags = next(
        (set(line.split(":", 1)[1].split()) for line in lines if line.startswith(("flags", "Features"))), set()
    )
    return f"{platform.machine()}, {model} ({', '.join(f for f in SIMD_FLAGS if f in flags) or 'none of ' + '/'.join(SIMD_FLAGS)})"


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


def unread_bytes(artifact: Path) -> int:
    """Weight bytes a decode step does not read: the low nibbles of a table whose output
    projection ranks by its top nibbles (`int8-fast`, `converters.onnx_head`), bar its leaders."""
    manifest = json.loads(artifact.with_name(artifact.name + ".edgekit.json").read_text())
    weights = manifest["recipe"].get("onnx_weights") or {}
    if not weights.get("head_candidates"):
        return 0
    rows, cols = max((w["shape"] for w in weights["weights"]), key=lambda shape: shape[0] * shape[1])
    return rows * cols // 2


def lookup_only_bytes(folder: Path) -> int:
    """Bytes of a graph's initializers that only a Gather reads (an embedding table kept apart
    from the output projection, as onnxruntime-genai's int8 builder keeps its float32 one): a
    decode step reads one row of them, not the table."""
    import onnx

    graph = onnx.load(str(folder / "model.onnx"), load_external_data=False).graph
    readers: dict[str, set[str]] = {}
    for node in graph.node:
        for name in node.input:
            readers.setdefault(name, set()).add(node.op_type)
    total = 0
    for init in graph.initializer:
        if readers.get(init.name) == {"Gather"}:
            length = {e.key: e.value for e in init.external_data}.get("length")
            total += int(length) if length else len(init.raw_data)
    return total


def cache_length(artifact: Path) -> int:
    manifest = artifact.with_name(artifact.name + ".edgekit.json")
    return int(json.loads(manifest.read_text())["recipe"]["cache_length"])


def edgekit_rows(out: Path, threads: int, saved: Path, reuse: bool) -> tuple[list[dict], dict]:
    """Convert and validate (speed comes from `speed_rounds`), saving each conversion's rows in
    `saved` as it lands; with `reuse`, the conversions `saved` holds are kept, not made again."""
    kept = json.loads(saved.read_text()) if reuse and saved.exists() else {"rows": [], "conversions": {}}
    rows, conversions = kept["rows"], kept["conversions"]
    for run in EDGEKIT_RUNS:
        folder = out / run.folder
        command = f"--target {run.target} --quant {','.join(run.quants)} {' '.join(run.extra)}".strip()
        if command in conversions:
            log(f"kept from the last run: edgekit convert {command}")
            continue
        log(f"edgekit convert {command}")
        conversion = edgekit(
            "convert", "--target", run.target, "--quant", ",".join(run.quants), *run.extra,
            "--out", str(folder), "--force",
        )  # fmt: skip
        conversions[command] = conversion
        for artifact in conversion["artifacts"]:
            path = Path(artifact["artifact"])
            log(f"validate {path.name}")
            tf = edgekit("validate", str(path), "--threads", str(threads))["teacher_forced"]
            rows.append(
                {
                    "tool": "edgekit",
                    "artifact": path.name,
                    "path": str(path),
                    "format": artifact["format"],
                    "quant": artifact["quant"],
                    "cache_length": cache_length(path),
                    "mib": round(artifact["size_bytes"] / 2**20, 1),
                    "weight_bytes": weight_bytes(path, artifact["format"]),
                    "read_bytes": weight_bytes(path, artifact["format"]) - unread_bytes(path),
                    "convert_s": conversion["seconds"],
                    "convert_peak_gib": round(conversion["peak_rss_bytes"] / 2**30, 2),
                    "top1": tf["top1_agreement"],
                    "kl_mean": tf["kl_mean"],
                    "kl_p99": tf["kl_p99"],
                    "ppl_ratio": tf["bundle_perplexity"] / tf["source_perplexity"],
                    # KV tokens held at the run's peak: LiteRT-LM allocates the bundle's whole cache at
                    # load, onnxruntime grows it with the bench's prompt and answer.
                    "run_kv_tokens": PREFILL + DECODE if artifact["format"] == "onnx" else cache_length(path),
                }
            )
        saved.write_text(json.dumps({"rows": rows, "conversions": conversions}))
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
        rows.append(
            {
                "tool": "llama.cpp",
                "artifact": model.name,
                "path": str(model),
                "format": "gguf",
                "runtime": "llama.cpp (CPU)",
                "quant": label,
                "mib": round(model.stat().st_size / 2**20, 1),
                "weight_bytes": weight_bytes(model, "gguf"),
                "convert_s": cost["seconds"],
                "convert_peak_gib": round(cost["peak_rss_bytes"] / 2**30, 2) if cost["peak_rss_bytes"] else None,
                "load_s": load_s,
                "top1": tf.top1_agreement,
                "kl_mean": tf.kl_mean,
                "kl_p99": tf.kl_p99,
                "ppl_ratio": tf.bundle_perplexity / tf.source_perplexity,
            }
        )
    return rows


def genai_rows(out: Path, golden_manifest: Path, threads: int) -> list[dict]:
    from edgekit.intake.checkpoint import load_checkpoint
    from edgekit.intake.default_model import default_gguf

    hf_dir = load_checkpoint(default_gguf()).hf_folder()
    rows = []
    for precision in ("int4", "int8"):
        log(f"onnxruntime-genai's builder: {precision} graph of the fp32 source (kept between runs), teacher-forced")
        folder = ort_genai.build(hf_dir, out / f"genai-{precision}", threads, precision)
        graph_bytes = weight_bytes(folder, "onnx")
        rows.append(
            {
                "tool": "onnxruntime-genai",
                "artifact": folder.name,
                "path": str(folder),
                "format": "onnx",
                "runtime": "onnxruntime-genai (CPU)",
                "quant": f"{precision} (its model builder, from fp32)",
                "mib": round(sum(p.stat().st_size for p in folder.iterdir()) / 2**20, 1),
                "weight_bytes": graph_bytes,
                "read_bytes": graph_bytes - lookup_only_bytes(folder),
                "convert_s": None,  # built once and kept: no cost to compare
                "convert_peak_gib": None,
                **ort_genai.teacher_forced(folder, golden_manifest),
            }
        )
    return rows


def bench_once(row: dict, threads: int) -> dict:
    """One timed run of the row's artifact in its own runtime, in edgekit bench's field names."""
    path = Path(row["path"])
    if row["tool"] == "llama.cpp":
        speed = llama_cpp.bench(path, threads, PREFILL, DECODE, repetitions=1)
    elif row["tool"] == "onnxruntime-genai":
        speed = ort_genai.bench(path, PREFILL, DECODE)
    else:
        speed = edgekit(
            "bench", str(path), "--threads", str(threads), "--prefill-tokens", str(PREFILL),
            "--decode-tokens", str(DECODE),
        )  # fmt: skip
        row["runtime"] = speed["runtime"]
    return {
        "prefill_tok_s": speed["prefill_tokens_per_second"],
        "decode_tok_s": speed["decode_tokens_per_second"],
        "ttft_s": speed["time_to_first_token_seconds"],
        "load_s": speed.get("load_seconds"),
        "run_peak_mib": round(speed["peak_rss_bytes"] / 2**20, 1) if speed.get("peak_rss_bytes") else None,
    }


def speed_rounds(rows: list[dict], threads: int, rounds: int) -> None:
    """Every row once per round, rounds interleaved; each figure becomes the median of the rounds
    (its min-max under `<figure>_range`). llama.cpp's load time is its own teacher-forced load."""
    runs: list[list[dict]] = [[] for _ in rows]
    for number in range(rounds):
        for row, row_runs in zip(rows, runs):
            log(f"round {number + 1}/{rounds}: {row['tool']} {row['quant']} {row['format']}")
            row_runs.append(bench_once(row, threads))
    for row, row_runs in zip(rows, runs):
        for figure in SPEED_FIGURES:
            values = [run[figure] for run in row_runs if run[figure] is not None]
            if values:
                row[figure] = round(statistics.median(values), 3 if figure in ("ttft_s", "load_s") else 1)
                row[f"{figure}_range"] = [min(values), max(values)]


def peer_for(row: dict, peers: dict[int, dict]) -> dict | None:
    """The peer row of the same bit width (`peers` by 8 and 4): llama.cpp Q8_0 or genai's int8
    graph for 8-bit recipes, Q4_K_M or genai's int4 graph for the rest."""
    if row["quant"] in ("fp16", "fp32"):
        return None
    return peers[8] if row["quant"] in ("int8", "int8-fast") else peers[4]


TOOL_COLORS = {"edgekit": "#1f77b4", "llama.cpp": "#d62728", "onnxruntime-genai": "#7f7f7f"}


def chart(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if r.get("cache_length") != LONG_CACHE]  # one bar per artifact kind; peers have none
    fig, (speed, quality) = plt.subplots(1, 2, figsize=(15, 6))
    labels = [f"{r['tool']} {r['quant']} {r['format']}" for r in rows]
    colors = [TOOL_COLORS[r["tool"]] for r in rows]
    low, high = zip(*(r["decode_tok_s_range"] for r in rows))
    decode = [r["decode_tok_s"] for r in rows]
    errors = [[d - lo for d, lo in zip(decode, low)], [hi - d for d, hi in zip(decode, high)]]
    speed.barh(labels, decode, xerr=errors, color=colors)
    speed.set_xlabel("decode tokens/s (2 threads, median and min-max of the rounds; higher is better)")
    speed.invert_yaxis()
    for r, color in zip(rows, colors):
        if r["kl_mean"] is None:
            continue
        kl = max(r["kl_mean"], 1e-7)  # fp32 can be exactly 0 on a log axis
        quality.scatter(r["mib"], kl, color=color)
        quality.annotate(f"{r['quant']} {r['format']}", (r["mib"], kl), fontsize=7)
    quality.set_xlabel("size on disk, MiB")
    quality.set_ylabel("mean KL to the fp32 source (lower is better)")
    quality.set_yscale("log")
    fig.suptitle("edgekit (blue) vs llama.cpp (red) and onnxruntime-genai's builder (grey), Gemma 3 270M")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def _cell(value: float | None, form: str) -> str:
    return "-" if value is None else format(value, form)


def _with_range(row: dict, figure: str) -> str:
    low, high = row[f"{figure}_range"]
    return f"{row[figure]} ({low}-{high})"


def write_results(rows: list[dict], meta: dict) -> None:
    peers = {
        (8 if r["quant"].startswith("Q8_0") else 4): r
        for r in rows
        if r["tool"] == "llama.cpp" and "llama-quantize" in r["quant"]
    }
    genai = {(8 if r["quant"].startswith("int8") else 4): r for r in rows if r["tool"] == "onnxruntime-genai"}
    bandwidth = meta["read_bandwidth_gb_s"] * 1e9
    for r in rows:
        r["roofline_fraction"] = round(r["decode_tok_s"] / (bandwidth / r.get("read_bytes", r["weight_bytes"])), 3)
        if r["tool"] == "edgekit":
            builder = peer_for(r, genai) if r["format"] == "onnx" else None
            if builder is not None:
                r["decode_vs_genai"] = round(r["decode_tok_s"] / builder["decode_tok_s"], 2)
            peer = peer_for(r, peers)
            if peer is None:
                continue
            r["decode_vs_llama_cpp"] = round(r["decode_tok_s"] / peer["decode_tok_s"], 2)
            r["prefill_vs_llama_cpp"] = round(r["prefill_tok_s"] / peer["prefill_tok_s"], 2)
    TABLE.write_text(
        json.dumps({"meta": meta, "rows": [{k: v for k, v in r.items() if k != "path"} for r in rows]}, indent=1)
    )
    chart(rows, HERE / "results.png")
    lines = [
        f"# edgekit vs llama.cpp on Gemma 3 270M ({meta['date']}, {meta['machine']}, {meta['threads']} threads)",
        "",
        f"Generated by `benchmarks/run.py`; edgekit rows {meta.get('edgekit_rows', 'measured in this run')}. Speed: {PREFILL} prefill / {DECODE} decode tokens "
        f"(`edgekit bench`, `llama-bench`, onnxruntime-genai's generator), every artifact once in each of {meta['rounds']} "
        "interleaved rounds: median (min-max). Quality: teacher-forced over the "
        f"{meta['positions']} positions of the reference text against the fp32 source (the embedded GGUF "
        "dequantized), top-8 bucketed KL, the same code for every row. Roofline: decode tok/s ÷ "
        f"(measured read bandwidth {meta['read_bandwidth_gb_s']:.1f} GB/s ÷ weight bytes read per token: all of "
        "them, but for `int8-fast`'s table only its top nibbles, and none of a table that only a lookup reads). Ratios are to "
        "llama.cpp at the same width, re-quantized from the same fp32 source (Q8_0 for int8 and int8-fast, Q4_K_M otherwise), "
        "and, for ONNX graphs, to onnxruntime-genai's builder graph of the same width (int8 for int8 and int8-fast, int4 otherwise). "
        "MiB is the whole artifact (an ONNX folder carries a 33 MB tokenizer.json for onnxruntime-genai); "
        "weights MiB is the model graph / GGUF tensors alone. Convert s and peak GiB are per `edgekit convert` "
        "run (one run makes several artifacts). KV cache: the tokens a LiteRT bundle allocates at load "
        "(its --max-tokens); an ONNX run grows its cache to the tokens it holds.",
        "",
        "![chart](results.png)",
        "",
        "| tool | recipe | format (runtime) | KV cache | MiB | weights MiB | convert s | convert peak GiB | load s "
        "| prefill tok/s | decode tok/s | TTFT s | run peak MiB | top-1 | KL mean | KL p99 | ppl ratio | roofline "
        "| prefill / llama.cpp | decode / llama.cpp | decode / genai builder |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['tool']} | {r['quant']} | {r['format']} ({r['runtime']}) | {r.get('cache_length', '-')} | {r['mib']} | "
            f"{r['weight_bytes'] / 2**20:.1f} | {r['convert_s'] or '-'} | "
            f"{r['convert_peak_gib'] or '-'} | {r['load_s']} | {_with_range(r, 'prefill_tok_s')} | "
            f"{_with_range(r, 'decode_tok_s')} | {r['ttft_s']} | {r.get('run_peak_mib', '-')} | "
            f"{_cell(r['top1'], '.1%')} | {_cell(r['kl_mean'], '.4f')} | {_cell(r['kl_p99'], '.3f')} | "
            f"{_cell(r['ppl_ratio'], '.3f')} | {r['roofline_fraction']:.0%} | {r.get('prefill_vs_llama_cpp', '-')} | "
            f"{r.get('decode_vs_llama_cpp', '-')} | {r.get('decode_vs_genai', '-')} |"
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
    parser.add_argument("--rounds", type=int, default=3, help="Interleaved speed rounds (median and min-max).")
    parser.add_argument(
        "--reuse-edgekit",
        action="store_true",
        help="Keep the conversions (and their quality) that the last run in --out finished; make the rest. "
        "Speed is always measured in this run's rounds.",
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

    rows, conversions = edgekit_rows(args.out, args.threads, args.out / "edgekit-rows.json", args.reuse_edgekit)
    manifest = next(args.out.glob("*-int8.litertlm.edgekit.json"))
    rows += llama_rows(args.out, manifest, args.threads)
    rows += genai_rows(args.out, manifest, args.threads)
    speed_rounds(rows, args.threads, args.rounds)
    log("measuring read bandwidth")
    meta = {
        "date": date.today().isoformat(),
        "machine": cpu_description(),
        "threads": args.threads,
        "rounds": args.rounds,
        "read_bandwidth_gb_s": round(read_bandwidth(args.threads) / 1e9, 2),
        "edgekit_rows": "converted and scored in an earlier run (--reuse-edgekit), timed in this run"
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
