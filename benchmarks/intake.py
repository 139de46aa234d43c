"""GGUF intake against its peers on the default model, in one run.

    .venv/bin/python benchmarks/intake.py

Reading the header (edgekit's reader vs gguf-py's GGUFReader), dequantizing into an HF folder
(edgekit vs transformers' own GGUF loader), and whether both give the same logits. Writes
benchmarks/intake.md; the README quotes it.
"""

from __future__ import annotations

import tempfile
import time
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent


def timed(fn):
    started = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - started


def main() -> None:
    import gguf
    import torch
    import transformers

    from edgekit.formats.gguf import open_gguf
    from edgekit.intake.default_model import default_gguf
    from edgekit.intake.gguf import write_hf_folder

    path = default_gguf()
    _, ours_read = timed(lambda: open_gguf(path))
    _, theirs_read = timed(lambda: gguf.GGUFReader(str(path)))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "hf"
        folder.mkdir()
        _, ours_dequant = timed(lambda: write_hf_folder(open_gguf(path), folder))
        ours, ours_load = timed(
            lambda: transformers.AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32).eval()
        )
        theirs, theirs_load = timed(
            lambda: transformers.AutoModelForCausalLM.from_pretrained(
                str(path.parent), gguf_file=path.name, dtype=torch.float32
            ).eval()
        )
        ids = torch.tensor([[2, 818, 5279, 529, 7001, 563]])  # <bos>The capital of France is
        with torch.no_grad():
            difference = (ours(ids).logits - theirs(ids).logits).abs().max().item()
    lines = [
        f"# GGUF intake on Gemma 3 270M Q4_K_M ({date.today().isoformat()})",
        "",
        "| step | edgekit | peer | peer |",
        "|---|---|---|---|",
        f"| read header + vocabulary | {ours_read:.2f} s | {theirs_read:.2f} s | gguf-py GGUFReader |",
        f"| dequantize to a float model | {ours_dequant + ours_load:.1f} s (write HF folder "
        f"{ours_dequant:.1f} s + load {ours_load:.1f} s) | {theirs_load:.1f} s | transformers from_pretrained(gguf_file=) |",
        "",
        f"Max |logit difference| between the two float models on a 6-token prompt: {difference:.3g}.",
    ]
    (HERE / "intake.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
