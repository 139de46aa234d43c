"""A bundle's own LiteRT model, stepped through the LiteRT interpreter.

LiteRT-LM returns text, not logits; teacher-forced checks (top-1 agreement, KL, perplexity)
need the logits, so the bundle's model is stepped here one token at a time through its
`decode` signature, carrying the KV cache between calls (inputs: tokens, input_pos,
kv_cache_k_i / kv_cache_v_i, and a causal mask of 0 / -inf over the cache). Where LiteRT-LM
cannot start (an ARMv8.0 board), this runner is the whole engine: a prompt goes through the
bundle's `prefill_N` signatures in chunks, as LiteRT-LM does, and decoding follows.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from edgekit.core.errors import EdgekitError
from edgekit.core.native_log import native_stderr_to_log
from edgekit.formats.tflite import check_tflite_bytes, interpreter
from edgekit.runtime.artifact import EMBEDDER, PER_LAYER_EMBEDDER, PREFILL_DECODE, Artifact
from edgekit.runtime.runner import Runner

PREFILL_PREFIX = "prefill_"


class TfliteRunner(Runner):
    backend = "LiteRT interpreter"

    def __init__(self, artifact: Artifact, threads: int = 2) -> None:
        super().__init__(artifact)
        decoder = self._interpreter(artifact, PREFILL_DECODE, threads)
        self._decode = self._signature(decoder, PREFILL_DECODE, "decode")
        inputs = self._decode.get_input_details()
        self._cache_names = sorted(k for k in inputs if k.startswith("kv_cache_"))
        self._cache_shapes = {k: tuple(inputs[k]["shape"]) for k in self._cache_names}
        self.cache_length = int(inputs["mask"]["shape"][-1])
        # Bundles with external embedders (Gemma 4) take each token's embeddings, not its id.
        self._embedders = {}
        if "embeddings" in inputs:
            embedder = self._interpreter(artifact, EMBEDDER, threads)
            self._embedders["embeddings"] = self._signature(embedder, EMBEDDER, "decode_embedder")
            if "per_layer_embeddings" in inputs:
                per_layer = self._interpreter(artifact, PER_LAYER_EMBEDDER, threads)
                self._embedders["per_layer_embeddings"] = self._signature(
                    per_layer, PER_LAYER_EMBEDDER, "decode_per_layer_embedder"
                )
        # Prefill signatures that take token ids, by length (embedder bundles step their prompts).
        self._prefills = {}
        if not self._embedders:
            for name in decoder.get_signature_list():
                if name.startswith(PREFILL_PREFIX) and name[len(PREFILL_PREFIX) :].isdigit():
                    self._prefills[int(name[len(PREFILL_PREFIX) :])] = decoder.get_signature_runner(name)
        self._delegates_ready = False
        self._reset()

    @staticmethod
    def _interpreter(artifact: Artifact, model_type: str, threads: int):
        model = artifact.model_bytes(model_type)
        check_tflite_bytes(model, f"the bundle's {model_type} model")
        return interpreter(model, threads)

    @staticmethod
    def _signature(model, model_type: str, name: str):
        if name not in model.get_signature_list():
            raise EdgekitError(f"the bundle's {model_type} model has no `{name}` signature", "re-run `edgekit convert`")
        return model.get_signature_runner(name)

    def _reset(self) -> None:
        self._cache = {k: np.zeros(s, dtype=np.float32) for k, s in self._cache_shapes.items()}
        self._mask = np.full((1, 1, 1, self.cache_length), -np.inf, dtype=np.float32)
        self._position = 0

    def _check_room(self, tokens: int) -> None:
        if self._position + tokens > self.cache_length:
            raise EdgekitError(
                f"the sequence outgrew the bundle's KV cache of {self.cache_length} tokens",
                "use a shorter text or convert with a larger --max-tokens",
            )

    def _native(self, call, *args):
        """The first invoke applies XNNPACK, which announces itself on fd 2: that goes to the log."""
        if self._delegates_ready:
            return call(*args)
        with native_stderr_to_log():
            result = call(*args)
        self._delegates_ready = True
        return result

    def _feed(self, token: int) -> np.ndarray:
        self._check_room(1)
        return self._native(self._step, token)

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

    def _prefill_length(self, remaining: int) -> int | None:
        """The shortest prefill signature that takes `remaining` tokens, else the longest; None
        when its padding would run past the cache (padding is written into the cache too)."""
        if not self._prefills:
            return None
        fitting = [n for n in self._prefills if n >= remaining]
        length = min(fitting) if fitting else max(self._prefills)
        return length if self._position + length <= self.cache_length else None

    def _prefill_chunk(self, ids: Sequence[int], length: int) -> None:
        """Write `ids` (at most `length`) into the cache; pad ids fill the rest and are masked out
        (the model treats the pad id as no token), and later steps overwrite their cache rows."""
        tokens = np.full((1, length), self.tokenizer.pad_id(), dtype=np.int32)
        tokens[0, : len(ids)] = ids
        positions = np.arange(self._position, self._position + length, dtype=np.int32)
        columns = np.arange(self.cache_length)
        mask = np.where(columns[None, :] <= positions[:, None], 0.0, -np.inf).astype(np.float32)
        out = self._prefills[length](tokens=tokens, input_pos=positions, mask=mask[None, None], **self._cache)
        self._cache = {k: out[k] for k in self._cache_names}
        self._position += len(ids)
        self._mask[..., : self._position] = 0.0

    def prefill(self, ids: Sequence[int]) -> np.ndarray:
        """All ids but the last through the prefill signatures, the last through `decode` (prefill
        signatures give no logits)."""
        self._reset()
        self._check_room(len(ids))
        head = list(ids[:-1])
        while head:
            length = self._prefill_length(len(head))
            if length is None:
                break
            chunk, head = head[:length], head[length:]
            self._native(self._prefill_chunk, chunk, length)
        for token in head:
            self._feed(token)
        return self._feed(ids[-1])

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
