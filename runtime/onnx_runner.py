"""ONNX decoder graphs (edgekit's, or any with the same names) on plain onnxruntime.

Prefill and decode use the same graph: the past starts as zero-length tensors and each call's
`present.*` become the next call's `past_key_values.*`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from edgekit.errors import EdgekitError


class OnnxDecoder:
    def __init__(self, graph: Path, threads: int = 2) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.log_severity_level = 3
        try:
            self.session = onnxruntime.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime's own Fail / InvalidGraph / InvalidProtobuf
            raise EdgekitError(f"{graph} does not load in onnxruntime ({type(exc).__name__})",
                               "re-run `edgekit convert --target onnx`") from None
        self._past = [i for i in self.session.get_inputs() if i.name.startswith("past_key_values.")]
        if not self._past:
            raise EdgekitError(f"{graph} has no past_key_values inputs", "use a graph made by `edgekit convert`")
        self._outputs = [o.name for o in self.session.get_outputs()]

    def _empty_past(self) -> dict[str, np.ndarray]:
        return {i.name: np.zeros((1, i.shape[1], 0, i.shape[3]), dtype=np.float32) for i in self._past}

    def _step(self, ids: list[int], start: int, past: dict[str, np.ndarray]) -> tuple[np.ndarray, dict]:
        feeds = {
            "input_ids": np.array([ids], dtype=np.int64),
            "attention_mask": np.ones((1, start + len(ids)), dtype=np.int64),
            "position_ids": np.arange(start, start + len(ids), dtype=np.int64)[None],
            **past,
        }
        results = dict(zip(self._outputs, self.session.run(None, feeds)))
        present = {name.replace("present.", "past_key_values.", 1): value
                   for name, value in results.items() if name.startswith("present.")}
        return results["logits"][0], present

    def logits(self, ids: list[int]) -> Iterator[np.ndarray]:
        """Teacher-forced logits, one row per position, from a single prefill."""
        rows, _ = self._step(ids, 0, self._empty_past())
        yield from rows

    def generate(self, ids: list[int], new_tokens: int, on_token=None, sampler: "Sampler | None" = None,
                 stop_ids: tuple[int, ...] = ()) -> list[int]:
        """Continuation (greedy unless a sampler is given): prefill, then one step per token."""
        logits, past = self._step(ids, 0, self._empty_past())
        out: list[int] = []
        position = len(ids)
        for _ in range(new_tokens):
            token = sampler.pick(logits[-1]) if sampler else int(np.argmax(logits[-1]))
            if token in stop_ids:
                break
            out.append(token)
            if on_token:
                on_token(token)
            logits, past = self._step([token], position, past)
            position += 1
        return out


class Sampler:
    """Temperature, top-k and top-p sampling, named as in the LLM Inference API."""

    def __init__(self, temperature: float, top_k: int, top_p: float, seed: int) -> None:
        self.temperature, self.top_k, self.top_p = temperature, top_k, top_p
        self.rng = np.random.default_rng(seed)

    def pick(self, logits: np.ndarray) -> int:
        top = np.argsort(-logits)[: self.top_k]
        scaled = logits[top].astype(np.float64) / max(self.temperature, 1e-6)
        probs = np.exp(scaled - scaled.max())
        probs /= probs.sum()
        keep = int(np.searchsorted(np.cumsum(probs), self.top_p) + 1)
        probs = probs[:keep] / probs[:keep].sum()
        return int(top[self.rng.choice(keep, p=probs)])
