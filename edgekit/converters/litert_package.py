"""Package a LiteRT model and tokenizer as `.litertlm` (LiteRT-LM) and `.task` (MediaPipe).

Both carry the family registry's chat format: start token, stop tokens, user/model turn
templates, so no app ever types Gemma's tags by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgekit.core.chat import ChatFormat, supports_tools


@dataclass(frozen=True)
class ChatMetadata:
    """The chat format as a bundle states it; `--chat-template` overrides feed this."""

    chat: ChatFormat
    model_type: str  # LiteRT-LM LlmModelType field name

    @property
    def stop_tokens(self) -> list[str]:
        return list(self.chat.stop_tokens)


def min_runtime_version() -> str:
    """The LiteRT-LM release the bundle is validated with (edgekit pins litert-lm-api): the
    oldest runtime an app should load it with."""
    from importlib.metadata import version

    return version("litert-lm-api")


def llm_metadata_bytes(meta: ChatMetadata, tokenizer_model: Path, cache_length: int) -> bytes:
    """LiteRT-LM's LlmMetadata with token ids resolved through the bundle's own tokenizer."""
    import sentencepiece as spm
    from litert_lm_builder.runtime.proto import llm_metadata_pb2, sampler_params_pb2

    sp = spm.SentencePieceProcessor(model_file=str(tokenizer_model))
    proto = llm_metadata_pb2.LlmMetadata()
    proto.start_token.token_ids.ids.append(sp.piece_to_id(meta.chat.start_token))
    for token in meta.stop_tokens:
        proto.stop_tokens.add().token_ids.ids.append(sp.piece_to_id(token))
    proto.pad_token.token_ids.ids.append(sp.pad_id())
    templates = proto.prompt_templates
    templates.user.prefix, templates.user.suffix = meta.chat.user_prefix, meta.chat.user_suffix
    templates.model.prefix, templates.model.suffix = meta.chat.model_prefix, meta.chat.model_suffix
    proto.jinja_prompt_template = meta.chat.jinja_template()
    proto.max_num_tokens = cache_length
    proto.min_runtime_version = min_runtime_version()
    getattr(proto.llm_model_type, meta.model_type).SetInParent()
    proto.supports_function_calling = supports_tools(meta.chat)
    proto.supports_thinking = False  # Gemma 1 to 3 have no thinking channel (Gemma 3n and 4 use litert_bundle)
    sampling = dict(meta.chat.recommended_sampling)
    proto.sampler_params.type = sampler_params_pb2.SamplerParameters.TOP_P
    proto.sampler_params.k = int(sampling["top_k"])
    proto.sampler_params.p = float(sampling["top_p"])
    proto.sampler_params.temperature = float(sampling["temperature"])
    return proto.SerializeToString()


def write_litertlm(
    tflite: Path,
    tokenizer_model: Path,
    meta: ChatMetadata,
    cache_length: int,
    executor_metadata: Path | None,
    out: Path,
) -> None:
    import litert_lm_builder as builder_lib

    metadata_path = out.with_name(out.name + ".llm_metadata.pb")
    metadata_path.write_bytes(llm_metadata_bytes(meta, tokenizer_model, cache_length))
    try:
        builder = builder_lib.LitertLmFileBuilder()
        builder.add_system_metadata(
            builder_lib.Metadata(key="Authors", value="edgekit", dtype=builder_lib.DType.STRING)
        )
        builder.add_llm_metadata(str(metadata_path))
        if executor_metadata is not None:
            builder.add_executor_metadata(str(executor_metadata))
        builder.add_sentencepiece_tokenizer(str(tokenizer_model))
        builder.add_tflite_model(str(tflite), builder_lib.TfLiteModelType.PREFILL_DECODE)
        with open(out, "wb") as stream:
            builder.build(stream)
    finally:
        metadata_path.unlink(missing_ok=True)


def write_task(tflite: Path, tokenizer_model: Path, meta: ChatMetadata, out: Path) -> None:
    """MediaPipe's own bundler (mediapipe 0.10.35, the last release that has it)."""
    from mediapipe.tasks.python.genai.bundler import llm_bundler

    config = llm_bundler.BundleConfig(
        tflite_model=str(tflite),
        tokenizer_model=str(tokenizer_model),
        start_token=meta.chat.start_token,
        stop_tokens=meta.stop_tokens,
        output_filename=str(out),
        prompt_prefix_user=meta.chat.user_prefix,
        prompt_suffix_user=meta.chat.user_suffix,
        prompt_prefix_model=meta.chat.model_prefix,
        prompt_suffix_model=meta.chat.model_suffix,
    )
    llm_bundler.create_bundle(config)
    _fix_zip_times(out)


def _fix_zip_times(task: Path) -> None:
    """Rewrite the bundle with fixed entry dates (MediaPipe stamps the current time), keeping
    its aligned stored layout, so the same conversion gives byte-identical files."""
    import zipfile

    from mediapipe.tasks.python.metadata.metadata_writers import model_asset_bundle_utils as mab

    with zipfile.ZipFile(task) as archive:
        entries = [(info.filename, archive.read(info)) for info in archive.infolist()]
    with mab.AlignZipFile(task, mode="w", alignment=mab._ALIGNMENT) as archive:
        for name, data in entries:
            archive.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data)
