"""`edgekit validate --reference CHECKPOINT [--text FILE]`: the expectation recomputed from the
source checkpoint on this machine (needs the converter stack), instead of the manifest's."""

from __future__ import annotations

from pathlib import Path

from edgekit.core.errors import EdgekitError
from edgekit.core.user_inputs import UserInputs, read_text_file
from edgekit.runtime.artifact import open_artifact
from edgekit.runtime.validate import Expectation


def reference_expectation(bundle: Path, reference: Path, text: Path | None = None) -> Expectation:
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
    from edgekit.intake.checkpoint import load_checkpoint

    artifact = open_artifact(bundle)
    model = load_source_model(load_checkpoint(reference).hf_folder())
    recorded = artifact.manifest.golden.user if artifact.manifest else None
    user = UserInputs(
        prompts=tuple(p.prompt for p in recorded.prompts) if recorded else (),
        prompts_file=recorded.prompts_file if recorded else None,
        text=user_text,
        text_file=str(text) if text else None,
    )
    golden = record_golden(model, artifact.tokenizer(), artifact.chat.start_token, user)
    return Expectation.of(golden, f"reference checkpoint {reference}")
