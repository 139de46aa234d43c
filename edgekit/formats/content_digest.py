"""A content hash that ignores what a bundle format stamps per build.

LiteRT-LM's builder writes a random UUID and the creation time into every `.litertlm` header,
so two conversions of the same checkpoint never match byte for byte. The content hash covers
what the runtime reads (every section's bytes, in order), so it is identical for identical
conversions; `.task` bundles are byte-identical and hash their entries the same way.
"""

from __future__ import annotations

import hashlib
from pathlib import Path


def content_sha256(path: Path, fmt: str) -> str:
    digest = hashlib.sha256()
    if fmt == "litertlm":
        from edgekit.formats.litertlm import open_litertlm

        file = open_litertlm(path)
        for section in file.sections:
            digest.update(section.data_type.encode())
            digest.update(file.read(section))
    elif fmt == "task":
        from edgekit.formats.task_bundle import open_task

        bundle = open_task(path)
        for name in bundle.entries:
            digest.update(name.encode())
            digest.update(bundle.read(name))
    else:
        from edgekit.core.digest import sha256_artifact

        return sha256_artifact(path)
    return digest.hexdigest()
