"""The manifest beside every artifact (`<artifact>.edgekit.json`): what it was made from, how,
with which libraries, its checksum, and golden outputs recorded from the source model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgekit.core.digest import sha256_artifact
from edgekit.core.errors import EdgekitError

MANIFEST_VERSION = 1
MANIFEST_SUFFIX = ".edgekit.json"


def manifest_path(artifact: Path) -> Path:
    return artifact.with_name(artifact.name + MANIFEST_SUFFIX)


def read_manifest(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EdgekitError(f"{path} is not a readable edgekit manifest ({exc})", "re-run `edgekit convert`") from None
    if not isinstance(data, dict) or data.get("edgekit_manifest") != MANIFEST_VERSION:
        raise EdgekitError(f"{path} is not an edgekit manifest (version {MANIFEST_VERSION})",
                           "re-run `edgekit convert` to make one")
    return data


def verify_checksum(artifact: Path, manifest: dict[str, Any]) -> str:
    """The artifact's sha256, after checking it against the manifest."""
    expected = manifest.get("artifact", {}).get("sha256")
    actual = sha256_artifact(artifact)
    if actual != expected:
        raise EdgekitError(
            f"{artifact.name} does not match its manifest (sha256 {actual[:12]}…, manifest says "
            f"{str(expected)[:12]}…): the file was changed or damaged",
            "re-copy the artifact, or re-run `edgekit convert`",
        )
    return actual
