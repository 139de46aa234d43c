"""LiteRT fidelity levers on the default model, each against the same recipes without it, in one run.

    .venv/bin/python benchmarks/litert_quality.py [--out benchmarks/out/litert_quality] [--threads 2]
        [--part all|levers|speed|recipes] [--rounds 5] [--run embedded-auto ...] [--lever TEXT ...]

1. Levers one at a time (`benchmarks/litert_levers.py`): the embedded Gemma 3 270M exported
   once to float LiteRT, with and without activation outliers migrated into the weights
   (`converters/smoothing.py`); each lever is a quantizer recipe on that float model (rounding
   algorithms, Hadamard rotation of the weights' inputs, which ops stay float or 8-bit),
   packed as a `.litertlm`, scored teacher-forced against the source's golden outputs through
   the LiteRT interpreter and timed by `edgekit bench` in LiteRT-LM. The levers marked (the
   recipe before ...) and (the recipe) are then benched in turn, `--rounds` interleaved
   rounds: each recipe against the one of the same name before rotation.
2. The recipes `edgekit convert` ships, through the whole pipeline: `int8,int4,mixed`
   `.litertlm` with (the default) and `--no-smoothing`; a Q4_0 GGUF of the embedded model
   (gguf-py's reference quantizer, every matrix Q4_0, as a quantization-aware-trained release
   ships it) with its blocks carried into int4 (`converters/litert_carry.py`), and its int4
   again from the folder the GGUF reads as (the same values rounded a second time). Each:
   `edgekit validate --json` against its own source's golden outputs and `edgekit bench --json`;
   `--quant auto --max-size 241` (llama.cpp Q4_K_M's size) from the embedded model.
Writes benchmarks/litert_quality.md and .json (a partial run keeps the other parts' rows).
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


def quality_cells(tf) -> dict:
    return {
        "top1": round(tf.top1_agreement, 4),
        "kl_mean": round(tf.kl_mean, 5),
        "kl_p99": round(tf.kl_p99, 4),
        "perplexity_ratio": round(tf.bundle_perplexity / tf.source_perplexity, 4),
    }


def _speed(path: Path, threads: str) -> dict:
    speed = edgekit("bench", str(path), "--threads", threads)
    return {
        "prefill_tok_s": speed["prefill_tokens_per_second"],
        "decode_tok_s": speed["decode_tokens_per_second"],
        "peak_rss_mib": round(speed["peak_rss_bytes"] / 2**20) if speed.get("peak_rss_bytes") else None,
    }


def measure_levers(
    out: Path, threads: str, timed_only: bool = False, only: list[str] | None = None
) -> tuple[list[dict], dict[tuple[str, str], Path]]:
    """Part 1: every lever of `litert_levers.LEVERS` (`timed_only`: those with an A/B role;
    `only`: those whose label holds one of these texts) on one float export per source variant
    they need; returns the rows and the A/B bundles, kept."""
    from benchmarks.litert_levers import LEVERS, quantize
    from edgekit.converters.golden import record_source_golden
    from edgekit.converters.isolated import run_isolated
    from edgekit.converters.litert_export import GraphOptions, export_float
    from edgekit.converters.litert_package import ChatMetadata, write_litertlm
    from edgekit.converters.pipeline import calibration_ids
    from edgekit.converters.smoothing import smooth_folder
    from edgekit.converters.table_split import rare_rows
    from edgekit.families import GEMMA_CHAT
    from edgekit.intake.checkpoint import load_checkpoint
    from edgekit.intake.default_model import default_gguf
    from edgekit.runtime.artifact import open_artifact
    from edgekit.runtime.tflite_runner import TfliteRunner
    from edgekit.runtime.validate import teacher_forced_over

    ckpt = load_checkpoint(default_gguf())
    hf_dir = ckpt.hf_folder()
    ids = calibration_ids(hf_dir, GEMMA_CHAT.start_token)
    log("recording the source's golden outputs")
    reference = run_isolated(record_source_golden, hf_dir, GEMMA_CHAT.start_token).reference
    levers = [
        lever
        for lever in LEVERS
        if (lever.role or not timed_only) and (not only or any(text in lever.label for text in only))
    ]
    exports, sources = {}, {False: hf_dir}
    if any(lever.migrated for lever in levers):
        log("migrating activation outliers")
        work = out / "levers-migrated"
        work.mkdir(parents=True, exist_ok=True)
        sources[True] = run_isolated(smooth_folder, hf_dir, work / "hf", ids, ckpt.family.pre_mlp_norm)
    for migrated, split in sorted({(lever.migrated, lever.split) for lever in levers}):
        work = out / (("levers-migrated" if migrated else "levers-plain") + ("-split" if split else ""))
        work.mkdir(parents=True, exist_ok=True)
        log(f"exporting the float LiteRT model ({work.name})")
        rows = rare_rows(hf_dir / "tokenizer.model") if split else None
        exports[migrated, split] = run_isolated(
            export_float, sources[migrated], work, (128,), 1024, GraphOptions(), rows
        )
    meta = ChatMetadata(GEMMA_CHAT, ckpt.family.litert_lm_model_type)
    tokenizer = hf_dir / "tokenizer.model"
    rows, kept = [], {}
    for number, lever in enumerate(levers):
        log(f"lever {number + 1}/{len(levers)}: {lever.group}, {lever.label}")
        exported = exports[lever.migrated, lever.split]
        tflite = quantize(exported.tflite, lever, ids, out / "lever.tflite")
        bundle = out / f"lever-{number}.litertlm"
        write_litertlm(tflite, tokenizer, meta, 1024, exported.executor_metadata, bundle)
        quality = teacher_forced_over(TfliteRunner(open_artifact(bundle), int(threads)), reference)
        rows.append(
            {
                "date": date.today().isoformat(),
                "group": lever.group,
                "lever": lever.label,
                "migrated": lever.migrated,
                "mib": round(bundle.stat().st_size / 2**20, 1),
                **quality_cells(quality),
                **_speed(bundle, threads),
                "positions": quality.positions,
            }
        )
        if lever.role:
            kept[(lever.group, lever.role)] = bundle
        else:
            bundle.unlink()
    return rows, kept


def speed_rounds(kept: dict[tuple[str, str], Path], threads: str, rounds: int) -> list[dict]:
    """Each recipe against the one of the same name before rotation: `edgekit bench` on every
    bundle in turn, `rounds` times; median (min-max) and the ratio of medians."""
    from statistics import median

    runs: dict[tuple[str, str], list[dict]] = {key: [] for key in kept}
    for number in range(rounds):
        log(f"speed round {number + 1}/{rounds}")
        for key, bundle in kept.items():
            runs[key].append(_speed(bundle, threads))
    rows = []
    for group in dict.fromkeys(group for group, _ in kept):
        row: dict = {"group": group, "rounds": rounds}
        for figure in ("prefill_tok_s", "decode_tok_s"):
            for role in ("before", "now"):
                values = [run[figure] for run in runs[(group, role)]]
                row[f"{role}_{figure}"] = [median(values), min(values), max(values)]
            row[f"{figure}_ratio"] = round(row[f"now_{figure}"][0] / row[f"before_{figure}"][0], 3)
        rows.append(row)
    return rows


def measure_recipes(out: Path, threads: str, only: list[str] | None = None) -> list[dict]:
    """Part 2: the shipped recipes through `edgekit convert`, validate and bench (`only`: the
    runs whose output folders are named)."""
    from edgekit.intake.checkpoint import load_checkpoint
    from edgekit.intake.default_model import default_gguf
    from tests.fixtures.gguf_writer import write_gguf

    out.mkdir(parents=True, exist_ok=True)
    q4_0 = out / "gemma-3-270m-q4_0.gguf"
    if not q4_0.exists():  # deterministic: kept between runs
        log("writing a Q4_0 GGUF of the default model")
        write_gguf(load_checkpoint(default_gguf()).hf_folder(), q4_0.with_suffix(".partial"), qtype="Q4_0")
        q4_0.with_suffix(".partial").rename(q4_0)
    runs = (  # label, recipes, checkpoint (None: the embedded one), output folder, extra options
        ("embedded Q4_K_M GGUF (outliers migrated: the default)", "int8,int4,mixed", None, "embedded", ()),
        ("embedded Q4_K_M GGUF, --no-smoothing", "int8,int4,mixed", None, "embedded-plain", ("--no-smoothing",)),
        ("embedded Q4_K_M GGUF, --max-size 241 (Q4_K_M's size)", "auto", None, "embedded-auto", ("--max-size", "241")),
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
        if only and folder not in only:
            continue
        log(f"convert {label}: {quants}")
        target = out / folder
        where = [str(source)] if source else []
        conversion = edgekit(
            "convert", *where, "--target", "litertlm", "--quant", quants, *extra, "--out", str(target), "--force"
        )
        for artifact in conversion["artifacts"]:
            path = artifact["artifact"]
            log(f"validate and bench {Path(path).name}")
            report = edgekit("validate", path, "--threads", threads)
            carried = json.loads(Path(path + ".edgekit.json").read_text())["recipe"].get("litert_weights")
            tf = report["teacher_forced"]
            rows.append(
                {
                    "date": date.today().isoformat(),
                    "source": label,
                    "quant": artifact["quant"],
                    "carried": None
                    if not carried or not carried.get("blocks")
                    else f"{carried['carried_tensors']} tensors, {carried['exact_blocks'] / carried['blocks']:.1%} "
                    f"blocks exact, {carried['clipped_values']} weights clipped",
                    "mib": round(artifact["size_bytes"] / 2**20, 1),
                    "top1": round(tf["top1_agreement"], 4),
                    "kl_mean": round(tf["kl_mean"], 5),
                    "kl_p99": round(tf["kl_p99"], 4),
                    "perplexity_ratio": round(tf["bundle_perplexity"] / tf["source_perplexity"], 4),
                    "validate": "pass" if report["passed"] else "fail",
                    **_speed(Path(path), threads),
                    "positions": tf["positions"],
                }
            )
    return rows


def _cells(r: dict) -> str:
    return (
        f"{r['mib']} | {r['top1']:.1%} | {r['kl_mean']} | {r['kl_p99']} | {r['perplexity_ratio']} "
        f"| {r['prefill_tok_s']} | {r['decode_tok_s']} | {r['peak_rss_mib']} |"
    )


def _spread(values: list[float]) -> str:
    return f"{values[0]} ({values[1]}-{values[2]})"


def report(meta: dict, levers: list[dict], speed: list[dict], recipes: list[dict]) -> str:
    columns = "MiB | top-1 | KL mean | KL p99 | perplexity ratio | prefill tok/s | decode tok/s | run peak RSS MiB |"
    lines = [
        f"# LiteRT fidelity levers on Gemma 3 270M ({meta['date']}, {meta['machine']}, {meta['threads']} threads)",
        "",
        "Written by `benchmarks/litert_quality.py`. `.litertlm` bundles; quality is teacher-forced over "
        f"{meta['positions']} positions of the reference text against each bundle's own source (the Q4_0 rows: the "
        "Q4_0 GGUF's dequantized weights), through the LiteRT interpreter; speed and run peak RSS: `edgekit bench` "
        "in LiteRT-LM (256 prefill / 128 decode tokens, one run each: compare decode within a few tok/s only).",
        "",
        "## Levers, one at a time",
        "",
        "One float export of the embedded model, with activation outliers migrated into the weights "
        "(`edgekit/converters/smoothing.py`) unless the row says otherwise; each row is one ai-edge-quantizer "
        "recipe on it (`benchmarks/litert_levers.py`). Rotation: the weights' input dimension rotated in Hadamard "
        "blocks of the given size and the op's input rotated back at run time. Calibrated algorithms read the "
        "calibration text (not the reference text). The quantizer refuses 8-bit blocks for dynamic (integer) "
        "compute, so blockwise int8 has no row. Quality is the same whatever the day; speed compares only "
        "between rows measured the same day.",
        "",
        f"| measured | recipe | lever | migrated | {columns}",
        "|---|---|---|---|" + "---|" * 8,
    ]
    for r in levers:
        lines.append(f"| {r['date']} | {r['group']} | {r['lever']} | {'yes' if r['migrated'] else 'no'} | {_cells(r)}")
    lines += [
        "",
        "## Speed: each recipe against the one of the same name before rotation",
        "",
        "The rows marked (the recipe before ...) and (the recipe) above, benched in turn in LiteRT-LM, "
        f"{speed[0]['rounds'] if speed else 0} interleaved rounds: median (min-max) tok/s and the ratio of medians.",
        "",
        "| recipe | prefill before | prefill now | ratio | decode before | decode now | ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in speed:
        lines.append(
            f"| {r['group']} | {_spread(r['before_prefill_tok_s'])} | {_spread(r['now_prefill_tok_s'])} "
            f"| {r['prefill_tok_s_ratio']} | {_spread(r['before_decode_tok_s'])} | {_spread(r['now_decode_tok_s'])} "
            f"| {r['decode_tok_s_ratio']} |"
        )
    lines += [
        "",
        "## The shipped recipes, through `edgekit convert`",
        "",
        "A Q4_0 block is `d * (q - 8)`, XNNPACK's int4 layout, but XNNPACK refuses negative scales and Q4_0's is "
        "negative wherever the block's largest weight is positive: those blocks are stored as `|d| * (8 - q)`, "
        "exact but for the extreme weight, whose code 8 becomes 7. Speeds compare only between rows measured the "
        "same day (this machine's speed varies from day to day, up to 2x).",
        "",
        f"| measured | source | recipe | carried | validate | {columns}",
        "|---|---|---|---|---|" + "---|" * 8,
    ]
    for r in recipes:
        lines.append(
            f"| {r['date']} | {r['source']} | {r['quant']} | {r['carried'] or '-'} | {r['validate']} | {_cells(r)}"
        )
    return "\n".join(lines) + "\n"


def _merged(saved: list[dict], measured: list[dict]) -> list[dict]:
    """The saved lever rows with `measured` in place of the rows of the same lever, in the order
    of `litert_levers.LEVERS` (a lever no longer there is dropped)."""
    from benchmarks.litert_levers import LEVERS

    rows = {(row["group"], row["lever"]): row for row in (*saved, *measured)}
    return [rows[key] for key in ((lever.group, lever.label) for lever in LEVERS) if key in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "out" / "litert_quality")
    parser.add_argument("--threads", default="2")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved speed rounds of the A/B")
    parser.add_argument(
        "--part", choices=("all", "levers", "speed", "recipes"), default="all", help="the others' rows are kept"
    )
    parser.add_argument("--run", action="append", help="recipes: only this run (its output folder); others kept")
    parser.add_argument(
        "--lever", action="append", help="levers: only those whose label holds this text; the other rows kept"
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    saved = HERE / "litert_quality.json"
    previous = json.loads(saved.read_text()) if saved.exists() else {}
    levers = [{"date": previous["meta"]["date"], **r} for r in previous.get("levers", [])]  # rows before dates
    speed = previous.get("speed", [])
    if args.part in ("all", "levers", "speed"):
        only = args.lever if args.part != "speed" else None  # the A/B needs both bundles of a recipe
        measured, kept = measure_levers(args.out, args.threads, args.part == "speed", only)
        if args.part != "speed":
            levers = _merged(levers, measured) if args.lever else measured
        if not only:
            speed = speed_rounds(kept, args.threads, args.rounds)
        for bundle in kept.values():
            bundle.unlink()
    recipes = [{"date": previous["meta"]["date"], **r} for r in previous.get("recipes", [])]  # rows before dates
    if args.part in ("all", "recipes"):
        fresh = measure_recipes(args.out, args.threads, args.run)
        again = {r["source"] for r in fresh}
        recipes = [r for r in recipes if args.run and r["source"] not in again] + fresh
    rows = levers + recipes
    meta = {
        "date": date.today().isoformat() if args.part != "recipes" else previous["meta"]["date"],  # the levers' day
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}",
        "threads": args.threads,
        "positions": rows[0]["positions"],
    }
    saved.write_text(json.dumps({"meta": meta, "levers": levers, "speed": speed, "recipes": recipes}, indent=1))
    text = report(meta, levers, speed, recipes)
    (HERE / "litert_quality.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
