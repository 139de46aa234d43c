"""Activation outliers migrated into the weights before the LiteRT export (SmoothQuant's idea).

XNNPACK's int8 and int4 fully-connected kernels quantize each token's activations to int8
with one scale per row, and a few channels of Gemma's normed activations are far larger than
the rest: they set the scale and the small channels lose their bits. Dividing channel j by
s_j and multiplying the weight columns that read it by s_j leaves the float model as it was
and flattens what gets quantized. s_j = max|x_j|^α / max|W_:j|^(1-α), measured on the
calibration text (not the validation text); the division is folded where it is free at run
time: into the RMSNorm before q/k/v and before gate/up (Gemma scales by `1 + w`), into v's
rows for o (attention is linear in v) and into up's rows for down (the MLP is linear in up).
The output projection is left as it is: it is the tied embedding. α = 0.5, SmoothQuant's usual
value; benchmarks/litert_quality.md measures it against no migration.
"""

from __future__ import annotations

import shutil
from pathlib import Path

ALPHA = 0.5
_SCALE_RANGE = (1e-2, 1e2)  # keeps a silent channel from blowing its weight column up
WEIGHT_FILES = (".safetensors", ".safetensors.index.json")


def _scales(act_max, weight_col_max, alpha: float):
    lo, hi = _SCALE_RANGE
    return (act_max.clamp(min=1e-5) ** alpha / weight_col_max.clamp(min=1e-5) ** (1 - alpha)).clamp(lo, hi)


def smooth_folder(hf_dir: Path, out: Path, calibration_ids: list[int], pre_mlp_norm: str, alpha: float = ALPHA) -> Path:
    """Write `hf_dir` with outliers migrated as above to `out` (float32 safetensors, every
    other file copied); runs torch, so callers run it in its own process."""
    import torch
    import transformers

    model = transformers.AutoModelForCausalLM.from_pretrained(
        hf_dir, dtype=torch.float32, attn_implementation="eager"
    ).eval()
    config = model.config.get_text_config()
    layers = model.model.layers
    act_max: dict[tuple[int, str], torch.Tensor] = {}

    def record(index: int, group: str):
        def hook(_module, inputs):
            x = inputs[0].detach().abs().reshape(-1, inputs[0].shape[-1]).amax(0)
            key = (index, group)
            act_max[key] = torch.maximum(act_max[key], x) if key in act_max else x

        return hook

    handles = []
    for i, layer in enumerate(layers):
        for group, module in (
            ("qkv", layer.self_attn.q_proj),
            ("o", layer.self_attn.o_proj),
            ("gate_up", layer.mlp.gate_proj),
            ("down", layer.mlp.down_proj),
        ):
            handles.append(module.register_forward_pre_hook(record(i, group)))
    with torch.no_grad():
        model(torch.tensor([calibration_ids]))
    for handle in handles:
        handle.remove()

    kv_heads, group_size = config.num_key_value_heads, config.num_attention_heads // config.num_key_value_heads
    with torch.no_grad():
        for i, layer in enumerate(layers):
            attn, mlp = layer.self_attn, layer.mlp
            for norm, linears, group in (
                (layer.input_layernorm, (attn.q_proj, attn.k_proj, attn.v_proj), "qkv"),
                (getattr(layer, pre_mlp_norm), (mlp.gate_proj, mlp.up_proj), "gate_up"),
            ):
                s = _scales(act_max[(i, group)], torch.stack([m.weight.abs().amax(0) for m in linears]).amax(0), alpha)
                norm.weight.copy_((1 + norm.weight) / s - 1)
                for linear in linears:
                    linear.weight.mul_(s)
            s = _scales(act_max[(i, "down")], mlp.down_proj.weight.abs().amax(0), alpha)
            mlp.up_proj.weight.div_(s[:, None])
            mlp.down_proj.weight.mul_(s)
            # o reads every query head; the heads of one KV group read the same v rows
            per_head = (kv_heads, group_size, -1)
            o_act = act_max[(i, "o")].reshape(per_head).amax(1)
            o_col = attn.o_proj.weight.abs().amax(0).reshape(per_head).amax(1)
            s = _scales(o_act, o_col, alpha)
            attn.v_proj.weight.div_(s.reshape(-1)[:, None])
            attn.o_proj.weight.mul_(s[:, None, :].expand(per_head[0], group_size, s.shape[-1]).reshape(-1))
    model.save_pretrained(out, safe_serialization=True)
    for path in hf_dir.iterdir():
        if path.is_file() and not path.name.endswith(WEIGHT_FILES) and not (out / path.name).exists():
            shutil.copy2(path, out / path.name)
    return out
