"""`edgekit convert`: checkpoint -> golden outputs -> one float export -> one artifact per
(recipe, format), each with its manifest. Everything is built in a temporary folder inside the
output folder and renamed into place only when all of it is complete."""

from __future__ import annotations

import contextlib
import importlib
import os
import platform
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgekit.converters.memory import BUNDLE_ROUTE
from edgekit.core.atomic import TMP_PREFIX
from edgekit.core.chat import ChatFormat
from edgekit.core.digest import sha256_artifact, sha256_file
from edgekit.core.errors import EdgekitError
from edgekit.core.manifest import (
    ArtifactRecord,
    ConversionRecord,
    Manifest,
    RecipeRecord,
    SourceRecord,
    manifest_path,
    read_manifest,
)
from edgekit.core.paths import cache_dir
from edgekit.core.progress import Stages, peak_rss_bytes
from edgekit.core.recipes import LITERT_FORMATS, recipe_named
from edgekit.core.targets import TARGET_FORMATS
from edgekit.core.user_inputs import UserInputs
from edgekit.formats.content_digest import content_sha256
from edgekit.formats.tokenizer import SENTENCEPIECE_FILE, folder_tokenizer
from edgekit.intake.checkpoint import Checkpoint
from edgekit.intake.lora import LoraAdapter

if TYPE_CHECKING:
    from edgekit.converters.litert_quantize import QuantizedTflite

ROUTES = {
    "litertlm": "litert-torch export_hf (float32) + ai-edge-quantizer (GGUF Q4_0 blocks carried into int4) + LiteRT-LM builder",
    "task": "litert-torch export_hf (float32) + ai-edge-quantizer (GGUF Q4_0 blocks carried into int4) + MediaPipe bundler",
    "onnx": "torch.onnx.export (dynamo) + MatMulNBits (GGUF blocks carried over, else round-to-nearest)",
    BUNDLE_ROUTE: "litert-torch export_hf (float32; decoder + external embedders) + ai-edge-quantizer + litert-torch packaging",
}


def route_name(ckpt: Checkpoint, fmt: str) -> str:
    """The ROUTES key an artifact of `fmt` takes from `ckpt`."""
    return BUNDLE_ROUTE if ckpt.family.litert_bundle_export and fmt == "litertlm" else fmt


@dataclass
class ConvertRequest:
    checkpoint: Checkpoint
    out_dir: Path
    target: str = "android"
    quants: tuple[str, ...] = ("int8",)
    block_size: int = 32
    cache_length: int = 1024
    prefill_lengths: tuple[int, ...] = (128,)
    force: bool = False
    chat: ChatFormat | None = None
    onnx_accuracy_level: int = 4
    max_size_mib: float | None = None  # --quant auto: the ONNX graph's budget
    smoothing: bool = True  # LiteRT: activation outliers migrated into the weights (converters.smoothing)
    user_inputs: UserInputs | None = None  # --prompts / --text: golden outputs on the user's domain too
    adapter: LoraAdapter | None = None  # --adapter: merged into the checkpoint before anything else

    @property
    def formats(self) -> set[str]:
        return set(TARGET_FORMATS[self.target])


@dataclass
class WrittenArtifact:
    path: Path
    format: str
    quant: str
    size_bytes: int
    sha256: str
    content_sha256: str
    manifest: Path


@dataclass
class ConvertResult:
    artifacts: list[WrittenArtifact] = field(default_factory=list)
    seconds: float = 0.0
    peak_rss_bytes: int = 0


def model_stem(ckpt: Checkpoint, adapter: LoraAdapter | None = None) -> str:
    """The artifacts' name: the checkpoint's, then the adapter folder's where one is merged."""
    if ckpt.is_default:
        name = "gemma-3-270m"
    else:
        name = ckpt.path.stem if ckpt.kind == "gguf" else ckpt.path.resolve().name
    if adapter is not None:
        name = f"{name}-{adapter.path.resolve().name}"
    return name.replace(" ", "-") or "model"


def planned_outputs(request: ConvertRequest) -> list[tuple[str, str, Path]]:
    """(quant, format, final path) for every artifact this request writes."""
    stem = model_stem(request.checkpoint, request.adapter)
    return [
        (quant, fmt, request.out_dir / (f"{stem}-{quant}-onnx" if fmt == "onnx" else f"{stem}-{quant}.{fmt}"))
        for quant in request.quants
        for fmt in TARGET_FORMATS[request.target]
    ]


