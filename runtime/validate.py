"""`edgekit validate`: does this bundle still behave like the model it was made from?

Without a reference, the golden outputs in the manifest are the truth (no torch needed: this
is what runs on a Raspberry Pi). With `--reference CHECKPOINT` they are recomputed from the
checkpoint (needs the converter stack). The bundle runs in the real LiteRT-LM engine for
tokenization and greedy text, and its own LiteRT model is stepped through the interpreter for
teacher-forced logits.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.errors import EdgekitError
from edgekit.manifest import verify_checksum
from runtime.artifact import Artifact, open_artifact
from runtime.litert_lm_runner import LiteRtLm
from runtime.metrics import common_prefix_fraction, teacher_forced
from runtime.onnx_runner import OnnxDecoder
from runtime.tflite_runner import DecodeStepper

GREEDY = {"top_k": 1, "temperature": 0.0, "seed": 0}
# A prompt whose source top-2 log-probabilities are closer than this is a coin toss for any
# quantized copy: a different first token there is reported as a tie, not a failure.
TIE_MARGIN = 0.1


@dataclass(frozen=True)
class Thresholds:
    """Pass/fail limits per quantization level.

    Chosen from `benchmarks/recipes.py` on the default model (Gemma 3 270M, 515 reference
    positions, 2026-11-22): each limit sits a margin below what a correct conversion measured
    (fp32/fp16: exact; int8: top-1 0.917, KL 0.012, ppl x1.013; mixed: 0.635, 0.28, x1.76;
    int4: 0.542, 0.35, x2.0). They catch a broken bundle; they do not hide int4's measured
    quality loss, which the report shows in full.
    """

    top1_min: float
    kl_mean_max: float
    first_token_min: float
    perplexity_ratio_max: float


THRESHOLDS = {
    "fp32": Thresholds(top1_min=0.99, kl_mean_max=1e-3, first_token_min=1.0, perplexity_ratio_max=1.01),
    "fp16": Thresholds(top1_min=0.98, kl_mean_max=5e-3, first_token_min=1.0, perplexity_ratio_max=1.02),
    "int8": Thresholds(top1_min=0.85, kl_mean_max=0.05, first_token_min=0.85, perplexity_ratio_max=1.08),
    "mixed": Thresholds(top1_min=0.55, kl_mean_max=0.40, first_token_min=0.50, perplexity_ratio_max=2.2),
    "int4": Thresholds(top1_min=0.45, kl_mean_max=0.50, first_token_min=0.50, perplexity_ratio_max=2.5),
}


def _golden(artifact: Artifact, reference: Path | None) -> dict[str, Any]:
    if reference is None:
        if not artifact.manifest or "golden" not in artifact.manifest:
            raise EdgekitError(
                f"{artifact.path.name} has no manifest with golden outputs",
                "keep the .edgekit.json manifest beside it, or pass --reference CHECKPOINT",
            )
        return artifact.manifest["golden"]
    try:
        from converters.golden import load_source_model, record_golden
    except ImportError:
        raise EdgekitError(
            "--reference needs the converter stack (torch, transformers)",
            "install `edgekit[convert]`, or validate against the manifest without --reference",
        ) from None
    from edgekit.checkpoint import load_checkpoint

    folder = load_checkpoint(reference).hf_folder()
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = Path(tmp) / "tokenizer.model"
        tokenizer.write_bytes(artifact.tokenizer_bytes())
        return record_golden(load_source_model(folder), tokenizer, artifact.chat.start_token)


def _quant(artifact: Artifact, override: str | None) -> str:
    if override:
        return override
    if artifact.manifest:
        return artifact.manifest["recipe"]["quant"]
    raise EdgekitError(f"{artifact.path.name} has no manifest naming its quantization", "pass --quant")


def validate(path: Path, reference: Path | None = None, quant: str | None = None, threads: int = 2) -> dict[str, Any]:
    import sentencepiece as spm

    artifact = open_artifact(path)
    checks: list[dict[str, Any]] = []

    def check(name: str, value: Any, limit: Any, passed: bool) -> None:
        checks.append({"name": name, "value": value, "limit": limit, "passed": bool(passed)})

    if artifact.manifest:
        verify_checksum(path, artifact.manifest)
        check("manifest sha256", "matches", "matches", True)
    quant = _quant(artifact, quant)
    limits = THRESHOLDS[quant]
    golden = _golden(artifact, reference)
    prompts = golden["prompts"]

    sp = spm.SentencePieceProcessor(model_proto=artifact.tokenizer_bytes())
    bos = sp.piece_to_id(artifact.chat.start_token)
    ref = golden["reference"]
    tokenizer_ok = all([bos] + sp.encode(p["prompt"]) == p["prompt_ids"] for p in prompts)

    if artifact.format == "onnx":
        decoder = OnnxDecoder(artifact.onnx_graph, threads=threads)
        texts = [sp.decode(decoder.generate(p["prompt_ids"], len(p["continuation_ids"]))) for p in prompts]
        runtime = "onnxruntime"
    else:
        engine = LiteRtLm(path, threads=threads)
        ops = [{"op": "tokenize", "texts": [p["prompt"] for p in prompts]}]
        ops += [{"op": "generate", "prompt": p["prompt"], "max_tokens": len(p["continuation_ids"]),
                 "sampler": GREEDY} for p in prompts]
        results = engine.run(ops)
        tokenizer_ok &= all(ids == p["prompt_ids"][1:] for ids, p in zip(results[0]["ids"], prompts))
        texts = [r["text"] for r in results[1:]]
        runtime = "LiteRT-LM"
    check("tokenizer identity (bundle vs golden ids)", tokenizer_ok, True, tokenizer_ok)

    per_prompt = []
    for prompt, text in zip(prompts, texts):
        first_expected = sp.decode(prompt["continuation_ids"][:1])
        agree = text.startswith(first_expected) if first_expected else True
        tie = not agree and prompt["first_token_margin"] < TIE_MARGIN
        per_prompt.append({
            "prompt": prompt["prompt"], "expected": prompt["continuation"], "got": text,
            "first_token_agrees": agree, "near_tie": tie, "source_margin": prompt["first_token_margin"],
            "prefix_agreement": common_prefix_fraction(prompt["continuation"], text),
        })
    decided = [p for p in per_prompt if not p["near_tie"]]
    first_rate = sum(p["first_token_agrees"] for p in decided) / max(len(decided), 1)
    check(f"first-token agreement (greedy, {runtime})", round(first_rate, 4), limits.first_token_min,
          first_rate >= limits.first_token_min)

    if artifact.format == "onnx":
        ids = ref["ids"]
        logits = list(decoder.logits(ids[:-1]))
    else:
        stepper = DecodeStepper(artifact.model_bytes(), threads=threads)
        ids = ref["ids"][: stepper.cache_length]
        logits = list(stepper.logits(ids[:-1]))
    n = len(logits)
    tf = teacher_forced(
        logits,
        np.array(ref["top_ids"][:n]),
        np.array(ref["top_logprobs"][:n]),
        np.array(ids[1:n + 1]),
        np.array(ref["target_logprobs"][:n]),
    )
    check("teacher-forced top-1 agreement", round(tf.top1_agreement, 4), limits.top1_min,
          tf.top1_agreement >= limits.top1_min)
    check("mean KL(source || bundle)", round(tf.kl_mean, 5), limits.kl_mean_max, tf.kl_mean <= limits.kl_mean_max)
    ratio = tf.bundle_perplexity / tf.source_perplexity
    check("perplexity ratio (bundle / source)", round(ratio, 4), limits.perplexity_ratio_max,
          ratio <= limits.perplexity_ratio_max)

    return {
        "artifact": str(path),
        "format": artifact.format,
        "quant": quant,
        "against": f"reference checkpoint {reference}" if reference else "golden outputs in the manifest",
        "passed": all(c["passed"] for c in checks),
        "checks": checks,
        "teacher_forced": asdict(tf),
        "prompts": per_prompt,
        "greedy_prefix_agreement": float(np.mean([p["prefix_agreement"] for p in per_prompt])),
        "thresholds": asdict(limits),
    }
