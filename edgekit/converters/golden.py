"""Golden outputs (`edgekit.core.golden`) recorded from the source model with torch.

Token ids come from the SentencePiece model the bundles carry, so ids mean the same on both
sides.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekit.core.errors import EdgekitError
from edgekit.core.golden import GoldenOutputs, GoldenPrompt, TeacherForcedReference, UserGolden
from edgekit.core.golden_inputs import (
    GOLDEN_INPUTS_VERSION,
    GOLDEN_NEW_TOKENS,
    GOLDEN_PROMPTS,
    REFERENCE_TEXT,
    TOP_K_RECORDED,
)
from edgekit.core.user_inputs import UserInputs
from edgekit.formats.tokenizer import Tokenizer, folder_tokenizer
from edgekit.runtime.metrics import log_softmax

REFERENCE_MAX_TOKENS = 600


def load_source_model(hf_dir: Path):
    """The float32 model, refused when transformers would fill any of its weights at random (a
    folder whose weight names or shapes do not match its class): golden outputs recorded from
    such a model would vouch for random weights."""
    import torch
    import transformers

    model, loading = transformers.AutoModelForCausalLM.from_pretrained(
        str(hf_dir),
        dtype=torch.float32,
        attn_implementation="eager",
        output_loading_info=True,
        ignore_mismatched_sizes=True,  # reported below in one line, not raised
    )
    unfilled = [f"{name} (missing)" for name in sorted(loading["missing_keys"])] + [
        f"{name} (checkpoint {list(have)}, model {list(want)})"
        for name, have, want in sorted(loading["mismatched_keys"], key=lambda m: m[0])
    ]
    if unfilled:
        raise EdgekitError(
            f"{hf_dir}: {len(unfilled)} weights that {type(model).__name__} needs are missing or "
            f"of another shape, so they would be random (first: {unfilled[0]})",
            "check that config.json describes these weights (architectures, sizes) or re-save the checkpoint",
        )
    return model.eval()


def reference_ids(sp, bos_id: int, text: str = REFERENCE_TEXT) -> list[int]:
    return ([bos_id] + sp.encode(text))[:REFERENCE_MAX_TOKENS]


def record_reference(model, ids: list[int], rows_per_chunk: int = 32) -> TeacherForcedReference:
    """The source's teacher-forced top-k log-probabilities over `ids` (what validate compares).

    Post-processed a few rows at a time: a full-vocabulary argsort of 515 x 262k logits alone
    is 1 GiB of int64, which made this stage the peak of an ONNX conversion."""
    logits = source_logits(model, ids)[:-1]  # position i predicts ids[i + 1]
    targets = np.asarray(ids[1:])
    top_ids, top_logprobs, target_logprobs = [], [], []
    for start in range(0, len(logits), rows_per_chunk):
        logprobs = log_softmax(logits[start : start + rows_per_chunk])
        candidates = np.argpartition(-logprobs, TOP_K_RECORDED - 1, axis=-1)[:, :TOP_K_RECORDED]
        values = np.take_along_axis(logprobs, candidates, axis=-1)
        order = np.argsort(-values, axis=-1, kind="stable")
        top_ids += np.take_along_axis(candidates, order, axis=-1).tolist()
        top_logprobs += np.round(np.take_along_axis(values, order, axis=-1), 5).tolist()
        rows = np.arange(len(logprobs))
        target_logprobs += np.round(logprobs[rows, targets[start : start + rows_per_chunk]], 5).tolist()
    return TeacherForcedReference(ids, top_ids, top_logprobs, target_logprobs)


def source_logits(model, ids: list[int]) -> np.ndarray:
    """float32 logits [len(ids), vocab], teacher-forced."""
    import torch

    with torch.no_grad():
        out = model(torch.tensor([ids]))
    return out.logits[0].float().numpy()


def _greedy(model, ids: list[int], new_tokens: int) -> list[int]:
    import torch

    with torch.no_grad():
        out = model.generate(
            torch.tensor([ids]),
            attention_mask=torch.ones(1, len(ids), dtype=torch.long),
            max_new_tokens=new_tokens,
            do_sample=False,
            eos_token_id=None,
            pad_token_id=0,
        )
    return out[0, len(ids) :].tolist()


def _golden_prompt(model, sp: Tokenizer, bos: int, text: str) -> GoldenPrompt:
    ids = [bos] + sp.encode(text)
    first = log_softmax(source_logits(model, ids)[-1])
    top2 = np.sort(first)[-2:]
    continuation = _greedy(model, ids, GOLDEN_NEW_TOKENS)
    return GoldenPrompt(text, ids, continuation, sp.decode(continuation), float(top2[1] - top2[0]))


def record_user_golden(model, sp: Tokenizer, bos: int, inputs: UserInputs) -> UserGolden:
    return UserGolden(
        prompts=tuple(_golden_prompt(model, sp, bos, text) for text in inputs.prompts),
        prompts_file=inputs.prompts_file,
        prompts_sha256=inputs.prompts_sha256,
        reference=record_reference(model, reference_ids(sp, bos, inputs.text)) if inputs.text else None,
        text_file=inputs.text_file,
        text_sha256=inputs.text_sha256,
    )


def record_golden(model, sp: Tokenizer, bos_token: str, user: UserInputs | None = None) -> GoldenOutputs:
    bos = sp.piece_to_id(bos_token)
    return GoldenOutputs(
        GOLDEN_INPUTS_VERSION,
        GOLDEN_NEW_TOKENS,
        tuple(_golden_prompt(model, sp, bos, text) for text in GOLDEN_PROMPTS),
        record_reference(model, reference_ids(sp, bos)),
        record_user_golden(model, sp, bos, user) if user else None,
    )


def record_source_golden(hf_dir: Path, bos_token: str, user: UserInputs | None = None) -> GoldenOutputs:
    """Load the source model and record its golden outputs through the checkpoint's tokenizer;
    `edgekit convert` runs this in a child (`edgekit.converters.isolated`), so the float
    model's memory goes with it."""
    return record_golden(load_source_model(hf_dir), folder_tokenizer(hf_dir), bos_token, user)
