"""How conversion cost grows with model size: wall time and peak RSS of `edgekit convert` on
random-weight checkpoints shaped like Gemma 3 270M, 1B and 4B (random weights cost the same
to convert as trained ones).

    .venv/bin/python benchmarks/conversion_memory.py [--sizes 270m,1b,4b] [--out DIR] [--force]

Each size is written once as an HF folder (float32 safetensors, the default model's
tokenizer), then converted per run below in its own process. A run whose estimated peak
exceeds the memory available is recorded as refused by edgekit's own guard, not run, unless
`--force` (passed on to `edgekit convert`) asks to try it anyway.
Writes benchmarks/conversion_memory.md and .json.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from edgekit.families import family_named  # noqa: E402
from edgekit.formats import safetensors  # noqa: E402

# Gemma 3 text shapes (published configs); the vocabulary is Gemma 3's 262,144 pieces.
SHAPES = {
    "270m": dict(
        hidden_size=640,
        intermediate_size=2048,
        num_hidden_layers=18,
        num_attention_heads=4,
        num_key_value_heads=1,
        head_dim=256,
        sliding_window=512,
    ),
    "1b": dict(
        hidden_size=1152,
        intermediate_size=6912,
        num_hidden_layers=26,
        num_attention_heads=4,
        num_key_value_heads=1,
        head_dim=256,
        sliding_window=512,
    ),
    "4b": dict(
        hidden_size=2560,
        intermediate_size=10240,
        num_hidden_layers=34,
        num_attention_heads=8,
        num_key_value_heads=4,
        head_dim=256,
        sliding_window=1024,
    ),
}
RUNS = (("litertlm", "int8"), ("onnx", "int8"))


def random_checkpoint_config(size: str) -> dict:
    core = dict(
        SHAPES[size], vocab_size=262144, rms_norm_eps=1e-6, max_position_embeddings=32768, query_pre_attn_scalar=256
    )
    config = family_named("gemma3").config_from_core(core)
    config.update(tie_word_embeddings=True, bos_token_id=2, eos_token_id=1, pad_token_id=0, torch_dtype="float32")
    return config


def tensor_shapes(config: dict) -> dict[str, tuple[int, ...]]:
    """Every weight the family registry names, with its HF shape."""
    hidden, inter, head = config["hidden_size"], config["intermediate_size"], config["head_dim"]
    q, kv = config["num_attention_heads"] * head, config["num_key_value_heads"] * head
    per_layer = {
        "self_attn.q_proj": (q, hidden),
        "self_attn.k_proj": (kv, hidden),
        "self_attn.v_proj": (kv, hidden),
        "self_attn.o_proj": (hidden, q),
        "mlp.gate_proj": (inter, hidden),
        "mlp.up_proj": (inter, hidden),
        "mlp.down_proj": (hidden, inter),
        "self_attn.q_norm": (head,),
        "self_attn.k_norm": (head,),
    }

    def shape_of(name: str) -> tuple[int, ...]:
        if name == "model.embed_tokens.weight":
            return (config["vocab_size"], hidden)
        return per_layer.get(name.split(".", 3)[-1].removesuffix(".weight"), (hidden,))

    return {name: shape_of(name) for name in family_named("gemma3").weight_names(config)}


def write_random_checkpoint(size: str, folder: Path, tokenizer: Path) -> Path:
    if (folder / "model.safetensors").exists():
        return folder
    config = random_checkpoint_config(size)
    rng = np.random.default_rng(0)
    plan = [
        (name, shape, lambda s=shape: rng.standard_normal(s, dtype=np.float32) * 0.02)
        for name, shape in tensor_shapes(config).items()
    ]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    (folder / "tokenizer.model").write_bytes(tokenizer.read_bytes())
    safetensors.write(folder / "model.safetensors", plan)
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


def parameter_count(size: str) -> int:
    return sum(math.prod(shape) for shape in tensor_shapes(random_checkpoint_config(size)).values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="270m,1b,4b")
    parser.add_argument("--out", type=Path, default=HERE / "out" / "conversion-memory")
    parser.add_argument("--force", action="store_true", help="run what the memory guard would refuse")
    args = parser.parse_args()
    from edgekit.converters.memory import available_bytes
    from edgekit.intake.checkpoint import load_checkpoint

    tokenizer = load_checkpoint(None).hf_folder() / "tokenizer.model"
    rows = []
    for size in args.sizes.split(","):
        params = parameter_count(size)
        base = {"size": size, "parameters": params, "fp32_gb": round(params * 4 / 1e9, 2)}
        folder = write_random_checkpoint(size, args.out / f"gemma3-{size}-random", tokenizer)
        for target, quant in RUNS:  # edgekit's own memory guard refuses what would not fit
            result = convert(folder, args.out / f"{size}-{target}", target, quant, args.force)
            row = {**base, "run": f"{target} {quant}"}
            if "error" in result:
                row["refused"] = result["error"]
            else:
                row.update(
                    seconds=result["seconds"],
                    peak_gib=round(result["peak_rss_bytes"] / 2**30, 2),
                    peak_vs_fp32=round(result["peak_rss_bytes"] / (params * 4), 2),
                )
            rows.append(row)
            print(row, flush=True)
    meta = {
        "date": date.today().isoformat(),
        "machine": platform.machine(),
        "memory_gib": round(available_bytes() / 2**30, 1),
    }
    (HERE / "conversion_memory.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    lines = [
        f"# Conversion cost vs model size ({meta['date']}, {meta['machine']})",
        "",
        "Generated by `benchmarks/conversion_memory.py`: `edgekit convert` on random-weight float32 "
        "checkpoints shaped like Gemma 3; peak RSS of the converting process tree.",
        "",
        "| shape | parameters | fp32 GB | run | wall s | peak GiB | peak / fp32 | note |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['size']} | {r['parameters'] / 1e6:.0f}M | {r['fp32_gb']} | {r['run']} | "
            f"{r.get('seconds', '-')} | {r.get('peak_gib', '-')} | {r.get('peak_vs_fp32', '-')} | "
            f"{r.get('refused', '')} |"
        )
    (HERE / "conversion_memory.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
