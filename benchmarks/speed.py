"""ONNX decode and prefill levers on the default Gemma 3 270M, A/B in one run: benchmarks/speed.md.

    .venv/bin/python benchmarks/speed.py [--out benchmarks/out/speed] [--rounds 3] [--threads 2]

Converts the embedded model once (`edgekit convert --target onnx --quant int4,int8,int8-fast`), then times
each lever in its own child process (so its peak RSS is its own), every variant once per round,
rounds interleaved; the table gives the median and the spread (min-max) of the rounds. A variant
also reports teacher-forced top-1 and mean KL over the reference text against the source's
golden outputs (edgekit's own metric code), so a faster choice that loses fidelity shows it;
the rotary lever's two rows also over 16 windows of README.md against the source model.

Levers:
- runner: the past fed as arrays and the present returned (`CopiedCache`) vs one buffer the
  attention kernel extends in place (`SharedCache`); the prompt's logits at every position vs
  only the last (`logits_to_keep`);
- graph: carried GGUF 4-bit codes computed with float activations (accuracy level 1, today)
  vs int8 activations (level 4), a copy of the graph with that attribute rewritten;
- recipe: `int8-fast`, the same carried blocks with int8 activations on every product, its
  wide codes (Q5_0, Q8_0) whole in one 8-bit product instead of split into 4-bit top bits
  (float activations) and low bits;
- head: `int8-fast`'s tied Q8_0 table as one 8-bit output projection vs ranked by its top
  nibbles with 512 leaders re-scored exactly (`converters.onnx_head`, the recipe's default), the
  former written from the float graph (rotary as separate nodes) with the recipe's forms but no leaders;
- rotary: inside each attention kernel (`do_rotary`, with cos/sin tables that onnxruntime
  computes at load from the exported angle nodes; every recipe's form) vs separate nodes before
  it, `int8-fast` written again from a float graph exported in that form;
- q/k/v and gate/up each one product of their stacked weights, split after, instead of one
  product per weight, as onnxruntime-genai's builder writes them (a rewritten copy of `int8-fast`).

Peer, in the same rounds: onnxruntime-genai's own model builder's int4 graph of the same
weights (the embedded GGUF dequantized to float32), run by onnxruntime-genai
(`benchmarks/peers/ort_genai.py`; its fidelity is not measured here).

Then onnxruntime's profiler on the int4 and int8-fast graphs: time per operator type over decode steps.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks.edgekit_cli import edgekit  # noqa: E402
from benchmarks.peers import ort_genai  # noqa: E402

PREFILL, DECODE, PROFILED_STEPS = 256, 128, 32
PROFILED = ("int4", "int8-fast")
# The reference text's 515 positions put top-1's standard error near 0.75 points, about the
# size of a rounding change's effect; the rotary lever's two rows are also scored over this.
WIDE_TEXT, WIDE_WINDOWS, WIDE_WINDOW = HERE.parent / "README.md", 16, 512
WIDE_SCORED = (("int8-fast", "rotary nodes"), ("int8-fast", "as converted"))

VARIANTS = (  # (name, recipe, graph, share_kv_buffer, prompt_last_row)
    ("int4: arrays, every row (before)", "int4", "as converted", False, False),
    ("int4: arrays, last row", "int4", "as converted", False, True),
    ("int4: shared buffer, last row (adopted)", "int4", "as converted", True, True),
    ("int4: adopted + level 4 on carried codes", "int4", "level 4", True, True),
    ("int8: arrays, every row (before)", "int8", "as converted", False, False),
    ("int8: shared buffer, last row (adopted)", "int8", "as converted", True, True),
    ("int8: adopted + level 4 on carried codes", "int8", "level 4", True, True),
    ("int8-fast: one 8-bit product per weight, level 4, whole head", "int8-fast", "whole head", True, True),
    ("int8-fast: + head ranked by top nibbles, 512 re-scored", "int8-fast", "rotary nodes", True, True),
    ("int8-fast: + rotary inside the attention kernel (adopted)", "int8-fast", "as converted", True, True),
    ("int8-fast: adopted + q/k/v and gate/up each one product", "int8-fast", "joined products", True, True),
)

# Run in a child: bench one variant, then teacher-forced metrics; prints one JSON line.
CHILD = r"""
import json, sys
from pathlib import Path
from edgekit.runtime.artifact import open_artifact
from edgekit.runtime.bench import bench_onnx
from edgekit.runtime.onnx_runner import OnnxRunner
from edgekit.runtime.validate import teacher_forced_over

