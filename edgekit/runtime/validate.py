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

from edgekit.core.errors import EdgekitError
from edgekit.core.manifest import verify_checksum
from edgekit.runtime.artifact import Artifact, open_artifact
from edgekit.runtime.litert_lm_runner import LiteRtLmRunner
from edgekit.runtime.metrics import TeacherForced, common_prefix_fraction, teacher_forced
from edgekit.runtime.runner import GREEDY, Runner, open_runner
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
THRESHOLDS["auto"] = THRESHOLDS["mixed"]  # a budget plan is at least as faithful as mixed at mixed's size


def _golden(artifact: Artifact, reference: Path | None, text: str | None) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The golden outputs, and the source's reference over `text` when one is given."""
    if reference is None:
        if not artifact.manifest or "golden" not in artifact.manifest:
            raise EdgekitError(
                f"{artifact.path.name} has no manifest with golden outputs",
                "keep the .edgekit.json manifest beside it, or pass --reference CHECKPOINT",
            )
        return artifact.manifest["golden"], None
    try:
        from edgekit.converters.golden import load_source_model, record_golden, record_reference, reference_ids
    except ImportError:
        raise EdgekitError(
            "--reference needs the converter stack (torch, transformers)",
            "install `edgekit[convert]`, or validate against the manifest without --reference",
        ) from None
    from edgekit.intake.checkpoint import load_checkpoint

    import sentencepiece as spm

    folder = load_checkpoint(reference).hf_folder()
    model = load_source_model(folder)
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = Path(tmp) / "tokenizer.model"
        tokenizer.write_bytes(artifact.tokenizer_bytes())
        golden = record_golden(model, tokenizer, artifact.chat.start_token)
    if text is None:
        return golden, None
    sp = spm.SentencePieceProcessor(model_proto=artifact.tokenizer_bytes())
    return golden, record_reference(model, reference_ids(sp, sp.piece_to_id(artifact.chat.start_token), text))


def _first_tokens(sp, prompts: list[dict[str, Any]], texts: list[str]) -> tuple[list[dict[str, Any]], float]:
    """Per-prompt greedy results, and the first-token agreement over prompts that are no near-tie."""
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
    return per_prompt, sum(p["first_token_agrees"] for p in decided) / max(len(decided), 1)


def _teacher_forced(runner: Runner, reference: dict[str, Any]) -> TeacherForced:
    """The bundle's logits over the reference ids, compared with the source's."""
    ids = reference["ids"][: runner.cache_length]
    logits = list(runner.logits(ids[:-1]))
    n = len(logits)
    return teacher_forced(
        logits,
        np.array(reference["top_ids"][:n]),
        np.array(reference["top_logprobs"][:n]),
        np.array(ids[1:n + 1]),
        np.array(reference["target_logprobs"][:n]),
    )


def _quant(artifact: Artifact, override: str | None) -> str:
    if override:
        return override
    if artifact.manifest:
        return artifact.manifest["recipe"]["quant"]
    raise EdgekitError(f"{artifact.path.name} has no manifest naming its quantization", "pass --quant")


def validate(path: Path, reference: Path | None = None, quant: str | None = None, threads: int = 2,
             text: Path | None = None) -> dict[str, Any]:
    """`text`: also measure teacher-forced agreement over this file (needs `reference`)."""
    if text is not None and reference is None:
        raise EdgekitError("--text needs --reference CHECKPOINT (the source's logits over the text)",
                           "pass the checkpoint the bundle was made from with --reference")
    user_text, text_file = None, text
    if text is not None:
        try:
            user_text = text.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise EdgekitError(f"cannot read --text {text} ({exc})", "pass a UTF-8 text file") from None
        if not user_text.strip():
            raise EdgekitError(f"--text {text} is empty", "pass a file with some text to score")

    artifact = open_artifact(path)
    checks: list[dict[str, Any]] = []

    def check(name: str, value: Any, limit: Any, passed: bool) -> None:
        checks.append({"name": name, "value": value, "limit": limit, "passed": bool(passed)})

    if artifact.manifest:
        verify_checksum(path, artifact.manifest)
        check("manifest sha256", "matches", "matches", True)
    quant = _quant(artifact, quant)
    limits = THRESHOLDS[quant]
    golden, text_reference = _golden(artifact, reference, user_text)
    prompts = golden["prompts"]

    with open_runner(artifact, threads) as runner:
        sp = runner.tokenizer
        tokenizer_ok = all([runner.bos] + runner.tokenize(p["prompt"]) == p["prompt_ids"] for p in prompts)
        if isinstance(runner, LiteRtLmRunner):
            engine_ids = runner.engine_tokenize([p["prompt"] for p in prompts])
            tokenizer_ok &= all(ids == p["prompt_ids"][1:] for ids, p in zip(engine_ids, prompts))
        texts = ["".join(runner.generate(p["prompt"], len(p["continuation_ids"]), GREEDY)) for p in prompts]
        per_prompt, first_rate = _first_tokens(sp, prompts, texts)
        measured = [("", _teacher_forced(runner, golden["reference"]))]
        if text_reference is not None:
            measured.append((f" over {text_file.name}", _teacher_forced(runner, text_reference)))
    check("tokenizer identity (bundle vs golden ids)", tokenizer_ok, True, tokenizer_ok)
    check(f"first-token agreement (greedy, {runner.backend})", round(first_rate, 4), limits.first_token_min,
          first_rate >= limits.first_token_min)

    for where, tf in measured:
        check(f"teacher-forced top-1 agreement{where}", round(tf.top1_agreement, 4), limits.top1_min,
              tf.top1_agreement >= limits.top1_min)
        check(f"mean KL(source || bundle){where}", round(tf.kl_mean, 5), limits.kl_mean_max,
              tf.kl_mean <= limits.kl_mean_max)
        ratio = tf.bundle_perplexity / tf.source_perplexity
        check(f"perplexity ratio (bundle / source){where}", round(ratio, 4), limits.perplexity_ratio_max,
              ratio <= limits.perplexity_ratio_max)
    tf = measured[0][1]

    return {
        "artifact": str(path),
        "format": artifact.format,
        "quant": quant,
        "against": f"reference checkpoint {reference}" if reference else "golden outputs in the manifest",
        "passed": all(c["passed"] for c in checks),
        "checks": checks,
        "teacher_forced": asdict(tf),
        "teacher_forced_text": asdict(measured[1][1]) | {"file": str(text_file)} if len(measured) > 1 else None,
        "prompts": per_prompt,
        "greedy_prefix_agreement": float(np.mean([p["prefix_agreement"] for p in per_prompt])),
        "thresholds": asdict(limits),
    }