def stage_count(request: ConvertRequest) -> int:
    """Reading, golden outputs, one float export per container kind, each output, writing."""
    formats = {fmt for _, fmt, _ in planned_outputs(request)}
    exports = bool(formats & set(LITERT_FORMATS)) + ("onnx" in formats)
    return 3 + exports + len(planned_outputs(request))


def check_outputs(request: ConvertRequest) -> None:
    """Refuse before any work starts, not after minutes of it."""
    out = request.out_dir
    if out.exists() and not out.is_dir():
        raise EdgekitError(f"output path {out} is a file", "pass a folder with --out")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=out, prefix=TMP_PREFIX)
        probe.close()
    except OSError as exc:
        raise EdgekitError(f"cannot write to {out} ({exc.strerror})", "choose a writable --out folder") from None
    existing = [p for _, _, p in planned_outputs(request) if p.exists()]
    if existing and not request.force:
        raise EdgekitError(
            f"{existing[0]} already exists",
            "pass --force to overwrite it, or choose another --out folder",
        )


def source_record(ckpt: Checkpoint, hf_dir: Path) -> SourceRecord:
    return SourceRecord(
        path=str(ckpt.path),
        format=ckpt.kind,
        default_model=ckpt.is_default,
        weights_sha256={p.name: sha256_file(p) for p in ckpt.weight_files()},
        family=ckpt.family.name,
        architecture=ckpt.architecture,
        parameters=ckpt.parameter_count,
        instruction_tuned=ckpt.instruction_tuned,
        converted_from=str(hf_dir),
        model_id=ckpt.model_id,
        towers_left_out=ckpt.towers_left_out,
    )


def calibration_ids(hf_dir: Path, start_token: str) -> list[int]:
    """BOS by the chat format's start piece, as the golden outputs take it (`reference_ids`)."""
    from edgekit.core.golden_inputs import CALIBRATION_TEXT

    tokenizer = folder_tokenizer(hf_dir)
    return [tokenizer.piece_to_id(start_token)] + tokenizer.encode(CALIBRATION_TEXT)


def smoothing_record(request: ConvertRequest, carries_q4_0: bool) -> dict[str, Any] | None:
    """The outlier migration the single-model LiteRT route applies, or None: off by request,
    for float-only requests, and where int4 carries a GGUF's Q4_0 blocks (they must stay the
    GGUF's)."""
    from edgekit.converters.smoothing import ALPHA

    if not request.smoothing or carries_q4_0 or all(recipe_named(q).is_float for q in request.quants):
        return None
    return {"alpha": ALPHA, "folded_into": "RMSNorm before q/k/v and gate/up; v rows (o); up rows (down)"}


def _quantizer_recipe(
    request: ConvertRequest, quant: str, fmt: str, model: QuantizedTflite | None
) -> list[dict[str, Any]] | None:
    """What the quantizer was given for this artifact (the bundle route quantizes in its own
    process, by the recipe's name)."""
    from edgekit.converters.recipes import recipe

    if fmt == "onnx":
        return None
    if model is not None:
        return model.quantizer_recipe
    family = request.checkpoint.family
    return recipe(quant, request.block_size, family.litert_int8_scope, family.litert_rotation)


def _litert_weights(model: QuantizedTflite | None) -> dict[str, Any] | None:
    if model is None or not (model.weights or model.auto):
        return None
    return {**(model.weights or {}), **({"auto": model.auto} if model.auto else {})}


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.iterdir()) if path.is_dir() else path.stat().st_size