folder, threads, share, last, prefill, decode = sys.argv[1:7]
artifact, options = open_artifact(Path(folder)), {"share_kv_buffer": share == "1", "prompt_last_row": last == "1"}
result = bench_onnx(artifact, int(threads), int(prefill), int(decode), **options)  # its peak RSS: before scoring
tf = teacher_forced_over(OnnxRunner(artifact, int(threads), **options), artifact.manifest.golden.reference)
result.update(top1=tf.top1_agreement, kl_mean=tf.kl_mean)
print(json.dumps(result))
"""

# Run in a child: teacher-forced metrics over the wide text's windows; prints one JSON line.
WIDE_CHILD = r"""
import json, sys
from pathlib import Path
from edgekit.core.golden import TeacherForcedReference
from edgekit.runtime.artifact import open_artifact
from edgekit.runtime.onnx_runner import OnnxRunner
from edgekit.runtime.validate import teacher_forced_over

folder, threads, references = Path(sys.argv[1]), int(sys.argv[2]), json.loads(Path(sys.argv[3]).read_text())
runner = OnnxRunner(open_artifact(folder), threads)
scores = [teacher_forced_over(runner, TeacherForcedReference.from_json(r)) for r in references]
positions = sum(s.positions for s in scores)
print(json.dumps({"positions": positions,
                  "top1": sum(s.top1_agreement * s.positions for s in scores) / positions,
                  "kl_mean": sum(s.kl_mean * s.positions for s in scores) / positions}))
"""

PROFILE = r"""
import json, sys
import numpy as np
import onnxruntime
from collections import Counter
from pathlib import Path
from edgekit.runtime.bench import bench_prompt
from edgekit.runtime.onnx_runner import SharedCache, decoder_feeds
from edgekit.formats.onnx_graph import LOGITS_TO_KEEP

graph, threads, prefill, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
options = onnxruntime.SessionOptions()
options.intra_op_num_threads = threads
options.log_severity_level = 3
options.enable_profiling = True
options.profile_file_prefix = sys.argv[5]
session = onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
cache = SharedCache(session)
vocab = json.loads((Path(graph).parent / "genai_config.json").read_text())["model"]["vocab_size"]
prompt = bench_prompt(prefill, vocab)
feeds = decoder_feeds(prompt, 0, {})
feeds[LOGITS_TO_KEEP] = np.array([1], dtype=np.int64)
token = int(np.argmax(cache.run(feeds, 0)[-1]))
for step in range(steps):
    token = int(np.argmax(cache.run(decoder_feeds([token], prefill + step, {}), prefill + step)[-1]))
events = json.loads(open(session.end_profiling()).read())
import onnx
shapes = {n.name: "{N} x {K}".format(**{a.name: a.i for a in n.attribute})
          for n in onnx.load(graph, load_external_data=False).graph.node if n.op_type == "MatMulNBits"}
runs = [e for e in events if e.get("name") == "model_run"][-steps:]
first = runs[0]["ts"]
per_op, nodes, per_node = Counter(), Counter(), Counter()
for e in events:
    if e.get("cat") == "Node" and e["ts"] >= first and e["name"].endswith("_kernel_time"):
        per_op[e["args"]["op_name"]] += e["dur"]
        nodes[e["args"]["op_name"]] += 1
        name = e["name"].removesuffix("_kernel_time")
        if name in shapes:
            per_node[shapes[name]] += e["dur"]
