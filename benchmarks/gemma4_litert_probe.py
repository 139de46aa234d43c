"""Why Gemma 4 has no `.litertlm` yet: litert-torch's own Gemma 4 route, measured against
transformers on the tiny random Gemma 4 the tests use.

    .venv/bin/python benchmarks/gemma4_litert_probe.py

The tiny `Gemma4ForCausalLM` is wrapped as the `Gemma4ForConditionalGeneration` folder
litert-torch's exportables branch on (text tower only), exported with its external embedders
and packaging (`externalize_embedder=True, bundle_litert_lm=True`, float32), and its decoder
stepped token by token through the LiteRT interpreter (embeddings and per-layer embeddings from
the bundle's embedder models). Writes benchmarks/gemma4_litert.md: max |logit difference| to
transformers per position.
"""

from __future__ import annotations

import json
import sys
import tempfile
from datetime import date
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from edgekit.formats import safetensors  # noqa: E402
from edgekit.formats.litertlm import open_litertlm  # noqa: E402
from edgekit.formats.tflite import interpreter  # noqa: E402
from tests.fixtures.tiny_models import write_tiny_checkpoint  # noqa: E402
from tests.fixtures.tiny_tokenizer import train_tokenizer  # noqa: E402

IDS = [2, 274, 358, 337, 346, 20, 30, 40, 50, 60, 70, 80]


def multimodal_folder(text: Path, out: Path) -> Path:
    config = json.loads((text / "config.json").read_text())
    out.mkdir()
    wrapped = {
        "model_type": "gemma4",
        "architectures": ["Gemma4ForConditionalGeneration"],
        "text_config": config,
        "vision_config": None,
        "audio_config": None,
    }
    (out / "config.json").write_text(json.dumps(wrapped))
    table, _ = safetensors.read_header(text / "model.safetensors")
    safetensors.write(
        out / "model.safetensors",
        [
            (
                "model.language_model." + n.removeprefix("model.") if n.startswith("model.") else n,
                info.shape,
                lambda i=info: safetensors.read_float32(text / "model.safetensors", i),
            )
            for n, info in table.items()
        ],
    )
    (out / "tokenizer.json").write_bytes((text / "tokenizer.json").read_bytes())
    (out / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "tokenizer_class": "GemmaTokenizer",
                "bos_token": "<bos>",
                "eos_token": "<eos>",
                "pad_token": "<pad>",
                "unk_token": "<unk>",
                "add_bos_token": True,
            }
        )
    )
    return out


def bundle_logits(bundle: Path) -> np.ndarray:
    file = open_litertlm(bundle)
    models = {s.items.get("model_type"): file.read(s) for s in file.sections if s.data_type == "TFLiteModel"}
    decode = interpreter(models["tf_lite_prefill_decode"]).get_signature_runner("decode")
    embed = interpreter(models["tf_lite_embedder"]).get_signature_runner("decode_embedder")
    per_layer = interpreter(models["tf_lite_per_layer_embedder"]).get_signature_runner("decode_per_layer_embedder")
    inputs = decode.get_input_details()
    cache = {k: np.zeros(v["shape"], np.float32) for k, v in inputs.items() if k.startswith("kv_cache_")}
    mask = np.full(inputs["mask"]["shape"], -np.inf, np.float32)
    rows = []
    for position, token in enumerate(IDS):
        mask[..., position] = 0.0
        ids = np.array([[token]], np.int32)
        out = decode(
            embeddings=embed(token_ids=ids)["embeddings"],
            per_layer_embeddings=per_layer(token_ids=ids)["embeddings"],
            input_pos=np.array([position], np.int32),
            mask=mask,
            **cache,
        )
        cache = {k: out[k] for k in cache}
        rows.append(out["logits"].reshape(-1))
    return np.stack(rows)


def probe(work: Path) -> tuple[np.ndarray, float]:
    import torch
    import transformers
    from litert_torch.generative.export_hf import export as export_api

    text = write_tiny_checkpoint("gemma4", work / "text", train_tokenizer())
    source = multimodal_folder(text, work / "multimodal")
    export_api.export(
        model=str(source),
        output_dir=str(work / "export"),
        prefill_lengths=[32],
        cache_length=256,
        externalize_embedder=True,
        bundle_litert_lm=True,
        quantization_recipe=None,
    )
    model = transformers.AutoModelForCausalLM.from_pretrained(
        str(text), dtype=torch.float32, attn_implementation="eager"
    ).eval()
    with torch.no_grad():
        reference = model(torch.tensor([IDS])).logits[0].numpy()
    return np.abs(bundle_logits(work / "export" / "model.litertlm") - reference).max(axis=-1), float(
        np.abs(reference).max()
    )


def main() -> None:
    lines = [
        f"# litert-torch's Gemma 4 `.litertlm` against transformers ({date.today()})",
        "",
        "`.venv/bin/python benchmarks/gemma4_litert_probe.py`: the tests' tiny random Gemma 4 (8 layers, "
        "per-layer embeddings), float32, stepped one token at a time over 12 ids.",
        "",
        "| max abs logit | max abs difference per position |",
        "|---|---|",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        diff, scale = probe(Path(tmp))
        lines.append(f"| {scale:.2f} | {' '.join(f'{d:.3f}' for d in diff)} |")
    lines += ["", "edgekit holds fp32 artifacts to 1e-3 of the source; until this route does, Gemma 4 ships as ONNX."]
    (HERE / "gemma4_litert.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
