"""Child process that hosts the LiteRT-LM engine.

LiteRT-LM's native code can abort the whole process on a malformed model or a CPU it was not
built for (tests/test_bad_inputs.py feeds it such files), so the engine never runs in the user's process. Protocol, JSON lines: the
parent's first line configures the engine, each further line is one operation; the child
answers an operation with `chunk` events and one closing `result` (or `error`) event. The
engine loads on the first operation that needs it and stays loaded until stdin closes.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from edgekit.core.progress import own_peak_rss_bytes

# LiteRT-LM's streaming detokenizer gives up when byte-fallback tokens that were shown as
# replacement characters later join into fewer characters; the text before it is sound.
DETOKENIZER_SHRANK = "Stable text shrunk"


def _emit(**event: Any) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


class Worker:
    def __init__(self, config: dict[str, Any]) -> None:
        import litert_lm

        litert_lm.set_min_log_severity(litert_lm.LogSeverity.ERROR)
        self.lm = litert_lm
        self.config = config
        self._engine = None

    def _backend(self):
        return self.lm.Backend.CPU(thread_count=self.config.get("threads", 2))

    @property
    def engine(self):
        if self._engine is None:
            self._engine = self.lm.Engine(
                self.config["model"], backend=self._backend(), cache_dir=self.config.get("cache_dir")
            )
        return self._engine

    def tokenize(self, op: dict[str, Any]) -> dict[str, Any]:
        return {"ids": [self.engine.tokenize(t) for t in op["texts"]]}

    def generate(self, op: dict[str, Any]) -> dict[str, Any]:
        spec = op.get("sampler", {})
        session = self.engine.create_session(
            apply_prompt_template=False,
            sampler_config=self.lm.SamplerConfig(
                top_k=spec.get("top_k"),
                top_p=spec.get("top_p"),
                temperature=spec.get("temperature"),
                seed=spec.get("seed"),
            ),
            max_output_tokens=op["max_tokens"],
        )
        try:
            t0 = time.perf_counter()
            session.run_prefill([op["prompt"]])
            t1 = time.perf_counter()
            text, first, stopped = [], None, None
            try:
                for response in session.run_decode_async():
                    chunk = "".join(response.texts)
                    first = first or time.perf_counter()
                    text.append(chunk)
                    if op.get("stream") and chunk:
                        _emit(event="chunk", text=chunk)
            except RuntimeError as exc:
                if DETOKENIZER_SHRANK not in str(exc):
                    raise
                stopped = str(exc)
            t2 = time.perf_counter()
        finally:
            session.close()
        return {
            "text": "".join(text),
            "stopped": stopped,
            "prefill_seconds": t1 - t0,
            "first_token_seconds": (first or t2) - t0,
            "total_seconds": t2 - t0,
        }

    def bench(self, op: dict[str, Any]) -> dict[str, Any]:
        """LiteRT-LM's own benchmark, which loads the model itself (so the engine stays unloaded)."""
        info = self.lm.Benchmark(
            model_path=self.config["model"],
            backend=self._backend(),
            prefill_tokens=op["prefill_tokens"],
            decode_tokens=op["decode_tokens"],
            cache_dir=self.config.get("cache_dir"),
        ).run()
        return {
            **{
                k: getattr(info, k)
                for k in (
                    "init_time_in_second",
                    "time_to_first_token_in_second",
                    "last_prefill_token_count",
                    "last_prefill_tokens_per_second",
                    "last_decode_token_count",
                    "last_decode_tokens_per_second",
                )
            },
            "peak_rss_bytes": own_peak_rss_bytes(),
        }

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()


OPERATIONS = ("tokenize", "generate", "bench")


def main() -> None:
    worker = Worker(json.loads(sys.stdin.readline()))
    for line in sys.stdin:
        op = json.loads(line)
        if op.get("op") not in OPERATIONS:
            _emit(event="error", message=f"unknown operation {op.get('op')!r}")
            continue
        try:
            _emit(event="result", **getattr(worker, op["op"])(op))
        except Exception as exc:  # reported to the parent, which turns it into one line
            _emit(event="error", message=f"{type(exc).__name__}: {exc}")
    worker.close()


if __name__ == "__main__":
    main()