print(json.dumps({"step_us": sum(r["dur"] for r in runs) / steps,
                  "ops": {op: [us / steps, nodes[op] // steps] for op, us in per_op.most_common()},
                  "matmul_shapes": [[shape, us / steps] for shape, us in per_node.most_common(4)]}))
"""


def log(message: str) -> None:
    print(f"[speed] {message}", file=sys.stderr, flush=True)


def linked_folder(folder: Path, out: Path, keep: tuple[str, ...]) -> Path:
    """A new `out` with `folder`'s files whose names start with one of `keep` hard-linked (not
    copied), and beside it the original's manifest: its golden outputs are what the copy is
    scored against."""
    from edgekit.core.manifest import manifest_path

    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    manifest_path(out).unlink(missing_ok=True)
    os.link(manifest_path(folder), manifest_path(out))
    for item in folder.iterdir():
        if item.name.startswith(keep):
            os.link(item, out / item.name)
    return out


def level_4_copy(folder: Path, out: Path) -> Path:
    """The folder with every MatMulNBits at accuracy level 4, its weights shared."""
    import onnx

    linked_folder(folder, out, ("model.onnx.data", "genai_config", "tokenizer"))
    model = onnx.load(str(folder / "model.onnx"), load_external_data=False)
    for node in model.graph.node:
        for attribute in node.attribute:
            if node.op_type == "MatMulNBits" and attribute.name == "accuracy_level":
                attribute.i = 4
    onnx.save(model, str(out / "model.onnx"))
    return out


def whole_head_copy(folder: Path, float_graph: Path, out: Path) -> Path:
    """`folder`'s recipe written again from the float graph with one whole product for the tied
    table (no leaders re-scored); its other files hard-linked, and the original's manifest."""
    from dataclasses import replace

    from edgekit.converters.onnx_quantize import quantize_onnx
    from edgekit.core.manifest import manifest_path, read_manifest
    from edgekit.core.recipes import recipe_named
    from edgekit.intake.default_model import default_gguf

    linked_folder(folder, out, ("genai_config", "tokenizer"))
    quant = read_manifest(manifest_path(folder)).recipe.quant
    forms = replace(recipe_named(quant).onnx_forms, head_candidates=0)
    quantize_onnx(float_graph, quant, 32, out / "model.onnx", gguf_path=default_gguf(), forms=forms)
    return out


def rotary_nodes_copy(folder: Path, float_graph: Path, out: Path) -> Path:
    """`folder`'s recipe written again from `float_graph`, the embedded model exported with
    rotary as separate nodes before each attention kernel (what every recipe had before the
    kernel rotated); its other files hard-linked, and the original's manifest."""
    from edgekit.converters.onnx_quantize import quantize_onnx
    from edgekit.core.manifest import manifest_path, read_manifest
    from edgekit.intake.default_model import default_gguf

    linked_folder(folder, out, ("genai_config", "tokenizer"))
    quant = read_manifest(manifest_path(folder)).recipe.quant
    quantize_onnx(float_graph, quant, 32, out / "model.onnx", gguf_path=default_gguf())
    return out


def joined_products_copy(folder: Path, out: Path) -> Path:
    """The folder with the products that read one input in one form (a layer's q/k/v; its
    gate/up) written as one MatMulNBits of their weights stacked on N and a Split, as
    onnxruntime-genai's builder writes them: the same rows, in fewer and larger kernel calls."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    from edgekit.converters.onnx_blocks import drop_unused_initializers

    linked_folder(folder, out, ("genai_config", "tokenizer"))
    model = onnx.load(str(folder / "model.onnx"), load_external_data=False)
    graph = model.graph
    with open(folder / "model.onnx.data", "rb") as data:  # onnx's own loader refuses hard-linked data files
        for tensor in graph.initializer:
            if tensor.data_location == onnx.TensorProto.EXTERNAL:
                where = {entry.key: entry.value for entry in tensor.external_data}
                data.seek(int(where.get("offset", 0)))
                tensor.raw_data = data.read(int(where["length"]))
                del tensor.external_data[:]
                tensor.data_location = onnx.TensorProto.DEFAULT
    weights = {i.name: i for i in graph.initializer}
    producer = {name: n for n in graph.node for name in n.output}

    def stored(name: str) -> np.ndarray:  # an initializer, or float16 scales under a Cast to float32
        if name in weights:
            return numpy_helper.to_array(weights[name])
        return numpy_helper.to_array(weights[producer[name].input[0]]).astype(np.float32)

    readers: dict[tuple, list] = {}
    for n in graph.node:
        if n.op_type == "MatMulNBits" and len(n.input) == 3:
            form = tuple(sorted((a.name, a.i) for a in n.attribute if a.name != "N"))
            readers.setdefault((n.input[0], form), []).append(n)
    for (x, _), products in readers.items():
        if len(products) < 2:
            continue
        stem = products[0].name + "_joined"
        widths = [next(a.i for a in p.attribute if a.name == "N") for p in products]
        for slot in (1, 2):  # codes (N, blocks, bytes) and scales (N * blocks), both stacked on N
            joined = np.concatenate([stored(p.input[slot]) for p in products])
            graph.initializer.append(numpy_helper.from_array(joined, f"{stem}_{slot}"))
        fused = helper.make_node(
            "MatMulNBits", [x, f"{stem}_1", f"{stem}_2"], [stem], name=stem, domain=products[0].domain
        )
        fused.attribute.extend(a for a in products[0].attribute if a.name != "N")
        fused.attribute.append(helper.make_attribute("N", sum(widths)))
        sizes = f"{stem}_sizes"
        graph.initializer.append(numpy_helper.from_array(np.array(widths, dtype=np.int64), sizes))
        split = helper.make_node("Split", [stem, sizes], [p.output[0] for p in products], name=f"{stem}_split", axis=-1)
        index = list(graph.node).index(products[0])
        for p in products:
            graph.node.remove(p)
        graph.node.insert(index, split)
        graph.node.insert(index, fused)
    drop_unused_initializers(graph)
    onnx.save(model, str(out / "model.onnx"), save_as_external_data=True, location="model.onnx.data")
    return out


def wide_references(hf_dir: Path, folder: Path, out: Path) -> Path:
    """The source's teacher-forced records (`converters.golden`, what validate compares) over
    WIDE_WINDOWS windows of WIDE_WINDOW tokens of WIDE_TEXT, each from BOS, written to `out`."""
    from edgekit.converters.golden import load_source_model, record_reference
    from edgekit.runtime.dispatch import open_runner

    with open_runner(folder) as runner:
        bos, ids = runner.bos, runner.tokenize(WIDE_TEXT.read_text())
    step = WIDE_WINDOW - 1
    if len(ids) < WIDE_WINDOWS * step:
        sys.exit(f"{WIDE_TEXT} has {len(ids)} tokens, fewer than {WIDE_WINDOWS} windows of {step}")
    model = load_source_model(hf_dir)
    windows = [[bos, *ids[k * step : (k + 1) * step]] for k in range(WIDE_WINDOWS)]
    out.write_text(json.dumps([record_reference(model, window).to_json() for window in windows]))
    return out


def child(script: str, *args: object) -> dict:
    proc = subprocess.run([sys.executable, "-c", script, *map(str, args)], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"child failed: {proc.stderr.strip().splitlines()[-3:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f})"


def write_report(rows: list[dict], profiles: dict[str, dict], meta: dict, out: Path) -> None:
    (out / "speed.json").write_text(json.dumps({"meta": meta, "rows": rows, "profiles": profiles}, indent=1))
    lines = [
        f"# ONNX speed levers on Gemma 3 270M ({meta['date']}, {meta['machine']}, {meta['threads']} threads)",
        "",
        f"Generated by `benchmarks/speed.py`: {PREFILL} prompt / {DECODE} generated tokens, "
        f"{meta['rounds']} interleaved rounds, median (min-max); each variant in its own process. "
        "Top-1 and KL: teacher-forced over the reference text against the source's golden outputs.",
        "",
        "| variant | prefill tok/s | decode tok/s | load s | run peak MiB | top-1 | KL mean |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        runs = row["runs"]
        lines.append(
            f"| {row['name']} | {spread([r['prefill_tokens_per_second'] for r in runs])} | "
            f"{spread([r['decode_tokens_per_second'] for r in runs])} | "
            f"{statistics.median(r['load_seconds'] for r in runs):.2f} | "
            f"{statistics.median(r['peak_rss_bytes'] for r in runs) / 2**20:.0f} | "
            + (f"{runs[0]['top1']:.1%} | {runs[0]['kl_mean']:.4f} |" if "top1" in runs[0] else "- | - |")
        )
    wide = [row for row in rows if "wide" in row]
    lines += [
        "",
        f"## Fidelity over more text: {WIDE_WINDOWS} windows of {WIDE_WINDOW} tokens of {WIDE_TEXT.name}",
        "",
        f"Teacher-forced against the source's records over {wide[0]['wide']['positions']} positions "
        "(the reference text has 515), for the rows either side of the rotary lever.",
        "",
        "| variant | positions | top-1 | KL mean |",
        "|---|---|---|---|",
        *(
            f"| {row['name']} | {row['wide']['positions']} | {row['wide']['top1']:.2%} | {row['wide']['kl_mean']:.4f} |"
            for row in wide
        ),
    ]
    for quant, profile in profiles.items():
        lines += [
            "",
            f"## Where the {quant} decode step goes (as converted, onnxruntime's profiler, {PROFILED_STEPS} steps)",
            "",
            f"Profiled step: {profile['step_us'] / 1000:.1f} ms (the profiler itself slows it).",
            "",
            "| operator | µs per step | nodes per step | share |",
            "|---|---|---|---|",
        ]
        total = sum(us for us, _ in profile["ops"].values())
        for op, (us, count) in list(profile["ops"].items())[:12]:
            lines.append(f"| {op} | {us:.0f} | {count} | {us / total:.0%} |")
        lines += [
            "",
            "MatMulNBits by weight shape N x K, all layers together (the 262144 x 640 one is the output "
            "projection): " + "; ".join(f"{shape} {us:.0f} µs" for shape, us in profile["matmul_shapes"]) + ".",
        ]
    (HERE / "speed.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "out" / "speed")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    log("edgekit convert --target onnx --quant int4,int8,int8-fast (the embedded model)")
    conversion = edgekit(
        "convert", "--target", "onnx", "--quant", "int4,int8,int8-fast", "--out", str(args.out), "--force"
    )
    folders = {a["quant"]: Path(a["artifact"]) for a in conversion["artifacts"]}
    from edgekit.converters.isolated import run_isolated
    from edgekit.converters.onnx_export import export_onnx
    from edgekit.intake.checkpoint import load_checkpoint
    from edgekit.intake.default_model import default_gguf

    hf_dir = load_checkpoint(default_gguf()).hf_folder()
    log("the float graph again, rotary as separate nodes (the baseline)")
    (args.out / "float-rotary-nodes").mkdir(exist_ok=True)
    rotary_nodes_graph = run_isolated(export_onnx, hf_dir, args.out / "float-rotary-nodes" / "model.onnx", None)
    rewrites = {
        "as converted": lambda folder: folder,
        "level 4": lambda folder: level_4_copy(folder, args.out / f"{folder.name}-level4"),
        "whole head": lambda folder: whole_head_copy(
            folder, rotary_nodes_graph, args.out / f"{folder.name}-whole-head"
        ),
        "joined products": lambda folder: joined_products_copy(folder, args.out / f"{folder.name}-joined"),
        "rotary nodes": lambda folder: rotary_nodes_copy(
            folder, rotary_nodes_graph, args.out / f"{folder.name}-rotary-nodes"
        ),
    }
    graphs = {(quant, graph): rewrites[graph](folders[quant]) for _, quant, graph, *_ in VARIANTS}
    log("onnxruntime-genai's builder: int4 graph of the float32 source (kept between runs)")
    genai_folder = ort_genai.build(hf_dir, args.out / "genai-int4", args.threads)
    rows = [{"name": name, "runs": []} for name, *_ in VARIANTS]
    peer = {"name": "onnxruntime-genai builder int4 (genai runtime)", "runs": []}
    log(f"the source's records over {WIDE_WINDOWS} windows of {WIDE_TEXT.name}")
    references = wide_references(hf_dir, folders["int8-fast"], args.out / "wide-references.json")
    for row, (name, quant, graph, *_) in zip(rows, VARIANTS):
        if (quant, graph) in WIDE_SCORED:
            log(f"scoring over {WIDE_TEXT.name}: {name}")
            row["wide"] = child(WIDE_CHILD, graphs[(quant, graph)], args.threads, references)
    for round_index in range(args.rounds):
        log(f"round {round_index + 1}/{args.rounds}: {peer['name']}")
        peer["runs"].append(ort_genai.bench(genai_folder, PREFILL, DECODE))
        for row, (name, quant, graph, share, last) in zip(rows, VARIANTS):
            log(f"round {round_index + 1}/{args.rounds}: {name}")
            row["runs"].append(
                child(
                    CHILD,
                    graphs[(quant, graph)],
                    args.threads,
                    int(share),
                    int(last),
                    PREFILL,
                    DECODE,
                )
            )
    profiles = {}
    for quant in PROFILED:
        log(f"profiling the {quant} graph")
        profiles[quant] = child(
            PROFILE, folders[quant] / "model.onnx", args.threads, PREFILL, PROFILED_STEPS, args.out / f"profile-{quant}"
        )
    meta = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "threads": args.threads,
        "rounds": args.rounds,
        "conversion_seconds": conversion["seconds"],
    }
    write_report([*rows, peer], profiles, meta, args.out)


if __name__ == "__main__":
    main()
