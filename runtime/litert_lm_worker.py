"""Child process that hosts the LiteRT-LM engine.

LiteRT-LM's native code can abort the whole process on a malformed model (NOTES), so the
engine never runs in the user's process: the parent sends one JSON request on stdin and reads
JSON lines back; the engine's own logging stays on stderr.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any


def _emit(**event: Any) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def _sampler(litert_lm, spec: dict[str, Any]):
    return litert_lm.SamplerConfig(
        top_k=spec.get("top_k"), top_p=spec.get("top_p"),
        temperature=spec.get("temperature"), seed=spec.get("seed"),
    )


def serve(request: dict[str, Any]) -> None:
    import litert_lm

    litert_lm.set_min_log_severity(litert_lm.LogSeverity.ERROR)
    engine = litert_lm.Engine(
        request["model"],
        backend=litert_lm.Backend.CPU(thread_count=request.get("threads", 2)),
        cache_dir=request.get("cache_dir"),
    )
    for index, op in enumerate(request["ops"]):
        kind = op["op"]
        if kind == "tokenize":
            _emit(event="result", index=index, ids=[engine.tokenize(t) for t in op["texts"]])
        elif kind == "generate":
            session = engine.create_session(
                apply_prompt_template=False,
                sampler_config=_sampler(litert_lm, op.get("sampler", {})),
                max_output_tokens=op["max_tokens"],
            )
            t0 = time.perf_counter()
            session.run_prefill([op["prompt"]])
            t1 = time.perf_counter()
            text, first = [], None
            for response in session.run_decode_async():
                chunk = "".join(response.texts)
                if first is None:
                    first = time.perf_counter()
                text.append(chunk)
                if op.get("stream"):
                    _emit(event="chunk", index=index, text=chunk)
            t2 = time.perf_counter()
            _emit(event="result", index=index, text="".join(text), prefill_seconds=t1 - t0,
                  first_token_seconds=(first or t2) - t0, total_seconds=t2 - t0)
            session.close()
        elif kind == "bench":
            info = litert_lm.Benchmark(
                model_path=request["model"],
                backend=litert_lm.Backend.CPU(thread_count=request.get("threads", 2)),
                prefill_tokens=op["prefill_tokens"], decode_tokens=op["decode_tokens"],
                cache_dir=request.get("cache_dir"),
            ).run()
            _emit(event="result", index=index, **{k: getattr(info, k) for k in (
                "init_time_in_second", "time_to_first_token_in_second", "last_prefill_token_count",
                "last_prefill_tokens_per_second", "last_decode_token_count", "last_decode_tokens_per_second")})
        else:
            _emit(event="error", index=index, message=f"unknown op {kind}")
    engine.close()


def main() -> None:
    request = json.loads(sys.stdin.read())
    try:
        serve(request)
    except Exception as exc:  # reported to the parent, which turns it into one line
        _emit(event="error", message=f"{type(exc).__name__}: {exc}")
        sys.exit(3)


if __name__ == "__main__":
    main()