def _build(request: ConvertRequest, work: Path, stages: Stages) -> ConvertResult:
    """Everything heavy, written into `work`; runs in the child process."""
    from edgekit.converters.golden import record_source_golden
    from edgekit.converters.isolated import run_isolated
    from edgekit.converters.litert_auto import BUNDLE_METADATA_BYTES, LiteRtBudget
    from edgekit.converters.litert_bundle import export_litertlm_bundles
    from edgekit.converters.litert_carry import carry_summary, holds_q4_0
    from edgekit.converters.litert_export import GraphOptions, export_float
    from edgekit.converters.litert_package import ChatMetadata, write_litertlm, write_task
    from edgekit.converters.litert_quantize import quantize_tflite
    from edgekit.converters.litert_scan import scan_litert_groups
    from edgekit.converters.lora_merge import merge_adapter
    from edgekit.converters.onnx_export import export_onnx
    from edgekit.converters.onnx_package import write_onnx_folder
    from edgekit.converters.onnx_quantize import quantize_onnx
    from edgekit.converters.smoothing import smooth_folder
    from edgekit.converters.table_split import rare_rows
    from edgekit.converters.versions import library_versions

    ckpt = request.checkpoint
    chat = request.chat or ckpt.chat_format()
    meta = ChatMetadata(chat, ckpt.family.litert_lm_model_type)
    started = time.monotonic()
    result = ConvertResult()
    with stages.stage(f"reading {ckpt.family.display_name} checkpoint {ckpt.path.name}"):
        hf_dir = ckpt.hf_folder(on_stage=stages.note)
        tokenizer = hf_dir / SENTENCEPIECE_FILE
        if not tokenizer.exists() and request.formats & set(LITERT_FORMATS) and not ckpt.family.litert_bundle_export:
            raise EdgekitError(
                f"{hf_dir} has no SentencePiece tokenizer.model, which .task and .litertlm bundles need",
                "copy tokenizer.model from the base Gemma checkpoint into the folder",
            )
        source = source_record(ckpt, hf_dir)
        if request.adapter is not None:
            stages.note(f"merging the LoRA adapter {request.adapter.path.name} in float32")
            hf_dir = merge_adapter(hf_dir, request.adapter, work / "merged")
    with stages.stage("recording golden outputs from the source model"):
        golden = run_isolated(record_source_golden, hf_dir, chat.start_token, request.user_inputs)
    formats = request.formats
    bundle_export = ckpt.family.litert_bundle_export  # litert-torch's exportables and packaging
    smoothing: dict[str, Any] | None = None
    split_rows: range | None = None  # the table's rows the LiteRT export stores apart
    # the GGUF whose Q4_0 blocks LiteRT int4 weights carry (litert_carry), decided once
    q4_0_source = ckpt.path if ckpt.kind == "gguf" and holds_q4_0(ckpt.path) else None
    calibration = calibration_ids(hf_dir, chat.start_token)  # outlier migration and ONNX int4 rounding
    if formats & set(LITERT_FORMATS) and bundle_export:
        with stages.stage(
            f"exporting the float LiteRT models (decoder and embedders) and packaging "
            f"{', '.join(q for q, f, _ in planned_outputs(request) if f == 'litertlm')}"
        ):
            bundles = {q: work / final.name for q, f, final in planned_outputs(request) if f == "litertlm"}
            run_isolated(
                export_litertlm_bundles,
                hf_dir,
                chat,
                request.prefill_lengths,
                request.cache_length,
                request.block_size,
                bundles,
                work,
                ckpt.family.export_patches,
                ckpt.family.litert_int8_scope,
                ckpt.family.litert_rotation,
            )
    elif formats & set(LITERT_FORMATS):
        with stages.stage(
            f"exporting the float LiteRT model (prefill {','.join(map(str, request.prefill_lengths))}, "
            f"KV cache {request.cache_length})"
        ):
            smoothing = smoothing_record(request, carries_q4_0=q4_0_source is not None)
            if any(recipe_named(q).splits_table for q in request.quants):
                split_rows = rare_rows(tokenizer) or None
            litert_source = hf_dir
            if smoothing:
                stages.note(f"migrating activation outliers into the weights (alpha {smoothing['alpha']})")
                litert_source = run_isolated(
                    smooth_folder,
                    hf_dir,
                    work / "smoothed",
                    calibration,
                    ckpt.family.pre_mlp_norm,
                )
            exported = run_isolated(
                export_float,
                litert_source,
                work,
                request.prefill_lengths,
                request.cache_length,
                GraphOptions(),
                split_rows,
            )
    if "onnx" in formats:
        with stages.stage("exporting the float ONNX decoder graph"):
            float_onnx = run_isolated(export_onnx, hf_dir, work / "float.onnx", request.cache_length)
    versions = library_versions()
    gguf_source = ckpt.path if ckpt.kind == "gguf" else None
    onnx_weights: dict[str, Any] = {}
    litert_models: dict[str, QuantizedTflite] = {}

    def scanned(index: int, count: int) -> None:
        stages.note(f"scanning group {index + 1}/{count}")

    for quant, fmt, final in planned_outputs(request):
        with stages.stage(f"{quant} {fmt}: {final.name}"):
            staged = work / final.name
            table = recipe_named(quant)
            if fmt == "onnx":
                graph = work / f"model-{quant}.onnx"
                if quant == "fp32":
                    graph = float_onnx
                elif not graph.exists():
                    onnx_weights[quant] = quantize_onnx(
                        float_onnx,
                        quant,
                        request.block_size,
                        graph,
                        request.onnx_accuracy_level,
                        gguf_source,
                        max_size_bytes=int(request.max_size_mib * 2**20) if request.max_size_mib else None,
                        calibration_ids=calibration[: request.cache_length],  # the graph's longest sequence
                        on_stage=stages.note,
                    )
                write_onnx_folder(graph, hf_dir, chat, request.cache_length, staged)
            elif bundle_export:
                pass  # packaged with the export above
            else:
                if quant not in litert_models:
                    budget = None
                    if table.needs_budget:
                        budget = LiteRtBudget(
                            run_isolated(
                                scan_litert_groups, litert_source, calibration, request.block_size, scanned, split_rows
                            ),
                            int(request.max_size_mib * 2**20),
                            tokenizer.stat().st_size + BUNDLE_METADATA_BYTES,
                        )
                    litert_models[quant] = quantized = quantize_tflite(
                        exported.tflite,
                        quant,
                        request.block_size,
                        work / f"model-{quant}.tflite",
                        gguf=q4_0_source,
                        budget=budget,
                        on_stage=stages.note,
                    )
                    if quantized.weights:
                        stages.note(carry_summary(quantized.weights))
                source_tflite = litert_models[quant].path
                if fmt == "litertlm":
                    write_litertlm(
                        source_tflite, tokenizer, meta, request.cache_length, exported.executor_metadata, staged
                    )
                else:
                    write_task(source_tflite, tokenizer, meta, staged)
                if table.needs_budget and _size(staged) > request.max_size_mib * 2**20:
                    raise EdgekitError(  # the plan counts the bundle's metadata by an estimate
                        f"the {final.name} bundle is {_size(staged) / 2**20:.2f} MiB, over --max-size "
                        f"{request.max_size_mib:g}",
                        "raise --max-size a little",
                    )
            record = ArtifactRecord(
                final.name, fmt, _size(staged), sha256_artifact(staged), content_sha256(staged, fmt)
            )
            Manifest(
                artifact=record,
                source=source,
                recipe=RecipeRecord(
                    quant=quant,
                    block_size=request.block_size if table.block_size_applies else None,
                    max_size_mib=request.max_size_mib if table.needs_budget else None,
                    quantizer_recipe=_quantizer_recipe(request, quant, fmt, litert_models.get(quant)),
                    prefill_lengths=request.prefill_lengths,
                    cache_length=request.cache_length,
                    onnx_accuracy_level=request.onnx_accuracy_level if fmt == "onnx" else None,
                    onnx_weights=onnx_weights.get(quant) if fmt == "onnx" else None,
                    litert_weights=_litert_weights(litert_models.get(quant)) if fmt != "onnx" else None,
                    litert_smoothing=smoothing if fmt != "onnx" else None,  # float recipes too: same export
                    litert_rare_rows=(split_rows.start, split_rows.stop) if split_rows and fmt != "onnx" else None,
                    route=ROUTES[route_name(ckpt, fmt)],
                ),
                chat_format=chat,
                libraries=versions,
                golden=golden,
                adapter=request.adapter.record() if request.adapter else None,
            ).write(work / manifest_path(final).name)
            result.artifacts.append(
                WrittenArtifact(
                    final, fmt, quant, record.size_bytes, record.sha256, record.content_sha256, manifest_path(final)
                )
            )
    result.seconds = time.monotonic() - started
    result.peak_rss_bytes = peak_rss_bytes()
    return result


