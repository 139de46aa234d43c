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
class UserGolden:
    """The same records on the user's own inputs (`convert --prompts FILE --text FILE`), with
    the files' names and sha256 so a report says what a fine-tune was checked on."""

    prompts: tuple[GoldenPrompt, ...]
    prompts_file: str | None
    prompts_sha256: str | None
    reference: TeacherForcedReference | None
    text_file: str | None
    text_sha256: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "prompts": [p.to_json() for p in self.prompts],
            "prompts_file": self.prompts_file,
            "prompts_sha256": self.prompts_sha256,
            "reference": self.reference.to_json() if self.reference else None,
            "text_file": self.text_file,
            "text_sha256": self.text_sha256,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> UserGolden:
        return cls(
            tuple(GoldenPrompt.from_json(p) for p in data["prompts"]),
            data["prompts_file"],
            data["prompts_sha256"],
            TeacherForcedReference.from_json(data["reference"]) if data["reference"] else None,
            data["text_file"],
            data["text_sha256"],
        )


@dataclass(frozen=True)
class GoldenOutputs:
    inputs_version: int
    new_tokens: int
    prompts: tuple[GoldenPrompt, ...]
    reference: TeacherForcedReference
    user: UserGolden | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "inputs_version": self.inputs_version,
            "new_tokens": self.new_tokens,
            "prompts": [p.to_json() for p in self.prompts],
            "reference": self.reference.to_json(),
            "user": self.user.to_json() if self.user else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GoldenOutputs:
        return cls(
            int(data["inputs_version"]),
            int(data["new_tokens"]),
            tuple(GoldenPrompt.from_json(p) for p in data["prompts"]),
            TeacherForcedReference.from_json(data["reference"]),
            UserGolden.from_json(data["user"]) if data.get("user") else None,  # manifests before 1.4 have none
        )
