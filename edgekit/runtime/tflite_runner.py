"""A bundle's own LiteRT model, stepped through the LiteRT interpreter.

LiteRT-LM returns text, not logits; teacher-forced checks (top-1 agreement, KL, perplexity)
need the logits, so the bundle's model is stepped here one token at a time through its
`decode` signature, carrying the KV cache between calls (inputs: tokens, input_pos,
kv_cache_k_i / kv_cache_v_i, and a causal mask of 0 / -inf over the cache).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence

import numpy as np

from edgekit.core.errors import EdgekitError
from edgekit.core.native_log import native_stderr_to_log
from edgekit.formats.tflite import check_tflite_bytes, interpreter
from edgekit.runtime.artifact import EMBEDDER, PER_LAYER_EMBEDDER, PREFILL_DECODE, Artifact
from edgekit.runtime.runner import Runner


class TfliteRunner(Runner):
    backend = "LiteRT interpreter"

    def __init__(self, artifact: Artifact, threads: int = 2) -> None:
        super().__init__(artifact)
        self._decode = self._signature(artifact, PREFILL_DECODE, "decode", threads)
        inputs = self._decode.get_input_details()
        self._cache_names = sorted(k for k in inputs if k.startswith("kv_cache_"))
        self._cache_shapes = {k: tuple(inputs[k]["shape"]) for k in self._cache_names}
        self.cache_length = int(inputs["mask"]["shape"][-1])
        # Bundles with external embedders (Gemma 4) take each token's embeddings, not its id.
        self._embedders = {}
        if "embeddings" in inputs:
            self._embedders["embeddings"] = self._signature(artifact, EMBEDDER, "decode_embedder", threads)
            if "per_layer_embeddings" in inputs:
                self._embedders["per_layer_embeddings"] = self._signature(
                    artifact, PER_LAYER_EMBEDDER, "decode_per_layer_embedder", threads
                )
        self._delegates_ready = False
        self._reset()

    @staticmethod
    def _signature(artifact: Artifact, model_type: str, name: str, threads: int):
        model = artifact.model_bytes(model_type)
        check_tflite_bytes(model, f"the bundle's {model_type} model")
        runner = interpreter(model, threads)
        if name not in runner.get_signature_list():
            raise EdgekitError(f"the bundle's {model_type} model has no `{name}` signature", "re-run `edgekit convert`")
        return runner.get_signature_runner(name)

    def _reset(self) -> None:
        self._cache = {k: np.zeros(s, dtype=np.float32) for k, s in self._cache_shapes.items()}
        self._mask = np.full((1, 1, 1, self.cache_length), -np.inf, dtype=np.float32)
        self._position = 0

    def _feed(self, token: int) -> np.ndarray:
        if self._position >= self.cache_length:
            raise EdgekitError(
                f"the sequence outgrew the bundle's KV cache of {self.cache_length} tokens",
                "use a shorter text or convert with a larger --max-tokens",
            )
        if self._delegates_ready:
            return self._step(token)
        with native_stderr_to_log():  # the first call applies XNNPACK, which announces itself on fd 2
            logits = self._step(token)
        self._delegates_ready = True
        return logits

    def _step(self, token: int) -> np.ndarray:
        self._mask[..., self._position] = 0.0
        ids = np.array([[token]], dtype=np.int32)
        if self._embedders:
            inputs = {name: embed(token_ids=ids)["embeddings"] for name, embed in self._embedders.items()}
        else:
            inputs = {"tokens": ids}
        out = self._decode(
            input_pos=np.array([self._position], dtype=np.int32),
            mask=self._mask,
            **inputs,
            **self._cache,
        )
        self._cache = {k: out[k] for k in self._cache_names}
        self._position += 1
        return out["logits"].reshape(-1)

    def prefill(self, ids: Sequence[int]) -> np.ndarray:
        (last,) = deque(self.logits(ids), maxlen=1)  # one row kept: a row is vocab-sized
        return last

    def decode_step(self, token: int) -> np.ndarray:
        return self._feed(token)

    def logits(self, ids: Sequence[int]) -> Iterator[np.ndarray]:
        if len(ids) > self.cache_length:
            raise EdgekitError(
                f"{len(ids)} tokens do not fit the bundle's KV cache of {self.cache_length}",
                "use a shorter text or convert with a larger --max-tokens",
            )
        self._reset()
        for token in ids:
            yield self._feed(token)
