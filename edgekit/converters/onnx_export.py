"""Export a Hugging Face Gemma folder to one ONNX decoder graph with a KV cache.

Route: `torch.onnx.export(dynamo=True)` of a small wrapper that takes `(input_ids,
attention_mask, position_ids, past_key_values.*)` and returns `(logits, present.*)`, rather
than onnxruntime-genai's builder, which fails on a transformers-5 Gemma 3 config. The float
graph matches torch on the tiny fixtures past the sliding window (tests/test_convert_onnx.py;
caches are kept whole, the model's own masks do the sliding). One graph serves prefill and
decode; inputs and outputs use onnxruntime-genai's names (`formats.onnx_graph`).
"""

from __future__ import annotations

import json
from pathlib import Path

from edgekit.converters.export_patches import patched
from edgekit.converters.onnx_attention import layer_attention
from edgekit.converters.onnx_fusions import fuse_for_onnxruntime
from edgekit.families import family_for_architecture
from edgekit.formats.onnx_graph import io_names

MAX_DIM = 8192


def export_onnx(hf_dir: Path, out: Path, rotary_positions: int | None) -> Path:
    """Write `out` (model.onnx) and its external data file beside it. `rotary_positions`: the
    context length that rotary inside the attention kernel covers (`onnx_attention`); None
    keeps rotary as separate nodes (benchmarks/speed.py's baseline)."""
    import torch
    import transformers
    from transformers import DynamicCache

    model = transformers.AutoModelForCausalLM.from_pretrained(
        str(hf_dir), dtype=torch.float32, attn_implementation="eager"
    ).eval()
    family = family_for_architecture(model.config.architectures[0])
    shapes = family.cache_shapes(json.loads((hf_dir / "config.json").read_text()))
    layers = len(shapes)  # layers that reuse another's keys and values keep no cache

    class Decoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, position_ids, past):
            cache = DynamicCache(ddp_cache_data=[(past[2 * i], past[2 * i + 1]) for i in range(layers)])
            result = self.model(
                input_ids=input_ids,
                attention_mask=attention_mask,
                position_ids=position_ids,
                past_key_values=cache,
                use_cache=True,
            )
            present = [t for layer in result.past_key_values.layers[:layers] for t in (layer.keys, layer.values)]
            return (result.logits, *present)

    seq = torch.export.Dim("sequence", min=1, max=MAX_DIM)
    total = torch.export.Dim("total_sequence", min=1, max=2 * MAX_DIM)
    past_len = torch.export.Dim("past_sequence", min=0, max=MAX_DIM)
    sample_past = tuple(torch.zeros(1, kv_heads, 2, head_dim) for kv_heads, head_dim in shapes for _ in range(2))
    inputs, outputs = io_names(layers)
    with torch.no_grad(), patched(family.export_patches):
        program = torch.onnx.export(
            Decoder(),
            (
                torch.ones(1, 3, dtype=torch.long),
                torch.ones(1, 5, dtype=torch.long),
                torch.tensor([[2, 3, 4]]),
                sample_past,
            ),
            dynamic_shapes=({1: seq}, {1: total}, {1: seq}, tuple({2: past_len} for _ in sample_past)),
            dynamo=True,
            opset_version=20,
            optimize=True,
            input_names=inputs,
            output_names=outputs,
        )
    program.save(str(out), external_data=True)
    fuse_for_onnxruntime(out, layer_attention(model) if family.fuse_onnx_attention else [], rotary_positions)
    return out
