"""ONNX decoder graphs (edgekit's, or any with the same names) on plain onnxruntime.

Prefill and decode use the same graph: the past starts as zero-length tensors and each call's
`present.*` become the next call's `past_key_values.*`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from edgekit.errors import EdgekitError
from runtime.artifact import Artifact
from runtime.runner import Runner


def cpu_session(graph: Path, threads: int = 2):
    """An onnxruntime CPU session with edgekit's settings (quiet log, `threads` intra-op threads)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])


def empty_past(session) -> dict[str, np.ndarray]:
    """Zero-length past keys/values: the feeds of a sequence's first call."""
    return {i.name: np.zeros((1, i.shape[1], 0, i.shape[3]), dtype=np.float32)
            for i in session.get_inputs() if i.name.startswith("past_key_values.")}


def decoder_feeds(ids: Sequence[int], start: int, past: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """`ids` at positions start.., attending to everything before them."""
    return {
        "input_ids": np.array([ids], dtype=np.int64),
        "attention_mask": np.ones((1, start + len(ids)), dtype=np.int64),
        "position_ids": np.arange(start, start + len(ids), dtype=np.int64)[None],
        **past,
    }


class OnnxRunner(Runner):
    backend = "onnxruntime"

    def __init__(self, artifact: Artifact, threads: int = 2) -> None:
        super().__init__(artifact)
        graph = artifact.onnx_graph
        try:
            self.session = cpu_session(graph, threads)
        except Exception as exc:  # onnxruntime's own Fail / InvalidGraph / InvalidProtobuf
            raise EdgekitError(f"{graph} does not load in onnxruntime ({type(exc).__name__})",
                               "re-run `edgekit convert --target onnx`") from None
        if not empty_past(self.session):
            raise EdgekitError(f"{graph} has no past_key_values inputs", "use a graph made by `edgekit convert`")
        self._outputs = [o.name for o in self.session.get_outputs()]
        self._past: dict[str, np.ndarray] = {}
        self._position = 0

    def _run(self, ids: Sequence[int], start: int, past: dict[str, np.ndarray]) -> np.ndarray:
        results = dict(zip(self._outputs, self.session.run(None, decoder_feeds(ids, start, past))))
        self._past = {name.replace("present.", "past_key_values.", 1): value
                      for name, value in results.items() if name.startswith("present.")}
        self._position = start + len(ids)
        return results["logits"][0]

    def prefill(self, ids: Sequence[int]) -> np.ndarray:
        return self._run(ids, 0, empty_past(self.session))[-1]

    def decode_step(self, token: int) -> np.ndarray:
        return self._run([token], self._position, self._past)[-1]

    def logits(self, ids: Sequence[int]) -> Iterator[np.ndarray]:
        """All rows from a single prefill."""
        yield from self._run(ids, 0, empty_past(self.session))
