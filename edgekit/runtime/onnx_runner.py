"""ONNX decoder graphs (edgekit's, or any with the same names) on plain onnxruntime.

Prefill and decode use the same graph; each call's `present.*` become the next call's
`past_key_values.*`. Two ways to carry them:

- `CopiedCache`, for any graph: the past goes in as arrays and the present comes back as new
  ones, so every step copies the whole cache twice.
- `SharedCache`, where the artifact's genai_config.json says `past_present_share_buffer` (its
  attention is onnxruntime's GroupQueryAttention): one buffer per layer, bound as both the past
  input and the present output, which the kernel extends in place (what onnxruntime-genai does).

Graphs with a `logits_to_keep` input (`formats.onnx_graph`) give a prompt's last row only
when that is all the caller needs (prefill), so the prompt goes in one call. Teacher-forced
logits need every row: those go `PREFILL_CHUNK` tokens per call, as every row is 1 MiB in
float32 for Gemma's 262k vocabulary and one call on a long text would hold them all at once.
Measured: benchmarks/speed.md.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from edgekit.core.errors import EdgekitError
from edgekit.formats.onnx_graph import (
    ATTENTION_MASK,
    INPUT_IDS,
    LOGITS,
    LOGITS_TO_KEEP,
    PAST_PREFIX,
    POSITION_IDS,
    PRESENT_PREFIX,
)
from edgekit.runtime.artifact import Artifact
from edgekit.runtime.runner import Runner

PREFILL_CHUNK = 64  # teacher-forced rows per call
PROMPT_CHUNK = 512  # prompt tokens per call when only the last row is kept


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


def genai_config(artifact: Artifact) -> dict:
    """The artifact folder's genai_config.json; empty for a bare graph."""
    config = artifact.onnx_graph.parent / "genai_config.json"
    if not artifact.path.is_dir() or not config.exists():
        return {}
    return json.loads(config.read_text())


def shares_kv_buffer(config: dict) -> bool:
    """True where genai_config.json says the present may be written into the past."""
    return bool(config.get("search", {}).get("past_present_share_buffer"))


def context_length(config: dict) -> int | None:
    """The longest sequence genai_config.json declares: edgekit's graphs rotate inside the
    attention kernel from tables of that many positions (`converters.onnx_attention`)."""
    return config.get("model", {}).get("context_length")


class CopiedCache:
    """The past as arrays fed in, the present as the arrays onnxruntime returns."""

    def __init__(self, session) -> None:
        self.session = session
        self.outputs = [o.name for o in session.get_outputs()]
        self.past: dict[str, np.ndarray] = {}

    def run(self, feeds: dict[str, np.ndarray], start: int) -> np.ndarray:
        past = empty_past(self.session) if start == 0 else self.past
        results = dict(zip(self.outputs, self.session.run(None, {**feeds, **past})))
        self.past = {
            name.replace(PRESENT_PREFIX, PAST_PREFIX, 1): value
            for name, value in results.items()
            if name.startswith(PRESENT_PREFIX)
        }
        return results[LOGITS][0]


