"""How conversion cost grows with model size: wall time and peak RSS of `edgekit convert` on
random-weight checkpoints shaped like Gemma 3 270M, 1B and 4B, and like Gemma 3n E2B and
Gemma 4 E2B / E4B (random weights cost the same to convert as trained ones), then what the
artifact takes to run: its size and `edgekit bench`'s peak RSS and decode speed.

    .venv/bin/python benchmarks/conversion_memory.py [--sizes 270m,1b,4b] [--runs onnx:int8,...]
        [--out DIR] [--force]

Each size is written once as an HF folder (float32 safetensors, the default model's
tokenizer), then converted per run in its own process. A run whose estimated peak exceeds the
memory available is recorded as refused by edgekit's own guard, not run, unless `--force`
(passed on to `edgekit convert`) asks to try it anyway. Rows of sizes or runs not asked for
are kept from the last run. Writes benchmarks/conversion_memory.md and .json.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from edgekit.converters.memory import BUNDLE_ROUTE  # noqa: E402
from edgekit.families import family_named  # noqa: E402
from edgekit.formats import safetensors  # noqa: E402


@dataclass(frozen=True)
class Shape:
    family: str
    sizes: dict
    runs: tuple[str, ...] = ("litertlm:int8", "onnx:int8")
    extra: dict = field(default_factory=dict)  # config fields beyond the sizes


def _every_nth_full(layers: int, n: int) -> list[str]:
    return ["full_attention" if (i + 1) % n == 0 else "sliding_attention" for i in range(layers)]


# Published text-decoder sizes. Gemma 3's vocabulary is 262,144 pieces; Gemma 3n E2B's sparsity
# and AltUp/LAuReL sizes are its released config's. Gemma 4 E2B's 35 layers take one full-
# attention layer in 5, E4B's 42 one in 6, so that the last layer is a full one.
SHAPES = {
    "270m": Shape(
        "gemma3",
        dict(
            hidden_size=640,
            intermediate_size=2048,
            num_hidden_layers=18,
            num_attention_heads=4,
            num_key_value_heads=1,
            head_dim=256,
            sliding_window=512,
        ),
    ),
    "1b": Shape(
        "gemma3",
        dict(
            hidden_size=1152,
            intermediate_size=6912,
            num_hidden_layers=26,
            num_attention_heads=4,
            num_key_value_heads=1,
            head_dim=256,
            sliding_window=512,
        ),
    ),
    "4b": Shape(
        "gemma3",
        dict(
            hidden_size=2560,
            intermediate_size=10240,
            num_hidden_layers=34,
            num_attention_heads=8,
            num_key_value_heads=4,
            head_dim=256,
            sliding_window=1024,
        ),
    ),
    "gemma3n-e2b": Shape(
        "gemma3n",
        dict(
            hidden_size=2048,
            intermediate_size=8192,
            num_hidden_layers=30,
            num_attention_heads=8,
            num_key_value_heads=2,
            head_dim=256,
            sliding_window=512,
        ),
        ("litertlm:int4", "onnx:int4"),
        dict(
            vocab_size=262400,
            vocab_size_per_layer_input=262144,
            hidden_size_per_layer_input=256,
            num_kv_shared_layers=10,
            laurel_rank=64,
            altup_num_inputs=4,
            activation_sparsity_pattern=[0.95] * 10 + [0.0] * 20,
            final_logit_softcapping=30.0,
        ),
    ),
    "gemma4-e2b": Shape(
        "gemma4",
        dict(
            hidden_size=1536,
            intermediate_size=6144,
            num_hidden_layers=35,
            num_attention_heads=8,
            num_key_value_heads=1,
            head_dim=256,
            sliding_window=512,
        ),
        ("litertlm:int4", "onnx:int4"),
        dict(
            global_head_dim=512,
            vocab_size_per_layer_input=262144,
            hidden_size_per_layer_input=256,
            num_kv_shared_layers=20,
            use_double_wide_mlp=True,
            final_logit_softcapping=30.0,
            layer_types=_every_nth_full(35, 5),
        ),
    ),
    "gemma4-e4b": Shape(
        "gemma4",
        dict(
            hidden_size=2560,
            intermediate_size=10240,
            num_hidden_layers=42,
            num_attention_heads=8,
            num_key_value_heads=2,
            head_dim=256,
            sliding_window=512,
        ),
        ("litertlm:int4", "onnx:int4"),
        dict(
            global_head_dim=512,
            vocab_size_per_layer_input=262144,
            hidden_size_per_layer_input=256,
            num_kv_shared_layers=18,
            final_logit_softcapping=30.0,
            layer_types=_every_nth_full(42, 6),
        ),
    ),
}
TEXT_CONFIGS = {"gemma3n": "Gemma3nTextConfig", "gemma4": "Gemma4TextConfig"}


def random_checkpoint_config(size: str) -> dict:
    shape = SHAPES[size]
    ids = dict(tie_word_embeddings=True, bos_token_id=2, eos_token_id=1, pad_token_id=0)
    if shape.family == "gemma3":
        core = dict(
            shape.sizes, vocab_size=262144, rms_norm_eps=1e-6, max_position_embeddings=32768, query_pre_attn_scalar=256
        )
        config = family_named("gemma3").config_from_core(core)
    else:
        import transformers

        text_config = getattr(transformers, TEXT_CONFIGS[shape.family])(**shape.sizes, **shape.extra, **ids)
        config = text_config.to_dict()
        config["architectures"] = [family_named(shape.family).architectures[0]]
    config.update(ids, torch_dtype="float32")
    return config


def tensor_shapes(config: dict) -> dict[str, tuple[int, ...]]:
    """Every weight the checkpoint holds, with its shape: transformers' own model, built on the
    meta device (no memory), less the output head tied to the embedding."""
    import torch
    import transformers

    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(transformers.AutoConfig.for_model(**config))
    tied = {"lm_head.weight"} if config.get("tie_word_embeddings", True) else set()
    return {name: tuple(t.shape) for name, t in model.state_dict().items() if name not in tied}


def write_tokenizer(folder: Path, family: str, sentencepiece: Path) -> None:
    """A Gemma 4 folder gets Gemma 4's real BPE tokenizer and chat template (llama.cpp's vocabulary
    file, as the tests read it); the others the default model's SentencePiece model."""
    if family != "gemma4":
        (folder / "tokenizer.model").write_bytes(sentencepiece.read_bytes())
        return
    from edgekit.formats.gguf import open_gguf
    from edgekit.intake.bpe_from_gguf import tokenizer_json_from_gguf
    from tests.fixtures.llama_cpp_vocab import gemma4_vocab_files

    vocab = open_gguf(gemma4_vocab_files() / "ggml-vocab-gemma-4.gguf")
    (folder / "tokenizer.json").write_text(tokenizer_json_from_gguf(vocab))
    (folder / "chat_template.jinja").write_text(vocab.metadata["tokenizer.chat_template"])
    special = {"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>", "unk_token": "<unk>"}
    (folder / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "GemmaTokenizer", **special}))


