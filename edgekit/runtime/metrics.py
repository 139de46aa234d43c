"""Agreement metrics between a bundle and its source, computed from golden outputs.

The manifest keeps the source's top-k log-probabilities per position, not the whole
vocabulary. KL(source || bundle) is therefore computed on the source's top-k tokens plus one
"everything else" bucket: by the data-processing inequality this is a lower bound of the
full-vocabulary KL, and it is exact where the source's top-k hold nearly all the mass (as they
do for a trained model: Gemma 3 270M's top-8 cover ~90% on the reference text).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def bucketed_kl(source_top_logprobs: np.ndarray, bundle_logprobs_at_top: np.ndarray) -> float:
    """KL over the top-k tokens plus the remaining-mass bucket, for one position."""
    p = np.exp(source_top_logprobs.astype(np.float64))
    q = np.exp(bundle_logprobs_at_top.astype(np.float64))
    p_rest = max(1.0 - p.sum(), 1e-12)
    q_rest = max(1.0 - q.sum(), 1e-12)
    return float(np.sum(p * (source_top_logprobs - bundle_logprobs_at_top)) + p_rest * np.log(p_rest / q_rest))


@dataclass
class TeacherForced:
    positions: int
    top1_agreement: float
    kl_mean: float
    kl_p99: float
    kl_per_position: list[float]
    bundle_perplexity: float
    source_perplexity: float


def teacher_forced(
    bundle_logits: list[np.ndarray],
    top_ids: np.ndarray,
    top_logprobs: np.ndarray,
    targets: np.ndarray,
    source_target_logprobs: np.ndarray,
) -> TeacherForced:
    """`bundle_logits[i]` are the bundle's logits after position i; the golden arrays are
    aligned (row i describes the prediction of token i + 1)."""
    n = len(bundle_logits)
    agree, kls, target_lp = 0, [], []
    for i, logits in enumerate(bundle_logits):
        lp = log_softmax(logits.astype(np.float64))
        agree += int(np.argmax(lp) == top_ids[i, 0])
        kls.append(bucketed_kl(top_logprobs[i], lp[top_ids[i]]))
        target_lp.append(lp[targets[i]])
    kl = np.array(kls)
    return TeacherForced(
        positions=n,
        top1_agreement=agree / n,
        kl_mean=float(kl.mean()),
        kl_p99=float(np.percentile(kl, 99)),
        kl_per_position=[round(v, 6) for v in kls],
        bundle_perplexity=float(np.exp(-np.mean(target_lp))),
        source_perplexity=float(np.exp(-np.mean(source_target_logprobs[:n]))),
    )


def common_prefix_fraction(expected: str, actual: str) -> float:
    """How much of the expected greedy text the bundle reproduced before diverging."""
    if not expected:
        return 1.0
    length = 0
    for a, b in zip(expected, actual):
        if a != b:
            break
        length += 1
    return length / len(expected)
