"""ONNX decoder graphs (edgekit's, or any with the same names) on plain onnxruntime.

Prefill and decode use the same graph: the past starts as zero-length tensors and each call's
`present.*` become the next call's `past_key_values.*`. A prompt goes in `PREFILL_CHUNK` tokens
per call: the graph returns a logits row per input token (1 MiB each in float32 for Gemma's
262k vocabulary, and an asymmetric int4 head holds two more), so one call on the whole prompt
would make memory grow with its length (measured with `edgekit bench --prefill-tokens 256`:
benchmarks/results.md).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from edgekit.core.errors import EdgekitError
from edgekit.formats.onnx_graph import ATTENTION_MASK, INPUT_IDS, LOGITS, PAST_PREFIX, POSITION_IDS, PRESENT_PREFIX
from edgekit.runtime.artifact import Artifact
from edgekit.runtime.runner import Runner

PREFILL_CHUNK = 64


def cpu_session(graph: Path, threads: int = 2):
    """An onnxruntime CPU session with edgekit's settings (quiet log, `threads` intra-op threads)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])


def empty_past(session) -> dict[str, np.ndarray]:
    """Zero-length past keys/values: the feeds of a sequence's first call."""
    return {
        i.name: np.zeros((1, i.shape[1], 0, i.shape[3]), dtype=np.float32)
        for i in session.get_inputs()
        if i.name.startswith(PAST_PREFIX)
    }


def decoder_feeds(ids: Sequence[int], start: int, past: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """`ids` at positions start.., attending to everything before them."""
    return {
        INPUT_IDS: np.array([ids], dtype=np.int64),
        ATTENTION_MASK: np.ones((1, start + len(ids)), dtype=np.int64),
        POSITION_IDS: np.arange(start, start + len(ids), dtype=np.int64)[None],
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
            raise EdgekitError(
                f"{graph} does not load in onnxruntime ({type(exc).__name__})", "re-run `edgekit convert --target onnx`"
            ) from None
        if not empty_past(self.session):
            raise EdgekitError(f"{graph} has no past_key_values inputs", "use a graph made by `edgekit convert`")
        self._outputs = [o.name for o in self.session.get_outputs()]
        self._past: dict[str, np.ndarray] = {}
        self._position = 0

    def _run(self, ids: Sequence[int], start: int, past: dict[str, np.ndarray]) -> np.ndarray:
        results = dict(zip(self._outputs, self.session.run(None, decoder_feeds(ids, start, past))))
        self._past = {
            name.replace(PRESENT_PREFIX, PAST_PREFIX, 1): value
            for name, value in results.items()
            if name.startswith(PRESENT_PREFIX)
        }
        self._position = start + len(ids)
        return results[LOGITS][0]

    def _chunks(self, ids: Sequence[int]) -> Iterator[np.ndarray]:
        """Logits of `ids` as a new sequence, one call per `PREFILL_CHUNK` tokens."""
        past = empty_past(self.session)
        for start in range(0, len(ids), PREFILL_CHUNK):
            yield self._run(ids[start : start + PREFILL_CHUNK], start, past)
            past = self._past

    def prefill(self, ids: Sequence[int]) -> np.ndarray:
        if not ids:
            raise EdgekitError("an empty prompt has no next token", "start it with the BOS token")
        for rows in self._chunks(ids):
            last = rows[-1].copy()
        return last

    def decode_step(self, token: int) -> np.ndarray:
        return self._run([token], self._position, self._past)[-1]

    def logits(self, ids: Sequence[int]) -> Iterator[np.ndarray]:
        for rows in self._chunks(ids):
            yield from rows
