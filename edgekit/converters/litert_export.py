"""Export a Hugging Face Gemma folder to one float32 LiteRT model (prefill + decode signatures).

Route: litert-torch's `export_hf` pipeline, which reads any HF folder (no per-size builders)
and that writes the executor metadata LiteRT-LM reads to pick its fast CPU path. We run
its export task and its executor-metadata builder, but not its quantization or packaging:
edgekit exports once in float32 and quantizes that one file per recipe, so `--quant
int8,int4,mixed` costs one torch export, not three. litert-torch's Converter V2 (weights
streamed from the checkpoint, never held by torch) would cut memory further, but it needs a
tf-nightly build (`convert_mlir_bytecode`) that the pinned TensorFlow 2.21 lacks.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass
from pathlib import Path

from edgekit.converters.table_split import split_table


@dataclass(frozen=True)
class GraphOptions:
    """litert-torch's flags that change the ops XNNPACK runs, not the model's function
    (benchmarks/litert_speed.md measures each)."""

    fuse_qkv: bool = False
    fuse_gate_up: bool = False
    use_swiglu_composite: bool = False
    use_rope_composite: bool = False
    use_sdpa_composite: bool = False


@dataclass(frozen=True)
class FloatExport:
    tflite: Path
    executor_metadata: Path | None


def export_float(
    hf_dir: Path,
    work_dir: Path,
    prefill_lengths: tuple[int, ...],
    cache_length: int,
    graph: GraphOptions = GraphOptions(),
    rare_rows: range | None = None,
) -> FloatExport:
    """`rare_rows`: the tied table's rows exported as a tensor of their own (`table_split`)."""
    from litert_torch.generative.export_hf import export as export_api
    from litert_torch.generative.export_hf.core import export_lib, exportable_module
    from litert_torch.generative.export_hf.model_ext import metadata_builder

    metadata_path = work_dir / "executor_metadata.pb"

    def write_executor_metadata(source, config, exported):
        model_config = getattr(source.model, "config", source.model_config)
        builder = metadata_builder.get_executor_metadata_builder(model_config)
        if builder is not None:
            metadata_path.write_bytes(builder(source, config, exported).SerializeToString())
        return exported

    config = exportable_module.ExportableModuleConfig(
        model=str(hf_dir),
        output_dir=str(work_dir),
        work_dir=str(work_dir),
        prefill_lengths=list(prefill_lengths),
        cache_length=cache_length,
        quantization_recipe=None,
        bundle_litert_lm=False,
        keep_temporary_files=True,
        # Constants handled lazily: less memory, same logits (benchmarks/conversion_memory.md).
        experimental_lightweight_conversion=True,
        **asdict(graph),
    )
    with split_table(rare_rows) if rare_rows else contextlib.nullcontext():
        artifacts = export_api.run_export_tasks(
            [export_lib.export_text_prefill_decode_model, write_executor_metadata], config
        )
    return FloatExport(
        tflite=Path(artifacts.prefill_decode_model_path),
        executor_metadata=metadata_path if metadata_path.exists() else None,
    )
