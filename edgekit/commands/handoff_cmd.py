"""`edgekit handoff BUNDLE [BUNDLE …] --out DIR`."""

from __future__ import annotations

from pathlib import Path

import click

from edgekit.commands.output import emit


@click.command("handoff")
@click.argument("bundles", type=click.Path(path_type=Path), nargs=-1, required=True)
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True)
@click.option("--no-measure", is_flag=True, help="Skip validate and bench (the model card says so).")
@click.option("--threads", type=int, default=2, show_default=True)
@click.option("--force", is_flag=True, help="Replace an existing folder.")
@click.option("--json", "as_json", is_flag=True)
def handoff_command(bundles, out_dir, no_measure, threads, force, as_json) -> None:
    """Package bundles for mobile and web developers: files, checksums, model card, snippets."""
    from edgekit.app.handoff import write_handoff

    result = write_handoff(list(bundles), out_dir, measure=not no_measure, force=force, threads=threads)
    emit(result, as_json, f"hand-off folder {result['folder']}: {', '.join(result['files'])}")
