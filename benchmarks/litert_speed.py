"""LiteRT-LM speed levers on the default Gemma 3 270M, A/B in one run: benchmarks/litert_speed.md.

    .venv/bin/python benchmarks/litert_speed.py [--out benchmarks/out/litert_speed] [--rounds 5]
        [--threads 2] [--no-peers]

The embedded model, with activation outliers migrated as `edgekit convert` does, is exported to
float LiteRT once per variant: litert-torch's graph flags (`converters.litert_export.
GraphOptions`: fused q/k/v and gate/up projections, composite ops for SwiGLU, RoPE and
attention), the prefill signature's length and the KV cache's. Each export is quantized with
the shipped recipes (`converters.litert_quantize`) and packed as a `.litertlm` the way
`edgekit convert` packs it. Each bundle is scored teacher-forced against
the source's golden outputs through the LiteRT interpreter (where the interpreter can feed its
signature) and timed by `edgekit bench` in LiteRT-LM; every bundle runs once per round, rounds
interleaved, with llama.cpp's `llama-bench` on Q8_0 (re-made from fp32) and on the embedded
Q4_K_M in the same rounds. The table gives the median and spread (min-max) of the rounds and
the ratio of medians to the first row of the same recipe and to llama.cpp.
Results are saved after every step (benchmarks/litert_speed.json).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks.edgekit_cli import edgekit  # noqa: E402
from edgekit.converters.litert_export import GraphOptions  # noqa: E402

PREFILL, DECODE = 256, 128
FUSED = GraphOptions(fuse_qkv=True, fuse_gate_up=True)


@dataclass(frozen=True)
class Variant:
    label: str
    graph: GraphOptions
    quants: tuple[str, ...]
    prefill_lengths: tuple[int, ...] = (128,)  # `edgekit convert`'s defaults
    cache_length: int = 1024


VARIANTS = (
    Variant("separate q/k/v and gate/up projections (today)", GraphOptions(), ("int8", "int4")),
    Variant("fused q/k/v and gate/up projections", FUSED, ("int8", "int4")),
    Variant("fused + SwiGLU composite", replace(FUSED, use_swiglu_composite=True), ("int8",)),
    Variant("fused + RoPE composite", replace(FUSED, use_rope_composite=True), ("int8",)),
    Variant("fused + attention (SDPA) composite", replace(FUSED, use_sdpa_composite=True), ("int8",)),
    Variant("today's graph, prefill signature 256 (--prefill 256)", GraphOptions(), ("int8",), prefill_lengths=(256,)),
    Variant("today's graph, KV cache 4096 (--max-tokens 4096)", GraphOptions(), ("int8",), cache_length=4096),
)
INTERPRETER_INPUTS = {"tokens", "input_pos", "mask"}  # and kv_cache_*: what TfliteRunner feeds


def log(text: str) -> None:
    print(f"[litert_speed] {text}", file=sys.stderr, flush=True)


def _interpreter_can_feed(bundle: Path) -> bool:
    from edgekit.formats.tflite import interpreter
    from edgekit.runtime.artifact import PREFILL_DECODE, open_artifact

    model = interpreter(open_artifact(bundle).model_bytes(PREFILL_DECODE), 1)
    inputs = model.get_signature_list()["decode"]["inputs"]
    return all(name in INTERPRETER_INPUTS or name.startswith("kv_cache_") for name in inputs)


def build_bundles(out: Path, threads: int) -> list[dict]:
    """One float export per variant, each of its recipes packed and scored; the float models go.
    Bundles and scores are kept in `out` (bundles.json): a rerun makes and scores only what is
    missing (delete the folder after changing the export or the recipes)."""
    from benchmarks.litert_quality import quality_cells
    from edgekit.converters.golden import record_source_golden
    from edgekit.converters.isolated import run_isolated
    from edgekit.converters.litert_export import export_float
    from edgekit.converters.litert_package import ChatMetadata, write_litertlm
    from edgekit.converters.litert_quantize import quantize_tflite
    from edgekit.converters.pipeline import calibration_ids
    from edgekit.converters.smoothing import smooth_folder
    from edgekit.families import GEMMA_CHAT
    from edgekit.intake.checkpoint import load_checkpoint
    from edgekit.intake.default_model import default_gguf
    from edgekit.runtime.artifact import open_artifact
    from edgekit.runtime.tflite_runner import TfliteRunner
    from edgekit.runtime.validate import teacher_forced_over

    saved = out / "bundles.json"
    kept = {(r["variant"], r["quant"]): r for r in json.loads(saved.read_text())} if saved.exists() else {}
    ckpt = load_checkpoint(default_gguf())
    hf_dir = ckpt.hf_folder()
    ids = calibration_ids(hf_dir, GEMMA_CHAT.start_token)
    log("recording the source's golden outputs")
    reference = run_isolated(record_source_golden, hf_dir, GEMMA_CHAT.start_token).reference
    meta = ChatMetadata(GEMMA_CHAT, ckpt.family.litert_lm_model_type)
    source = None
    rows = []
    for number, variant in enumerate(VARIANTS):
        bundles = {quant: out / f"variant-{number}-{quant}.litertlm" for quant in variant.quants}
        if not all(bundle.exists() for bundle in bundles.values()):
            if source is None:
                log("migrating activation outliers")
                source = run_isolated(smooth_folder, hf_dir, out / "hf", ids, ckpt.family.pre_mlp_norm)
            work = out / f"variant-{number}"
            work.mkdir(parents=True, exist_ok=True)
            log(f"variant {number + 1}/{len(VARIANTS)}: exporting ({variant.label})")
            exported = run_isolated(
                export_float, source, work, variant.prefill_lengths, variant.cache_length, variant.graph
            )
            for quant, bundle in bundles.items():
                log(f"variant {number + 1}/{len(VARIANTS)}: {quant}")
                quantized = quantize_tflite(exported.tflite, quant, 32, work / f"{quant}.tflite")
                write_litertlm(
                    quantized.path,
                    hf_dir / "tokenizer.model",
                    meta,
                    variant.cache_length,
                    exported.executor_metadata,
                    bundle,
                )
                kept.pop((variant.label, quant), None)
            for leftover in work.glob("*.tflite"):
                leftover.unlink()
        for quant, bundle in bundles.items():
            if (variant.label, quant) not in kept:
                log(f"variant {number + 1}/{len(VARIANTS)}: scoring {quant}")
                quality = None
                if _interpreter_can_feed(bundle):
                    runner = TfliteRunner(open_artifact(bundle), threads)
                    quality = quality_cells(teacher_forced_over(runner, reference))
                kept[(variant.label, quant)] = {
                    "variant": variant.label,
                    "quant": quant,
                    "bundle": str(bundle),
                    "mib": round(bundle.stat().st_size / 2**20, 1),
                    "quality": quality,
                }
                saved.write_text(json.dumps(list(kept.values()), indent=1))
            rows.append({**kept[(variant.label, quant)], "runs": []})
    return rows


def peer_rows(out: Path, threads: int) -> list[dict]:
    from benchmarks.peers import llama_cpp
    from edgekit.intake.checkpoint import load_checkpoint
    from edgekit.intake.default_model import default_gguf
    from tests.fixtures.gguf_writer import write_gguf

    llama_cpp.ensure_built(out / "llama-build.log")
    q8_0 = out / "gemma-3-270m-Q8_0.gguf"
    if not q8_0.exists():
        log("llama-quantize Q8_0 from fp32")
        f32 = write_gguf(load_checkpoint(default_gguf()).hf_folder(), out / "gemma-3-270m-f32.gguf", qtype=None)
        llama_cpp.quantize(f32, q8_0, "Q8_0", threads)
        f32.unlink()
    return [
        {"variant": "llama.cpp Q8_0 (llama-quantize from fp32)", "quant": "Q8_0", "gguf": str(q8_0), "runs": []},
        {"variant": "llama.cpp Q4_K_M (the embedded GGUF)", "quant": "Q4_K_M", "gguf": str(default_gguf()), "runs": []},
    ]


def bench_once(row: dict, threads: int) -> dict:
    if "gguf" in row:
        from benchmarks.peers import llama_cpp

        speed = llama_cpp.bench(Path(row["gguf"]), threads, PREFILL, DECODE, repetitions=1)
    else:
        speed = edgekit(
            "bench", row["bundle"], "--threads", str(threads), "--prefill-tokens", str(PREFILL),
            "--decode-tokens", str(DECODE),
        )  # fmt: skip
    return {
        "prefill_tok_s": speed["prefill_tokens_per_second"],
        "decode_tok_s": speed["decode_tokens_per_second"],
        "peak_rss_mib": round(speed["peak_rss_bytes"] / 2**20) if speed.get("peak_rss_bytes") else None,
    }


def _median(row: dict, figure: str) -> float:
    return statistics.median(run[figure] for run in row["runs"])


def _spread(row: dict, figure: str) -> str:
    values = [run[figure] for run in row["runs"]]
    return f"{statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f})"


def report(meta: dict, rows: list[dict]) -> str:
    first = {}
    for row in rows:
        first.setdefault(row["quant"], row)
    peer = {"int8": first.get("Q8_0"), "int4": first.get("Q4_K_M")}
    lines = [
        f"# LiteRT-LM speed levers on Gemma 3 270M ({meta['date']}, {meta['machine']}, {meta['threads']} threads)",
        "",
        f"Written by `benchmarks/litert_speed.py`: {PREFILL} prompt / {DECODE} generated tokens, KV cache "
        f"1024 and prefill signature 128 unless the row says otherwise, {meta['rounds']} interleaved rounds, median "
        "(min-max). `.litertlm` bundles of the shipped recipes in LiteRT-LM (`edgekit bench`), llama.cpp by "
        "`llama-bench`, in the same rounds. Top-1 and KL: teacher-forced over the reference text against the "
        "source's golden outputs, through the LiteRT interpreter ('-': its signature takes an input the "
        "interpreter runner does not feed). Ratios: medians against the first row of the same recipe "
        "(`vs today`) and against llama.cpp Q8_0 (int8) or Q4_K_M (int4).",
        "",
        "| graph | recipe | MiB | top-1 | KL mean | prefill tok/s | decode tok/s | run peak MiB "
        "| prefill vs today | decode vs today | prefill vs llama.cpp | decode vs llama.cpp |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        if not row["runs"]:
            continue
        quality = row.get("quality")
        cells = [
            row["variant"],
            row["quant"],
            str(row.get("mib", "-")),
            f"{quality['top1']:.1%}" if quality else "-",
            str(quality["kl_mean"]) if quality else "-",
            _spread(row, "prefill_tok_s"),
            _spread(row, "decode_tok_s"),
            str(max((run["peak_rss_mib"] or 0) for run in row["runs"]) or "-"),
        ]
        for reference in (first[row["quant"]], peer.get(row["quant"])):
            for figure in ("prefill_tok_s", "decode_tok_s"):
                usable = reference is not None and reference["runs"] and "gguf" not in row
                cells.append(f"{_median(row, figure) / _median(reference, figure):.3f}" if usable else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def save(meta: dict, rows: list[dict]) -> None:
    kept = [{key: value for key, value in row.items() if key not in ("bundle", "gguf")} for row in rows]  # local paths
    (HERE / "litert_speed.json").write_text(json.dumps({"meta": meta, "rows": kept}, indent=1))
    (HERE / "litert_speed.md").write_text(report(meta, rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "out" / "litert_speed")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-peers", action="store_true", help="leave llama.cpp out")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    meta = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}",
        "threads": args.threads,
        "rounds": args.rounds,
    }
    rows = build_bundles(args.out, args.threads)
    if not args.no_peers:
        rows += peer_rows(args.out, args.threads)
    for number in range(args.rounds):
        log(f"speed round {number + 1}/{args.rounds}")
        for row in rows:
            row["runs"].append(bench_once(row, args.threads))
        save(meta, rows)
    print(report(meta, rows))


if __name__ == "__main__":
    main()
