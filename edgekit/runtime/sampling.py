"""Sampling options and the picker that applies them to logits (LiteRT-LM's defaults)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Sampling:
    """Sampling options, named as in the LLM Inference API; temperature 0 is greedy."""

    temperature: float = 0.0
    top_k: int | None = None
    top_p: float | None = None
    seed: int = 0

    @property
    def greedy(self) -> bool:
        return self.temperature == 0 or self.top_k == 1

    def engine_config(self) -> dict[str, Any]:
        """LiteRT-LM's SamplerConfig fields (its defaults for sampled decoding: top-k 64, top-p 0.95)."""
        if self.greedy:
            return {"top_k": 1, "temperature": 0.0, "seed": self.seed}
        return {
            "top_k": self.top_k or 64,
            "top_p": 0.95 if self.top_p is None else self.top_p,
            "temperature": self.temperature,
            "seed": self.seed,
        }

    def picker(self):
        """A function from logits to the next token id, with its own random state."""
        if self.greedy:
            return lambda logits: int(np.argmax(logits))
        config = self.engine_config()
        rng = np.random.default_rng(self.seed)

        def pick(logits: np.ndarray) -> int:
            top = np.argsort(-logits)[: config["top_k"]]
            scaled = logits[top].astype(np.float64) / config["temperature"]
            probs = np.exp(scaled - scaled.max())
            probs /= probs.sum()
            # The smallest set whose mass reaches top-p (rounding may leave the sum below 1.0).
            keep = min(int(np.searchsorted(np.cumsum(probs), config["top_p"])) + 1, len(top))
            return int(top[rng.choice(keep, p=probs[:keep] / probs[:keep].sum())])

        return pick


GREEDY = Sampling()
