"""Golden outputs: what the source model did on fixed inputs, recorded at conversion time.

They let a board without torch check a bundle: greedy continuations of fixed prompts, and the
source's top-k next-token log-probabilities at every position of a reference text. Token ids
are the bundle tokenizer's, so they mean the same on both sides.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgekit.core.records import JsonRecord


@dataclass(frozen=True)
class GoldenPrompt(JsonRecord):
    prompt: str
    prompt_ids: list[int]  # with the start token
    continuation_ids: list[int]
    continuation: str
    first_token_margin: float  # the source's top-2 log-probability gap for the first new token


@dataclass(frozen=True)
class TeacherForcedReference(JsonRecord):
    """Row i describes the source's prediction of `ids[i + 1]`."""

    ids: list[int]
    top_ids: list[list[int]]
    top_logprobs: list[list[float]]
    target_logprobs: list[float]


@dataclass(frozen=True)
class GoldenOutputs:
    inputs_version: int
    new_tokens: int
    prompts: tuple[GoldenPrompt, ...]
    reference: TeacherForcedReference

    def to_json(self) -> dict[str, Any]:
        return {
            "inputs_version": self.inputs_version,
            "new_tokens": self.new_tokens,
            "prompts": [p.to_json() for p in self.prompts],
            "reference": self.reference.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GoldenOutputs:
        return cls(
            int(data["inputs_version"]),
            int(data["new_tokens"]),
            tuple(GoldenPrompt.from_json(p) for p in data["prompts"]),
            TeacherForcedReference.from_json(data["reference"]),
        )
