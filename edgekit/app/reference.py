"""`edgekit validate --reference CHECKPOINT [--text FILE]`: the expectation recomputed from the
source checkpoint on this machine (needs the converter stack), instead of the manifest's."""

from __future__ import annotations

from pathlib import Path

from edgekit.core.errors import EdgekitError
from edgekit.runtime.artifact import open_artifact
from edgekit.runtime.validate import Expectation


def read_text_file(text: Path) -> str:
    try:
        content = text.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise EdgekitError(f"cannot read --text {text} ({exc})", "pass a UTF-8 text file") from None
    if not content.strip():
        raise EdgekitError(f"--text {text} is empty", "pass a file with some text to score")
    return content


def reference_expectation(bundle: Path, reference: Path, text: Path | None = None) -> Expectation:
    """Golden outputs of `reference` through the bundle's own tokenizer; with `text`, also the
    source's teacher-forced outputs over that text."""
    user_text = read_text_file(text) if text is not None else None
    try:
        from edgekit.converters.golden import load_source_model, record_golden, record_reference, reference_ids
    except ImportError:
        raise EdgekitError(
            "--reference needs the converter stack (torch, transformers)",
            "install `edgekit[convert]`, or validate against the manifest without --reference",
        ) from None
    from edgekit.intake.checkpoint import load_checkpoint

    artifact = open_artifact(bundle)
    model = load_source_model(load_checkpoint(reference).hf_folder())
    start_token = artifact.chat.start_token
    tokenizer = artifact.tokenizer()
    golden = record_golden(model, tokenizer, start_token)
    against = f"reference checkpoint {reference}"
    if user_text is None:
        return Expectation(golden, against)
    text_reference = record_reference(model, reference_ids(tokenizer, tokenizer.piece_to_id(start_token), user_text))
    return Expectation(golden, against, text_reference, str(text))
