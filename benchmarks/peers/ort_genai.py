"""onnxruntime-genai's own model builder as a peer: its int4 and int8 graphs of the same weights, run by genai.

The builder (onnxruntime-genai 0.18) reads Gemma 3's RoPE from a flat `rope_theta` and
`rope_local_base_freq`; transformers 5 configs nest them per layer type under
`rope_parameters`, so the builder's config reader is given the flat values first (its
`builder.py` imports `builders` as a top-level module: that module is the one patched).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BUILD = r"""
import runpy, sys
from pathlib import Path
import onnxruntime_genai.models as models
sys.path.insert(0, str(Path(models.__file__).parent))
import builders.base as base

original = base.Model.make_config_init

def flat_rope(self, config):
    nested = getattr(config, "rope_parameters", None)
    if isinstance(nested, dict) and "full_attention" in nested:
        config.rope_theta = nested["full_attention"]["rope_theta"]
        config.rope_local_base_freq = nested["sliding_attention"]["rope_theta"]
        config.rope_parameters = {"rope_type": "default", "rope_theta": config.rope_theta}
    original(self, config)

base.Model.make_config_init = flat_rope
hf, out, precision, cache = sys.argv[1:5]
sys.argv = ["builder.py", "-i", hf, "-o", out, "-p", precision, "-e", "cpu", "-c", cache]
runpy.run_path(str(Path(models.__file__).parent / "builder.py"), run_name="__main__")
"""

BENCH = r"""
import json, resource, sys, time
import onnxruntime_genai as og
from edgekit.runtime.bench import bench_prompt
folder, prefill, decode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
started = time.perf_counter()
model = og.Model(folder)
loaded = time.perf_counter()
params = og.GeneratorParams(model)
params.set_search_options(max_length=max(1024, prefill + decode), do_sample=False)
generator = og.Generator(model, params)
prompt = bench_prompt(prefill, json.load(open(folder + "/genai_config.json"))["model"]["vocab_size"])
begin = time.perf_counter()
generator.append_tokens(prompt)
generator.generate_next_token()
first = time.perf_counter()
for _ in range(decode - 1):
    generator.generate_next_token()
done = time.perf_counter()
print(json.dumps({
    "load_seconds": round(loaded - started, 3),
    "time_to_first_token_seconds": round(first - begin, 3),
    "prefill_tokens_per_second": round(prefill / (first - begin), 1),
    "decode_tokens_per_second": round((decode - 1) / (done - first), 1),
    "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
}))
"""

TEACHER_FORCED = r"""
import json, sys
import numpy as np
import onnxruntime_genai as og
from edgekit.core.golden import TeacherForcedReference
from edgekit.runtime.validate import teacher_forced_over
folder, manifest = sys.argv[1], json.load(open(sys.argv[2]))
reference = TeacherForcedReference.from_json(manifest["golden"]["reference"])
model = og.Model(folder)

class Generator:  # what teacher_forced_over reads of a runner: logits position by position
    cache_length = len(reference.ids)

    def logits(self, ids):
        params = og.GeneratorParams(model)
        params.set_search_options(max_length=max(1024, len(ids) + 1), do_sample=False)
        generator = og.Generator(model, params)
        for token in ids:
            generator.append_tokens([token])
            yield np.array(generator.get_logits(), dtype=np.float32).reshape(-1)

tf = teacher_forced_over(Generator(), reference)
print(json.dumps({"top1": tf.top1_agreement, "kl_mean": tf.kl_mean, "kl_p99": tf.kl_p99,
                  "ppl_ratio": tf.bundle_perplexity / tf.source_perplexity}))
"""


def build(hf_dir: Path, out: Path, threads: int, precision: str = "int4") -> Path:
    """The builder's folder for `hf_dir` (kept between runs), its sessions set to `threads`."""
    if not (out / "genai_config.json").exists():
        proc = subprocess.run(
            [sys.executable, "-c", BUILD, str(hf_dir), str(out), precision, str(out.parent / "genai-cache")],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            sys.exit(f"onnxruntime-genai's builder failed: {proc.stderr.strip().splitlines()[-3:]}")
    config = json.loads((out / "genai_config.json").read_text())
    config["model"]["decoder"]["session_options"]["intra_op_num_threads"] = threads
    (out / "genai_config.json").write_text(json.dumps(config, indent=2))
    return out


def bench(folder: Path, prefill: int, decode: int) -> dict:
    """Prompt of `prefill` ids, then `decode` greedy tokens, timed inside genai's generator."""
    proc = subprocess.run(
        [sys.executable, "-c", BENCH, str(folder), str(prefill), str(decode)], capture_output=True, text=True
    )
    if proc.returncode != 0:
        sys.exit(f"onnxruntime-genai failed: {proc.stderr.strip().splitlines()[-3:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def teacher_forced(folder: Path, golden_manifest: Path) -> dict:
    """top-1, KL and perplexity ratio over an edgekit manifest's reference text, one token at a
    time through genai's generator, scored by edgekit's own metric code."""
    proc = subprocess.run(
        [sys.executable, "-c", TEACHER_FORCED, str(folder), str(golden_manifest)], capture_output=True, text=True
    )
    if proc.returncode != 0:
        sys.exit(f"onnxruntime-genai failed: {proc.stderr.strip().splitlines()[-3:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])
