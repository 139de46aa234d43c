"""Model ids (`google/gemma-3-270m-it`) resolved to the snapshot already in the local Hugging
Face cache, with huggingface_hub's own lookup (`local_files_only`): edgekit never downloads."""

from __future__ import annotations

import re
from pathlib import Path

from edgekit.core.errors import EdgekitError

# owner/name as the Hub spells repository ids; a path that exists on disk is never read as one.
MODEL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")


def is_model_id(text: str) -> bool:
    return bool(MODEL_ID.match(text)) and not Path(text).exists()


def cached_snapshot(model_id: str) -> Path:
    """The folder of `model_id`'s cached snapshot (the revision `refs/main` names)."""
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(model_id, local_files_only=True))
    except LocalEntryNotFoundError:
        raise EdgekitError(
            f"{model_id} is neither a path nor a model in the local Hugging Face cache ({constants.HF_HUB_CACHE})",
            f"download it first with `hf download {model_id}` (edgekit never downloads), or pass a folder",
        ) from None
