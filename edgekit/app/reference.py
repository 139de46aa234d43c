"""`edgekit validate --reference CHECKPOINT [--adapter DIR] [--text FILE]`: the expectation
recomputed from the source checkpoint on this machine (needs the converter stack), instead of
the manifest's. A bundle made with `convert --adapter` is compared with its base and that same
adapter merged, as the conversion merged it."""

from __future__ import annotations

import tempfile
from pathlib import Path

from edgekit.core.errors import EdgekitError
from edgekit.core.manifest import AdapterRecord
from edgekit.core.user_inputs import UserInputs, read_text_file
from edgekit.runtime.artifact import open_artifact
from edgekit.runtime.validate import Expectation


def _reference_folder(checkpoint: Path, adapter_dir: Path | None, recorded: AdapterRecord | None, work: Path) -> Path:
    """The HF folder whose model the bundle must match: the checkpoint, with the adapter merged
    when the bundle was converted with one (and only then)."""
    from edgekit.converters.lora_merge import merge_adapter
    from edgekit.intake.checkpoint import load_checkpoint
    from edgekit.intake.lora import read_adapter

    if recorded is not None and adapter_dir is None:
        raise EdgekitError(
            f"the bundle was converted with the LoRA adapter {recorded.path} merged in",
            f"pass it with --adapter {recorded.path} beside --reference",
        )
    if recorded is None and adapter_dir is not None:
        raise EdgekitError(
            "the bundle was converted without an adapter (its manifest names none)",
            "drop --adapter, or validate the bundle converted with that adapter",
        )
    ckpt = load_checkpoint(checkpoint)
    hf_dir = ckpt.hf_folder()
    if adapter_dir is None:
        return hf_dir
    adapter = read_adapter(adapter_dir)
    if recorded is not None and adapter.weights_sha256 != recorded.weights_sha256:
        raise EdgekitError(
            f"{adapter.weights} is not the adapter the bundle was converted with (sha256 "
            f"{adapter.weights_sha256[:12]}…, the manifest says {recorded.weights_sha256[:12]}…)",
            "pass the adapter folder the bundle was made with",
        )
    adapter.check_family(ckpt.family)
    return merge_adapter(hf_dir, adapter, work / "merged")


def reference_expectation(
    bundle: Path, reference: Path, text: Path | None = None, adapter_dir: Path | None = None
) -> Expectation:
    """Golden outputs of `reference` through the bundle's own tokenizer, on edgekit's inputs and
    on the prompts the manifest recorded from `convert --prompts`; with `text`, also the
    source's teacher-forced outputs over that text."""
    user_text = read_text_file(text) if text is not None else None
    try:
        from edgekit.converters.golden import load_source_model, record_golden
    except ImportError:
        raise EdgekitError(
            "--reference needs the converter stack (torch, transformers)",
            "install `edgekit[convert]`, or validate against the manifest without --reference",
        ) from None
    artifact = open_artifact(bundle)
    with tempfile.TemporaryDirectory(prefix="edgekit-reference-") as work:
        recorded_adapter = artifact.manifest.adapter if artifact.manifest else None
        model = load_source_model(_reference_folder(reference, adapter_dir, recorded_adapter, Path(work)))
    recorded = artifact.manifest.golden.user if artifact.manifest else None
    user = UserInputs(
        prompts=tuple(p.prompt for p in recorded.prompts) if recorded else (),
        prompts_file=recorded.prompts_file if recorded else None,
        text=user_text,
        text_file=str(text) if text else None,
    )
    golden = record_golden(model, artifact.tokenizer(), artifact.chat.start_token, user)
    return Expectation.of(golden, f"reference checkpoint {reference}")