def library_log() -> Path:
    folder = cache_dir() / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"convert-{datetime.now().strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"


# What several forked steps of one conversion would each import again: the golden outputs, the
# outlier migration and both exports load torch and transformers; litert-torch loads tensorflow,
# which the LiteRT steps after the export load again. Imported once in the conversion process,
# before the first step forks, every step inherits them.
SHARED_IMPORTS = ("torch", "transformers")
FORMAT_IMPORTS = {
    "litertlm": ("litert_torch", "ai_edge_quantizer", "litert_lm_builder"),
    "task": ("litert_torch", "ai_edge_quantizer", "mediapipe.tasks.python.genai.bundler"),
}


def import_shared_libraries(formats: set[str]) -> None:
    """Imports only: this process never runs a torch op, so forking it stays safe. A module
    named twice is imported once: Python caches it."""
    for name in [*SHARED_IMPORTS, *(name for fmt in formats for name in FORMAT_IMPORTS.get(fmt, ()))]:
        with contextlib.suppress(ImportError):  # a missing library fails in the step that needs it
            importlib.import_module(name)


def _child(request: ConvertRequest, work: Path, stages: Stages, log: Path, conn) -> None:
    """Entry point of the conversion process: reports one message and exits.

    The converter libraries print pages of progress and warnings (some from C++, on both
    descriptors); they go to `log`, and the user sees edgekit's stages."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides; it kills us if it must
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    stages.console.file = os.fdopen(os.dup(2), "w", buffering=1)
    with open(log, "ab") as handle:
        os.dup2(handle.fileno(), 1)
        os.dup2(handle.fileno(), 2)
    from edgekit.converters.isolated import outcome

    import_shared_libraries(request.formats)
    try:
        conn.send(outcome(lambda: (_build(request, work, stages), stages.done)))
    finally:
        conn.close()


def convert(request: ConvertRequest, stages: Stages) -> ConvertResult:
    """Check, build in a child process, publish by renaming.

    The child does the heavy work: native converter code can swallow SIGINT while it runs, so
    the parent (which imports nothing heavy) owns signals, kills the child on Ctrl-C or
    SIGTERM, and removes the temporary folder. Nothing reaches the output names before every
    artifact is complete.
    """
    import multiprocessing

    from edgekit.converters.isolated import unwrap
    from edgekit.converters.memory import check_disk, check_memory, float_copies

    ckpt = request.checkpoint
    check_outputs(request)
    routes = [(route_name(ckpt, f), q) for q, f, _ in planned_outputs(request)]
    estimated = check_memory(ckpt.parameter_count, routes, request.force, ckpt.family.litert_bundle_memory)
    check_disk(
        request.out_dir,
        ckpt.parameter_count,
        [q for q, _, _ in planned_outputs(request)],
        request.force,
        float_copies(routes, request.adapter is not None),
    )

    work = Path(tempfile.mkdtemp(prefix=TMP_PREFIX, dir=request.out_dir))
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    log = library_log()
    stages.note(f"converter libraries log to {log}")
    child = context.Process(target=_child, args=(request, work, stages, log, send), daemon=True)
    try:
        child.start()
        send.close()
        try:
            message = receive.recv()
        except EOFError:  # it died without a word: a crash in native code, or the OOM killer
            message = None
        child.join()
        if message is None:
            code = child.exitcode or 0
            how = f"on {signal.Signals(-code).name}" if code < 0 else f"with exit {code}"
            raise EdgekitError(
                f"the conversion process died {how} (a crash in a converter library, or out of memory)",
                f"see {log}; run the conversion again, or free memory",
            )
        result, stages.done = unwrap(message, f"converter log: {log}")
        with stages.stage("writing artifacts and manifests"):
            for artifact in result.artifacts:
                staged_manifest = work / artifact.manifest.name
                conversion = ConversionRecord(
                    seconds=round(result.seconds, 1),
                    peak_rss_bytes=result.peak_rss_bytes,
                    estimated_peak_bytes=estimated,
                    created=datetime.now(UTC).isoformat(timespec="seconds"),
                    host=f"{platform.system()} {platform.machine()}, {platform.python_version()}",
                )
                replace(read_manifest(staged_manifest), conversion=conversion).write(staged_manifest)
            for artifact in result.artifacts:
                if artifact.path.is_dir():  # --force over an earlier ONNX folder
                    shutil.rmtree(artifact.path)
                (work / artifact.path.name).replace(artifact.path)
                (work / artifact.manifest.name).replace(artifact.manifest)
        return result
    finally:
        if child.is_alive():
            child.kill()
            child.join()
        shutil.rmtree(work, ignore_errors=True)
