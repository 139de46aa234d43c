"""`edgekit inspect [PATH] [--json]`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from edgekit.commands.output import emit


def _scalar(value: Any) -> str:
    if isinstance(value, str) and not value.isprintable():
        return repr(value)
    return str(value)


def _human(info: dict[str, Any], indent: str = "") -> str:
    """YAML-like view; long golden-output tables are summarised, not dumped."""
    lines = []
    for key, value in info.items():
        if key == "golden" and isinstance(value, dict):
            user = value.get("user") or {}
            value = {
                "prompts": len(value.get("prompts", [])),
                "reference_tokens": len(value.get("reference", {}).get("ids", [])),
            } | {
                f"{label} ({user[file]})": count
                for label, file, count in (
                    ("your prompts", "prompts_file", len(user.get("prompts", []))),
                    ("your text tokens", "text_file", len((user.get("reference") or {}).get("ids", []))),
                )
                if user.get(file)
            }
        if key == "template" and isinstance(value, str) and len(value) > 80:
            value = f"<{len(value):,} characters of Jinja>"
        if isinstance(value, dict) and value:
            lines.append(f"{indent}{key}:")
            lines.append(_human(value, indent + "  "))
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            lines.append(f"{indent}{key}:")
            for item in value:
                block = _human(item, indent + "    ").splitlines()
                lines.append(indent + "  - " + block[0].lstrip())
                lines.extend(block[1:])
        else:
            lines.append(f"{indent}{key}: {_scalar(value)}")
    return "\n".join(lines)


@click.command("inspect")
@click.argument("path", type=click.Path(path_type=Path), required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def inspect_command(path: Path | None, as_json: bool) -> None:
    """Describe a checkpoint or artifact (HF folder, .gguf, .task, .litertlm, .tflite, .onnx).

    With no PATH: the embedded default model (Gemma 3 270M).
    """
    from edgekit.app.describe import describe

    info = describe(path)
    emit(info, as_json, _human(info))
