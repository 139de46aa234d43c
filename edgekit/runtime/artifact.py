"""Open an artifact by what its bytes are, not by its name, and reach its parts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgekit.core.chat import ChatFormat
from edgekit.core.errors import EdgekitError
from edgekit.core.manifest import Manifest, manifest_path, read_manifest
from edgekit.families import GEMMA_CHAT
from edgekit.formats.onnx_graph import ONNX_GRAPH
from edgekit.formats.tokenizer import JsonTokenizer, Tokenizer, folder_tokenizer, sentencepiece

PREFILL_DECODE = "tf_lite_prefill_decode"
EMBEDDER, PER_LAYER_EMBEDDER = "tf_lite_embedder", "tf_lite_per_layer_embedder"


def sniff(path: Path) -> str:
    if not path.exists():
        raise EdgekitError(f"{path} does not exist", "pass a .task, .litertlm or .onnx file made by `edgekit convert`")
    if path.is_dir():
        if (path / ONNX_GRAPH).exists():
            return "onnx"
        raise EdgekitError(
            f"{path} is a folder", "pass the artifact file itself, or an ONNX folder from `edgekit convert`"
        )
    with open(path, "rb") as handle:
        head = handle.read(8)
    if b"PK\x03\x04" in head:  # MediaPipe's bundler writes 4 zero bytes before the zip
        return "task"
    if head == b"LITERTLM":
        return "litertlm"
    if head[4:8] == b"TFL3":
        return "tflite"
    if path.suffix.lower() == ".onnx":
        return "onnx"
    raise EdgekitError(
        f"{path} is not an artifact edgekit runs (unknown header)",
        "pass a .task, .litertlm or .onnx file made by `edgekit convert`",
    )


@dataclass
class Artifact:
    """A converted artifact found on disk, with its manifest when one lies beside it."""

    path: Path
    format: str
    manifest: Manifest | None

    def model_bytes(self, model_type: str = PREFILL_DECODE) -> bytes:
        """The bundle's LiteRT decoder (or, by `model_type`, one of its external embedders)."""
        if self.format == "task" and model_type == PREFILL_DECODE:
            from edgekit.formats.task_bundle import MODEL_ENTRY, open_task

            return open_task(self.path).read(MODEL_ENTRY)
        if self.format == "litertlm":
            from edgekit.formats.litertlm import open_litertlm

            file = open_litertlm(self.path)
            section = file.section("TFLiteModel", model_type) or (
                file.section("TFLiteModel") if model_type == PREFILL_DECODE else None
            )
            if section is None:
                raise EdgekitError(f"{self.path} holds no LiteRT {model_type} model", "re-run `edgekit convert`")
            return file.read(section)
        if self.format == "tflite":
            return self.path.read_bytes()
        raise EdgekitError(f"{self.path} has no LiteRT model", "this check needs a .task or .litertlm")

    @property
    def onnx_graph(self) -> Path:
        return self.path / ONNX_GRAPH if self.path.is_dir() else self.path

    def tokenizer(self) -> Tokenizer:
        """The artifact's own tokenizer: an ONNX folder's SentencePiece model or tokenizer.json,
        a bundle's SentencePiece model or (litert-torch's packaging) Hugging Face tokenizer."""
        if self.format == "onnx":
            return folder_tokenizer(self.onnx_graph.parent)
        if self.format == "litertlm":
            from edgekit.formats.litertlm import open_litertlm

            json_bytes = open_litertlm(self.path).hf_tokenizer_json()
            if json_bytes is not None:
                return JsonTokenizer(json_bytes, f"{self.path.name}'s tokenizer")
        return sentencepiece(self.tokenizer_bytes(), f"{self.path.name}'s tokenizer")

    def tokenizer_bytes(self) -> bytes:
        """The SentencePiece model a `.task` or `.litertlm` bundle carries."""
        if self.format == "task":
            from edgekit.formats.task_bundle import TOKENIZER_ENTRY, open_task

            return open_task(self.path).read(TOKENIZER_ENTRY)
        if self.format == "litertlm":
            from edgekit.formats.litertlm import open_litertlm

            file = open_litertlm(self.path)
            section = file.section("SP_Tokenizer")
            if section is not None:
                return file.read(section)
        raise EdgekitError(f"{self.path} carries no SentencePiece tokenizer", "re-run `edgekit convert`")

    @property
    def chat(self) -> ChatFormat:
        """The chat format the artifact was made with (manifest), else Gemma's."""
        return self.manifest.chat_format if self.manifest else GEMMA_CHAT


def open_artifact(path: Path, require_manifest: bool = False) -> Artifact:
    fmt = sniff(path)
    if fmt == "task":
        from edgekit.formats.task_bundle import open_task

        open_task(path)
    elif fmt == "litertlm":
        from edgekit.formats.litertlm import open_litertlm

        open_litertlm(path)
    side = manifest_path(path)
    if side.exists():
        manifest = read_manifest(side)
    elif require_manifest:
        raise EdgekitError(
            f"{path.name} has no manifest ({side.name}) to check against",
            "keep the manifest beside the artifact, or pass --reference CHECKPOINT",
        )
    else:
        manifest = None
    return Artifact(path, fmt, manifest)