class SharedCache:
    """One buffer per past tensor, bound as input and output: GroupQueryAttention writes the new
    keys and values into it after the `start` it already holds. It grows by doubling (the
    tokens so far copied once) when a call would run past its end, up to `limit` tokens."""

    def __init__(self, session, limit: int | None = None, tokens: int = 512) -> None:
        self.session = session
        self.limit = limit or np.iinfo(np.int64).max
        tokens = min(tokens, self.limit)
        self.shapes = {i.name: (i.shape[1], i.shape[3]) for i in session.get_inputs() if i.name.startswith(PAST_PREFIX)}
        self.buffers: dict[str, np.ndarray] = {}
        self.binding = None
        self._allocate(tokens, keep=0)

    def _allocate(self, tokens: int, keep: int) -> None:
        """Buffers of `tokens` positions holding the first `keep` of the current ones."""
        import onnxruntime

        old = self.buffers
        self.buffers = {
            name: np.zeros((1, heads, tokens, dim), np.float32) for name, (heads, dim) in self.shapes.items()
        }
        for name, buffer in old.items():
            self.buffers[name][:, :, :keep] = buffer[:, :, :keep]
        self.binding = self.session.io_binding()
        self.binding.bind_output(LOGITS)  # first: `get_outputs()[0]`, rebound in place by `run`
        for name, buffer in self.buffers.items():
            value = onnxruntime.OrtValue.ortvalue_from_numpy(buffer)  # shares the array's memory
            self.binding.bind_ortvalue_input(name, value)
            self.binding.bind_ortvalue_output(name.replace(PAST_PREFIX, PRESENT_PREFIX, 1), value)

    @property
    def capacity(self) -> int:
        return next(iter(self.buffers.values())).shape[2]

    def run(self, feeds: dict[str, np.ndarray], start: int) -> np.ndarray:
        end = start + feeds[INPUT_IDS].shape[1]
        if end > self.capacity:
            self._allocate(min(max(2 * self.capacity, end), self.limit), keep=start)
        import onnxruntime

        for name, value in feeds.items():  # bind_cpu_input does not reach an overridable initializer
            self.binding.bind_ortvalue_input(name, onnxruntime.OrtValue.ortvalue_from_numpy(value))
        self.binding.bind_output(LOGITS)  # unallocated again: its row count changes from call to call
        self.session.run_with_iobinding(self.binding)
        return self.binding.get_outputs()[0].numpy()[0]


class OnnxRunner(Runner):
    backend = "onnxruntime"

    def __init__(
        self,
        artifact: Artifact,
        threads: int = 2,
        share_kv_buffer: bool | None = None,
        prompt_last_row: bool | None = None,
    ) -> None:
        """`share_kv_buffer` and `prompt_last_row`: None follows the artifact (its genai_config.json,
        its graph's inputs); benchmarks/speed.py sets them to time each choice."""
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
        has_keep = LOGITS_TO_KEEP in {i.name for i in self.session.get_overridable_initializers()}
        self.keeps_last = has_keep if prompt_last_row is None else prompt_last_row and has_keep
        config = genai_config(artifact)
        self.cache_length = context_length(config)
        shared = shares_kv_buffer(config) if share_kv_buffer is None else share_kv_buffer
        self.cache = SharedCache(self.session, self.cache_length) if shared else CopiedCache(self.session)
        self._position = 0

    def _run(self, ids: Sequence[int], start: int, last_only: bool = False) -> np.ndarray:
        if self.cache_length and start + len(ids) > self.cache_length:
            raise EdgekitError(
                f"the sequence outgrew the graph's context of {self.cache_length} tokens",
                "use a shorter text or convert with a larger --max-tokens",
            )
        feeds = decoder_feeds(ids, start, {})
        if self.keeps_last:
            feeds[LOGITS_TO_KEEP] = np.array([1 if last_only else 0], dtype=np.int64)
        rows = self.cache.run(feeds, start)
        self._position = start + len(ids)
        return rows

    def _chunks(self, ids: Sequence[int]) -> Iterator[np.ndarray]:
        """Logits of `ids` as a new sequence, one call per `PREFILL_CHUNK` tokens."""
        for start in range(0, len(ids), PREFILL_CHUNK):
            yield self._run(ids[start : start + PREFILL_CHUNK], start)

    def prefill(self, ids: Sequence[int]) -> np.ndarray:
        if not ids:
            raise EdgekitError("an empty prompt has no next token", "start it with the BOS token")
        if not self.keeps_last:
            for rows in self._chunks(ids):
                last = rows[-1].copy()
            return last
        for start in range(0, len(ids), PROMPT_CHUNK):
            rows = self._run(ids[start : start + PROMPT_CHUNK], start, last_only=True)
        return rows[-1]

    def decode_step(self, token: int) -> np.ndarray:
        return self._run([token], self._position)[-1]

    def logits(self, ids: Sequence[int]) -> Iterator[np.ndarray]:
        for rows in self._chunks(ids):
            yield from rows
