"""ONNX decoder graphs (edgekit's, or any with the same names) on plain onnxruntime.

Prefill and decode use the same graph: the past starts as zero-length tensors and each call's
`present.*` become the next call's `past_key_values.*`.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np

from edgekit.errors import EdgekitError
from runtime.artifact import Artifact
from runtime.runner import Runner


class OnnxRunner(Runner):
    backend = "onnxruntime"

    def __init__(self, artifact: Artifact, threads: int = 2) -> None:
        import onnxruntime

        super().__init__(artifact)
        graph = artifact.onnx_graph
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.log_severity_level = 3
        try:
            self.session = onnxruntime.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime's own Fail / InvalidGraph / InvalidProtobuf
            raise EdgekitError(f"{graph} does not load in onnxruntime ({type(exc).__name__})",
                               "re-run `edgekit convert --target onnx`") from None
        self._past_inputs = [i for i in self.session.get_inputs() if i.name.startswith("past_key_values.")]
        if not self._past_inputs:
            raise EdgekitError(f"{graph} has no past_key_values inputs", "use a graph made by `edgekit convert`")
        self._outputs = [o.name for o in self.session.get_outputs()]
        self._past: dict[str, np.ndarray] = {}
        self._position = 0

    def _run(self, ids: Sequence[int], start: int, past: dict[str, np.ndarray]) -> np.ndarray:
        feeds = {
            "input_ids": np.array([ids], dtype=np.int64),
            "attention_mask": np.ones((1, start + len(ids)), dtype=np.int64),
            "position_ids": np.arange(start, start + len(ids), dtype=np.int64)[None],
            **past,
        }
        results = dict(zip(self._outputs, self.session.run(None, feeds)))
        self._past = {name.replace("present.", "past_key_values.", 1): value
                      for name, value in results.items() if name.startswith("present.")}
        self._position = start + len(ids)
        return results["logits"][0]

    def _empty_past(self) -> dict[str, np.ndarray]:
        return {i.name: np.zeros((1, i.shape[1], 0, i.shape[3]), dtype=np.float32) for i in self._past_inputs}

    def prefill(self, ids: Sequence[int]) -> np.ndarray:
        return self._run(ids, 0, self._empty_past())[-1]

    def decode_step(self, token: int) -> np.ndarray:
        return self._run([token], self._position, self._past)[-1]

    def logits(self, ids: Sequence[int]) -> Iterator[np.ndarray]:
        """All rows from a single prefill."""
        yield from self._run(ids, 0, self._empty_past())
