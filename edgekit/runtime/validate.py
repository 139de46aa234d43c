"""`edgekit validate`: does this bundle still behave like the model it was made from?

The expectation is the golden outputs in the manifest (no torch needed: this is what runs on a
Raspberry Pi), or outputs the caller recomputed from the source checkpoint
(`edgekit.app.reference`). The bundle runs in the real LiteRT-LM engine for tokenization and
greedy text, and its own LiteRT model is stepped through the interpreter for teacher-forced
logits; where LiteRT-LM cannot run (a Raspberry Pi 4), the interpreter does both, and the
report names the engine and why.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.core.errors import EdgekitError
from edgekit.core.golden import GoldenOutputs, GoldenPrompt, TeacherForcedReference
from edgekit.core.manifest import verify_checksum
from edgekit.core.recipes import Thresholds, recipe_named
from edgekit.runtime.artifact import Artifact, open_artifact
from edgekit.runtime.dispatch import with_runner
from edgekit.runtime.litert_lm_runner import LiteRtLmRunner
from edgekit.runtime.metrics import TeacherForced, common_prefix_fraction, teacher_forced
from edgekit.runtime.runner import Runner
from edgekit.runtime.sampling import GREEDY

# A prompt whose source top-2 log-probabilities are closer than this is a coin toss for any
# quantized copy: a different first token there is reported as a tie, not a failure.
TIE_MARGIN = 0.1


@dataclass(frozen=True)
class Expectation:
    """What the bundle is compared with, and where that came from."""

    golden: GoldenOutputs
    against: str
    text_reference: TeacherForcedReference | None = None  # the source over a user's text
    text_file: str | None = None
    user_prompts: tuple[GoldenPrompt, ...] = ()  # the source on a user's prompts (convert --prompts)
    prompts_file: str | None = None

    @classmethod
    def of(cls, golden: GoldenOutputs, against: str) -> Expectation:
        """edgekit's inputs, and the user's where the golden outputs hold some."""
        user = golden.user
        if user is None:
            return cls(golden, against)
        return cls(golden, against, user.reference, user.text_file, user.prompts, user.prompts_file)


@dataclass(frozen=True)
class Check:
    name: str
    value: Any
    limit: Any
    passed: bool

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "limit": self.limit, "passed": self.passed}


@dataclass(frozen=True)
class PromptResult:
    prompt: str
    expected: str
    got: str
    first_token_agrees: bool
    near_tie: bool
    source_margin: float
    prefix_agreement: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ValidationReport:
    artifact: str
    format: str
    quant: str
    against: str
    checks: tuple[Check, ...]
    teacher_forced: TeacherForced
    prompts: tuple[PromptResult, ...]
    thresholds: Thresholds
    teacher_forced_text: TeacherForced | None = None
    text_file: str | None = None
    engine: str = ""  # what ran the artifact: LiteRT-LM, the LiteRT interpreter, onnxruntime
    engine_note: str | None = None  # why, when it is not the format's usual engine
    user_prompts: tuple[PromptResult, ...] = ()  # reported apart from edgekit's own prompts
    prompts_file: str | None = None

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failed_checks(self) -> list[str]:
        return [c.name for c in self.checks if not c.passed]

    @property
    def greedy_prefix_agreement(self) -> float:
        return float(np.mean([p.prefix_agreement for p in self.prompts]))

    def to_json(self) -> dict[str, Any]:
        text = None
        if self.teacher_forced_text is not None:
            text = asdict(self.teacher_forced_text) | {"file": self.text_file}
        return {
            "artifact": self.artifact,
            "format": self.format,
            "quant": self.quant,
            "against": self.against,
            "engine": self.engine,
            "engine_note": self.engine_note,
            "passed": self.passed,
            "checks": [c.to_json() for c in self.checks],
            "teacher_forced": asdict(self.teacher_forced),
            "teacher_forced_text": text,
            "prompts": [p.to_json() for p in self.prompts],
            "user_prompts": [p.to_json() for p in self.user_prompts],
            "prompts_file": self.prompts_file,
            "greedy_prefix_agreement": self.greedy_prefix_agreement,
            "thresholds": asdict(self.thresholds),
        }


def manifest_expectation(artifact: Artifact) -> Expectation:
    if artifact.manifest is None:
        raise EdgekitError(
            f"{artifact.path.name} has no manifest with golden outputs",
            "keep the .edgekit.json manifest beside it, or pass --reference CHECKPOINT",
        )
    return Expectation.of(artifact.manifest.golden, "golden outputs in the manifest")


def _first_tokens(sp, prompts: tuple[GoldenPrompt, ...], texts: list[str]) -> tuple[list[PromptResult], float]:
    """Per-prompt greedy results, and the first-token agreement over prompts that are no near-tie."""
    per_prompt = []
    for prompt, text in zip(prompts, texts):
        first_expected = sp.decode(prompt.continuation_ids[:1])
        agree = text.startswith(first_expected) if first_expected else True
        tie = not agree and prompt.first_token_margin < TIE_MARGIN
        per_prompt.append(
            PromptResult(
                prompt=prompt.prompt,
                expected=prompt.continuation,
                got=text,
                first_token_agrees=agree,
                near_tie=tie,
                source_margin=prompt.first_token_margin,
                prefix_agreement=common_prefix_fraction(prompt.continuation, text),
            )
        )
    decided = [p for p in per_prompt if not p.near_tie]
    return per_prompt, sum(p.first_token_agrees for p in decided) / max(len(decided), 1)


def teacher_forced_over(runner: Runner, reference: TeacherForcedReference) -> TeacherForced:
    """The bundle's logits over the reference ids, compared with the source's."""
    ids = reference.ids[: runner.cache_length]
    logits = list(runner.logits(ids[:-1]))
    n = len(logits)
    return teacher_forced(
        logits,
        np.array(reference.top_ids[:n]),
        np.array(reference.top_logprobs[:n]),
        np.array(ids[1 : n + 1]),
        np.array(reference.target_logprobs[:n]),
    )


def _quant(artifact: Artifact, override: str | None) -> str:
    if override:
        return override
    if artifact.manifest:
        return artifact.manifest.recipe.quant
    raise EdgekitError(f"{artifact.path.name} has no manifest naming its quantization", "pass --quant")


def validate(
    path: Path, expected: Expectation | None = None, quant: str | None = None, threads: int = 2, engine: str = "auto"
) -> ValidationReport:
    """Compare the artifact at `path` with `expected` (default: its manifest's golden outputs)."""
    artifact = open_artifact(path)
    checks: list[Check] = []

    def check(name: str, value: Any, limit: Any, passed: bool) -> None:
        checks.append(Check(name, value, limit, bool(passed)))

    if artifact.manifest:
        verify_checksum(path, artifact.manifest)
        check("manifest sha256", "matches", "matches", True)
    quant = _quant(artifact, quant)
    limits = recipe_named(quant).thresholds
    expected = expected or manifest_expectation(artifact)
    prompts, user_prompts = expected.golden.prompts, expected.user_prompts

    def measure(runner: Runner):
        every = prompts + user_prompts
        tokenizer_ok = all([runner.bos] + runner.tokenize(p.prompt) == p.prompt_ids for p in every)
        if isinstance(runner, LiteRtLmRunner):
            engine_ids = runner.engine_tokenize([p.prompt for p in every])
            tokenizer_ok &= all(ids == p.prompt_ids[1:] for ids, p in zip(engine_ids, every))
        texts = ["".join(runner.generate(p.prompt, len(p.continuation_ids), GREEDY)) for p in every]
        per_prompt, first_rate = _first_tokens(runner.tokenizer, prompts, texts[: len(prompts)])
        user = _first_tokens(runner.tokenizer, user_prompts, texts[len(prompts) :]) if user_prompts else None
        measured = [("", teacher_forced_over(runner, expected.golden.reference))]
        if expected.text_reference is not None:
            where = f" over {Path(expected.text_file or 'text').name}"
            measured.append((where, teacher_forced_over(runner, expected.text_reference)))
        return tokenizer_ok, per_prompt, first_rate, user, measured, runner

    tokenizer_ok, per_prompt, first_rate, user, measured, runner = with_runner(artifact, threads, engine, measure)
    check("tokenizer identity (bundle vs golden ids)", tokenizer_ok, True, tokenizer_ok)
    check(
        f"first-token agreement (greedy, {runner.backend})",
        round(first_rate, 4),
        limits.first_token_min,
        first_rate >= limits.first_token_min,
    )
    if user is not None:
        check(
            f"first-token agreement on {expected.prompts_file} (greedy, {runner.backend})",
            round(user[1], 4),
            limits.first_token_min,
            user[1] >= limits.first_token_min,
        )

    for where, tf in measured:
        check(
            f"teacher-forced top-1 agreement{where}",
            round(tf.top1_agreement, 4),
            limits.top1_min,
            tf.top1_agreement >= limits.top1_min,
        )
        check(
            f"mean KL(source || bundle){where}",
            round(tf.kl_mean, 5),
            limits.kl_mean_max,
            tf.kl_mean <= limits.kl_mean_max,
        )
        ratio = tf.bundle_perplexity / tf.source_perplexity
        check(
            f"perplexity ratio (bundle / source){where}",
            round(ratio, 4),
            limits.perplexity_ratio_max,
            ratio <= limits.perplexity_ratio_max,
        )

    return ValidationReport(
        artifact=str(path),
        format=artifact.format,
        quant=quant,
        against=expected.against,
        checks=tuple(checks),
        teacher_forced=measured[0][1],
        prompts=tuple(per_prompt),
        thresholds=limits,
        teacher_forced_text=measured[1][1] if len(measured) > 1 else None,
        text_file=expected.text_file,
        engine=runner.backend,
        engine_note=runner.engine_note,
        user_prompts=tuple(user[0]) if user else (),
        prompts_file=expected.prompts_file,
    )
