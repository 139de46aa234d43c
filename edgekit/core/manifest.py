"""The manifest beside every artifact (`<artifact>.edgekit.json`): what it was made from, how,
with which libraries, its checksum, and golden outputs recorded from the source model.

The format is versioned `major.minor`: a minor version only adds fields (older readers ignore
them, and fields an older manifest lacks get their defaults here); a reader refuses a newer
major version in one line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgekit.core.chat import ChatFormat
from edgekit.core.digest import sha256_artifact
from edgekit.core.errors import EdgekitError
from edgekit.core.golden import GoldenOutputs
from edgekit.core.records import JsonRecord

MANIFEST_VERSION = (1, 7)  # 1.1: typed records; 1.2: source.model_id; 1.3: recipe.litert_weights, litert_smoothing;
# 1.4: golden.user (golden outputs on the user's --prompts / --text); 1.5: adapter (a LoRA merged into the source);
# 1.6: source.towers_left_out; 1.7: recipe.litert_weights["auto"] (a LiteRT budget plan)
MANIFEST_KEY = "edgekit_manifest"
MANIFEST_SUFFIX = ".edgekit.json"


def manifest_path(artifact: Path) -> Path:
    return artifact.with_name(artifact.name + MANIFEST_SUFFIX)


@dataclass(frozen=True)
class ArtifactRecord(JsonRecord):
    file: str
    format: str  # litertlm | task | onnx
    size_bytes: int
    sha256: str  # of the file; of a SHA256SUMS-style listing for a folder
    content_sha256: str  # of what the runtime reads (formats.content_digest)


@dataclass(frozen=True)
class SourceRecord(JsonRecord):
    path: str
    format: str  # hf | gguf | keras
    default_model: bool
    weights_sha256: dict[str, str]
    family: str
    architecture: str
    parameters: int
    instruction_tuned: bool | None
    converted_from: str
    model_id: str | None = None  # the Hugging Face id `path` was found by in the local cache
    towers_left_out: tuple[str, ...] = ()  # a multimodal source's towers (vision, audio), not converted


@dataclass(frozen=True)
class AdapterRecord(JsonRecord):
    """The LoRA adapter merged into the source (`convert --adapter`) before anything else ran."""

    path: str
    config_sha256: str
    weights_sha256: str
    rank: int
    alpha: float
    rslora: bool
    target_modules: tuple[str, ...]  # the projections adapted
    adapted_weights: int
    base_model: str | None  # the base the adapter names (base_model_name_or_path)


@dataclass(frozen=True)
class RecipeRecord(JsonRecord):
    quant: str
    block_size: int | None
    max_size_mib: float | None
    quantizer_recipe: list[dict[str, Any]] | None  # ai-edge-quantizer's recipe (LiteRT)
    prefill_lengths: tuple[int, ...]
    cache_length: int
    onnx_accuracy_level: int | None
    onnx_weights: dict[str, Any] | None  # per-weight plan of an ONNX graph
    route: str
    # int4 weights that carried a GGUF's Q4_0 blocks; "auto": the budget plan of `--quant auto`
    litert_weights: dict[str, Any] | None = None
    litert_smoothing: dict[str, Any] | None = None  # activation outliers migrated into the weights
    # [start, stop) of the vocabulary whose table rows the export stored apart (`table_split`)
    litert_rare_rows: tuple[int, int] | None = None


@dataclass(frozen=True)
class ConversionRecord(JsonRecord):
    seconds: float
    peak_rss_bytes: int
    estimated_peak_bytes: int
    created: str  # ISO 8601, UTC
    host: str


@dataclass(frozen=True)
class Manifest:
    artifact: ArtifactRecord
    source: SourceRecord
    recipe: RecipeRecord
    chat_format: ChatFormat
    libraries: dict[str, str]
    golden: GoldenOutputs
    conversion: ConversionRecord | None = None
    adapter: AdapterRecord | None = None
    version: tuple[int, int] = field(default=MANIFEST_VERSION)

    def to_json(self) -> dict[str, Any]:
        data = {
            MANIFEST_KEY: f"{MANIFEST_VERSION[0]}.{MANIFEST_VERSION[1]}",
            "artifact": self.artifact.to_json(),
            "source": self.source.to_json(),
            "recipe": self.recipe.to_json(),
            "chat_format": self.chat_format.to_json(),
            "libraries": self.libraries,
            "golden": self.golden.to_json(),
        }
        if self.conversion is not None:
            data["conversion"] = self.conversion.to_json()
        if self.adapter is not None:
            data["adapter"] = self.adapter.to_json()
        return data

    @classmethod
    def from_json(cls, data: Any, where: str = "manifest") -> Manifest:
        version = _version(data, where)
        try:
            conversion, adapter = data.get("conversion"), data.get("adapter")
            return cls(
                artifact=ArtifactRecord.from_json(data["artifact"]),
                source=SourceRecord.from_json(data["source"]),
                recipe=RecipeRecord.from_json(data["recipe"]),
                chat_format=ChatFormat.from_json(data["chat_format"]),
                libraries={str(k): str(v) for k, v in data["libraries"].items()},
                golden=GoldenOutputs.from_json(data["golden"]),
                conversion=ConversionRecord.from_json(conversion) if conversion else None,
                adapter=AdapterRecord.from_json(adapter) if adapter else None,
                version=version,
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise EdgekitError(
                f"{where} is not a complete edgekit manifest ({type(exc).__name__}: {exc})", "re-run `edgekit convert`"
            ) from None

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=1))


def _version(data: Any, where: str) -> tuple[int, int]:
    """The manifest's (major, minor): version 1 manifests say `1`, later ones `"1.1"`."""
    raw = data.get(MANIFEST_KEY) if isinstance(data, dict) else None
    if isinstance(raw, int) and not isinstance(raw, bool):
        major, minor = raw, 0
    elif isinstance(raw, str) and raw.count(".") == 1 and all(p.isdigit() for p in raw.split(".")):
        major, minor = (int(p) for p in raw.split("."))
    else:
        raise EdgekitError(f"{where} is not an edgekit manifest", "re-run `edgekit convert` to make one")
    if major > MANIFEST_VERSION[0]:
        raise EdgekitError(
            f"{where} is manifest format {major}.{minor}, newer than this edgekit reads ({MANIFEST_VERSION[0]}.x)",
            "upgrade edgekit to read it",
        )
    if major < 1:
        raise EdgekitError(f"{where} is not an edgekit manifest", "re-run `edgekit convert` to make one")
    return major, minor


def read_manifest(path: Path) -> Manifest:
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EdgekitError(f"{path} is not a readable edgekit manifest ({exc})", "re-run `edgekit convert`") from None
    return Manifest.from_json(data, str(path))


def verify_checksum(artifact: Path, manifest: Manifest) -> str:
    """The artifact's sha256, after checking it against the manifest."""
    expected = manifest.artifact.sha256
    actual = sha256_artifact(artifact)
    if actual != expected:
        raise EdgekitError(
            f"{artifact.name} does not match its manifest (sha256 {actual[:12]}…, manifest says "
            f"{expected[:12]}…): the file was changed or damaged",
            "re-copy the artifact, or re-run `edgekit convert`",
        )
    return actual
