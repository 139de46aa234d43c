"""The long fuzz run over every reader behind `edgekit inspect` (the tests run a short one).

    .venv/bin/python benchmarks/fuzz.py [--count 100000]

Seeds are real files: a tiny Gemma 3 checkpoint written as safetensors and GGUF, converted by
`edgekit convert` into `.task` and `.litertlm` with manifests. Each reader gets `--count`
mutated inputs (truncations, insertions, overwrites biased to headers, random blobs) and must
either accept the input or reject it with an EdgekitError; anything else is a crash. Writes
benchmarks/fuzz.md; exits 1 if any reader crashed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from tests.fixtures.gguf_writer import write_gguf  # noqa: E402
from tests.fixtures.tiny_models import write_tiny_checkpoint  # noqa: E402
from tests.fixtures.tiny_tokenizer import train_tokenizer  # noqa: E402
from tests.fuzzing import READERS, fuzz  # noqa: E402


def seeds(root: Path) -> dict[str, bytes]:
    hf = write_tiny_checkpoint("gemma3", root / "hf", train_tokenizer())
    gguf = write_gguf(hf, root / "tiny.gguf")
    out = root / "bundles"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "edgekit",
            "convert",
            str(hf),
            "--quant",
            "int8",
            "--prefill",
            "32",
            "--max-tokens",
            "256",
            "--out",
            str(out),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    task = next(out.glob("*.task"))
    return {
        "gguf": gguf.read_bytes(),
        "task": task.read_bytes(),
        "litertlm": next(out.glob("*.litertlm")).read_bytes(),
        "manifest": task.with_name(task.name + ".edgekit.json").read_bytes(),
        "safetensors": (hf / "model.safetensors").read_bytes(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000, help="inputs per reader")
    args = parser.parse_args()
    shm = Path("/dev/shm") if Path("/dev/shm").is_dir() else None
    rows, crashed = [], False
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory(dir=shm) as scratch:
        files = seeds(Path(tmp))
        for kind in READERS:
            started = time.monotonic()
            result = fuzz(kind, files[kind], args.count, Path(scratch), rng_seed=2026)
            seconds = time.monotonic() - started
            crashed |= bool(result.crashes)
            rows.append(
                f"| {kind} | {len(files[kind]):,} | {result.inputs:,} | {result.accepted:,} | "
                f"{result.rejected:,} | {len(result.crashes)} | {seconds:.0f} |"
            )
            for crash in result.crashes[:5]:
                rows.append(f"|  | crash: `{crash}` | | | | | |")
            print(rows[-1], flush=True)
    total = args.count * len(READERS)
    report = [
        f"# Fuzzing edgekit's readers ({date.today().isoformat()})",
        "",
        f"{total:,} inputs in all; a crash is any exception other than edgekit's one-line error.",
        "",
        "| reader | seed bytes | inputs | accepted | rejected (one-line error) | crashes | seconds |",
        "|---|---|---|---|---|---|---|",
        *rows,
    ]
    (HERE / "fuzz.md").write_text("\n".join(report) + "\n")
    print("\n".join(report))
    sys.exit(1 if crashed else 0)


if __name__ == "__main__":
    main()