def write_random_checkpoint(size: str, folder: Path, sentencepiece: Path) -> Path:
    """Weights once per shape (a minute or two for E2B), config and tokenizer every run."""
    config = random_checkpoint_config(size)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    write_tokenizer(folder, SHAPES[size].family, sentencepiece)
    weights = folder / "model.safetensors"
    if weights.exists():
        return folder
    # Gemma 3n and 4 scale by their norm weights themselves, Gemma 1-3 by (1 + w)
    neutral = 1.0 if SHAPES[size].family in TEXT_CONFIGS else 0.0
    rng = np.random.default_rng(0)

    def values(shape: tuple[int, ...]) -> np.ndarray:
        if len(shape) < 2:
            return np.full(shape, neutral, dtype=np.float32)
        table = rng.standard_normal(shape, dtype=np.float32)
        table *= 0.02  # in place: a per-layer embedding table alone is 9.4 GB in float32
        return table

    plan = [(name, shape, lambda s=shape: values(s)) for name, shape in tensor_shapes(config).items()]
    partial = weights.with_suffix(".partial")  # an interrupted write is never taken for the weights
    safetensors.write(partial, plan)
    partial.replace(weights)
    return folder


def convert(folder: Path, out: Path, target: str, quant: str, force: bool) -> dict:
    shutil.rmtree(out, ignore_errors=True)  # an earlier run's outputs; `--force` is only for the guard
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "edgekit",
            "convert",
            str(folder),
            "--target",
            target,
            "--quant",
            quant,
            "--out",
            str(out),
            "--json",
            *(["--force"] if force else []),
        ],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1]}
    return json.loads(proc.stdout)


