"""One interface over the three ways edgekit runs an artifact.

Every runner tokenizes with the artifact's own SentencePiece model, starts a sequence
(`prefill`), extends it one token at a time (`decode_step`), streams text (`generate`), gives
teacher-forced logits (`logits`) and scores a text (`score`). Backends: onnxruntime for ONNX
graphs, the LiteRT interpreter on a bundle's model, and the LiteRT-LM engine for `.task` /
`.litertlm` (text from the engine; logits from the bundle's model, which the engine hides).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from edgekit.runtime.artifact import Artifact
from edgekit.runtime.sampling import GREEDY, Sampling


@dataclass(frozen=True)
class Scores:
    """Log-probability of each token of a text given the tokens before it (after BOS)."""

    ids: list[int]
    logprobs: np.ndarray

    @property
    def perplexity(self) -> float:
        return float(np.exp(-self.logprobs.mean()))


class Runner(ABC):
    backend: str
    cache_length: int | None = None  # tokens a sequence may hold; None: bounded by memory only
    stop_note: str | None = None  # why the last `generate` ended before its stop token or length, if cut
    engine_note: str | None = None  # why this engine runs the artifact instead of the usual one

    def __init__(self, artifact: Artifact) -> None:
        self.artifact = artifact
        self.chat = artifact.chat

    @cached_property
    def tokenizer(self):
        """Read on first use: a bare graph without tokenizer still gives logits."""
        return self.artifact.tokenizer()

    @cached_property
    def bos(self) -> int:
        return self.tokenizer.piece_to_id(self.chat.start_token)

    @cached_property
    def stop_ids(self) -> tuple[int, ...]:
        return tuple(self.tokenizer.piece_to_id(t) for t in self.chat.stop_tokens)

    def tokenize(self, text: str) -> list[int]:
        """Ids of `text` without BOS (a sequence starts with BOS: see `generate`)."""
        return self.tokenizer.encode(text)

    def detokenize(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids))

    @abstractmethod
    def prefill(self, ids: Sequence[int]) -> np.ndarray:
        """Start a new sequence with `ids`; the logits for the token after the last."""

    @abstractmethod
    def decode_step(self, token: int) -> np.ndarray:
        """Append `token` to the sequence; the logits for the token after it."""

    @abstractmethod
    def logits(self, ids: Sequence[int]) -> Iterator[np.ndarray]:
        """Teacher-forced logits after each token of `ids` (row i predicts ids[i + 1])."""

    def generate_ids(self, ids: Sequence[int], max_tokens: int, sampling: Sampling = GREEDY) -> Iterator[int]:
        """New token ids after `ids`, one per decode step, until a stop token or `max_tokens`."""
        pick = sampling.picker()
        logits = self.prefill(ids)
        for produced in range(max_tokens):
            token = pick(logits)
            if token in self.stop_ids:
                return
            yield token
            if produced + 1 < max_tokens:
                logits = self.decode_step(token)

    def generate(self, prompt: str, max_tokens: int, sampling: Sampling = GREEDY) -> Iterator[str]:
        """Stream the continuation of `prompt` (BOS is added; chat formatting is the caller's)."""
        produced: list[int] = []
        printed = text = ""
        for token in self.generate_ids([self.bos, *self.tokenize(prompt)], max_tokens, sampling):
            produced.append(token)
            text = self.detokenize(produced)
            # Byte-fallback tokens spell a character over several steps: hold back the partial
            # character (decoded as U+FFFD) until its last byte arrives.
            if text != printed and not text.endswith("\ufffd"):
                yield text[len(printed) :]
                printed = text
        if text != printed:
            yield text[len(printed) :]

    def score(self, text: str) -> Scores:
        ids = [self.bos, *self.tokenize(text)]
        logprobs = []
        for row, target in zip(self.logits(ids[:-1]), ids[1:]):
            row = row.astype(np.float64)
            top = row.max()
            logprobs.append(row[target] - top - np.log(np.exp(row - top).sum()))
        return Scores(ids[1:], np.array(logprobs))

    def close(self) -> None:
        """Release what the backend holds (a child process, a session)."""

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
