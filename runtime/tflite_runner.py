"""Per-position logits from the LiteRT model inside a bundle, through the LiteRT interpreter.

LiteRT-LM returns text, not logits; teacher-forced checks (top-1 agreement, KL, perplexity)
need the logits, so the bundle's own model is stepped here one token at a time through its
`decode` signature, carrying the KV cache between calls (inputs: tokens, input_pos,
kv_cache_k_i / kv_cache_v_i, and a causal mask of 0 / -inf over the cache).
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from edgekit.errors import EdgekitError
from edgekit.formats.tflite import check_tflite_bytes, interpreter


class DecodeStepper:
    def __init__(self, model: bytes, threads: int = 2) -> None:
        check_tflite_bytes(model, "the bundle's model")
        self._interpreter = interpreter(model, threads)
        signatures = self._interpreter.get_signature_list()
        if "decode" not in signatures:
            raise EdgekitError("the bundle's model has no `decode` signature", "re-run `edgekit convert`")
        self._decode = self._interpreter.get_signature_runner("decode")
        inputs = self._decode.get_input_details()
        self._cache_names = sorted(k for k in inputs if k.startswith("kv_cache_"))
        self._cache_shapes = {k: tuple(inputs[k]["shape"]) for k in self._cache_names}
        self.cache_length = int(inputs["mask"]["shape"][-1])

    def logits(self, ids: list[int]) -> Iterator[np.ndarray]:
        """Logits after each token of `ids` (position i predicts ids[i + 1])."""
        if len(ids) > self.cache_length:
            raise EdgekitError(
                f"{len(ids)} tokens do not fit the bundle's KV cache of {self.cache_length}",
                "use a shorter text or convert with a larger --max-tokens",
            )
        cache = {k: np.zeros(s, dtype=np.float32) for k, s in self._cache_shapes.items()}
        mask = np.full((1, 1, 1, self.cache_length), -np.inf, dtype=np.float32)
        for position, token in enumerate(ids):
            mask[..., position] = 0.0
            out = self._decode(
                tokens=np.array([[token]], dtype=np.int32),
                input_pos=np.array([position], dtype=np.int32),
                mask=mask,
                **cache,
            )
            cache = {k: out[k] for k in self._cache_names}
            yield out["logits"].reshape(-1)