def bench(artifact: Path) -> dict:
    """`edgekit bench` of the artifact (2 threads, 256 prompt / 128 generated tokens)."""
    proc = subprocess.run(
        [sys.executable, "-m", "edgekit", "bench", str(artifact), "--json"], capture_output=True, text=True
    )
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1]}
    return json.loads(proc.stdout)


def run_figures(folder: Path, artifact: dict) -> dict:
    """The artifact's size and `edgekit bench` figures, with what `edgekit plan` needs to scale
    them to other checkpoints of the family: its own size estimate (which the measured size
    corrects), the bytes a token reads (all but the per-layer lookup tables, by that estimate's
    share) and the KV cache the run held."""
    from edgekit.app.plan import estimated_bytes
    from edgekit.intake.checkpoint import load_checkpoint

    path = Path(artifact["artifact"])
    figures = {"artifact_mib": round(artifact["size_bytes"] / 2**20, 1)}
    speed = bench(path)
    if "error" in speed:
        return {**figures, "bench_error": speed["error"]}
    ckpt = load_checkpoint(folder)
    estimate = estimated_bytes(ckpt, artifact["format"], artifact["quant"])
    if artifact["format"] == "onnx":  # onnxruntime's cache grows with the tokens run
        kv_tokens = speed["prefill_tokens"] + speed["decode_tokens"] + 1
    else:  # LiteRT-LM allocates the bundle's whole cache
        kv_tokens = json.loads(Path(artifact["manifest"]).read_text())["recipe"]["cache_length"]
    return {
        **figures,
        "estimated_mib": round(estimate.total / 2**20, 1),
        "per_token_mib": round(figures["artifact_mib"] * estimate.per_token / estimate.total, 1),
        "run_peak_mib": round(speed["peak_rss_bytes"] / 2**20),
        "run_kv_bytes": ckpt.family.kv_cache_bytes(ckpt.config, kv_tokens),
        "decode_tok_s": speed["decode_tokens_per_second"],
    }


def write_family_runs(rows: list[dict]) -> None:
    """The benched rows, by family, as `edgekit plan` reads them (package data). Not the 270M
    shape's: the default model's own rows (benchmarks/run.py, real weights) serve it."""
    runs: dict[str, list[dict]] = {}
    for r in rows:
        if "run_peak_mib" in r and r["size"] != "270m":
            fmt, quant = r["run"].split()
            keep = (
                "artifact_mib",
                "estimated_mib",
                "per_token_mib",
                "run_peak_mib",
                "run_kv_bytes",
                "decode_tok_s",
                "date",
            )
            entry = {"shape": r["size"], "format": fmt, "quant": quant, **{k: r[k] for k in keep}}
            entry["mib"] = entry.pop("artifact_mib")
            runs.setdefault(r["family"], []).append(entry)
    (HERE.parent / "edgekit" / "data" / "family_runs.json").write_text(json.dumps(runs, indent=1) + "\n")


def write_results(rows: dict[tuple[str, str], dict], results: Path) -> None:
    """The json, the family runs and the markdown table, rewritten after every run so an
    interrupted sweep keeps what it measured."""
    from edgekit.converters.memory import available_bytes

    order = list(SHAPES)
    ordered = sorted(rows.values(), key=lambda r: (order.index(r["size"]), r["run"]))
    meta = {"machine": platform.machine(), "memory_gib": round(available_bytes() / 2**30, 1)}
    results.write_text(json.dumps({"meta": meta, "rows": ordered}, indent=1))
    write_family_runs(ordered)
    lines = [
        f"# Conversion cost vs model size ({meta['machine']}, {meta['memory_gib']} GiB available)",
        "",
        "Generated by `benchmarks/conversion_memory.py`: `edgekit convert` on random-weight float32 "
        "checkpoints shaped like Gemma 3, Gemma 3n and Gemma 4 text decoders; peak RSS of the converting "
        "process tree. A note is edgekit's own memory guard refusing the run before any work. Then the "
        "artifact: its size, and `edgekit bench` on it (2 threads, 256 prompt / 128 generated tokens): "
        "peak RSS and decode tok/s (rows without them predate that column).",
        "",
        "| shape | parameters | fp32 GB | run | wall s | peak GiB | peak / fp32 | artifact MiB | run peak MiB "
        "| decode tok/s | date | note |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in ordered:
        lines.append(
            f"| {r['size']} | {r['parameters'] / 1e6:.0f}M | {r['fp32_gb']} | {r['run']} | "
            f"{r.get('seconds', '-')} | {r.get('peak_gib', '-')} | {r.get('peak_vs_fp32', '-')} | "
            f"{r.get('artifact_mib', '-')} | {r.get('run_peak_mib', '-')} | {r.get('decode_tok_s', '-')} | "
            f"{r.get('date', '')} | {r.get('refused', r.get('bench_error', ''))} |"
        )
    (HERE / "conversion_memory.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="270m,1b,4b", help=f"of {', '.join(SHAPES)}")
    parser.add_argument("--runs", help="format:quant,... (default: each shape's own runs)")
    parser.add_argument("--out", type=Path, default=HERE / "out" / "conversion-memory")
    parser.add_argument("--force", action="store_true", help="run what the memory guard would refuse")
    args = parser.parse_args()
    from edgekit.intake.checkpoint import load_checkpoint

    tokenizer = load_checkpoint(None).hf_folder() / "tokenizer.model"
    results = HERE / "conversion_memory.json"
    rows = {(r["size"], r["run"]): r for r in json.loads(results.read_text())["rows"]} if results.exists() else {}
    for size in args.sizes.split(","):
        params = sum(math.prod(shape) for shape in tensor_shapes(random_checkpoint_config(size)).values())
        base = {
            "size": size,
            "family": SHAPES[size].family,
            "parameters": params,
            "fp32_gb": round(params * 4 / 1e9, 2),
        }
        folder = write_random_checkpoint(size, args.out / f"{size}-random", tokenizer)
        for run in args.runs.split(",") if args.runs else SHAPES[size].runs:
            target, quant = run.split(":")
            # edgekit's own memory guard refuses what would not fit
            result = convert(folder, args.out / f"{size}-{target}", target, quant, args.force)
            bundle = target == "litertlm" and family_named(SHAPES[size].family).litert_bundle_export
            row = {**base, "run": f"{target} {quant}", "route": BUNDLE_ROUTE if bundle else target}
            if "error" in result:
                row["refused"] = result["error"]
            else:
                row.update(
                    seconds=result["seconds"],
                    peak_gib=round(result["peak_rss_bytes"] / 2**30, 2),
                    peak_vs_fp32=round(result["peak_rss_bytes"] / (params * 4), 2),
                    date=date.today().isoformat(),
                )
                row.update(run_figures(folder, result["artifacts"][0]))
                shutil.rmtree(args.out / f"{size}-{target}")  # E2B artifacts are gigabytes; the row is kept
            rows[size, row["run"]] = row
            write_results(rows, results)
            print(row, flush=True)
        shutil.rmtree(folder)  # an E2B shape's checkpoint is ~18 GB; the next shape needs the disk
    print((HERE / "conversion_memory.md").read_text())


if __name__ == "__main__":
    main()
