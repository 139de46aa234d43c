"""Options several commands share, spelled once."""

from __future__ import annotations

import click

from edgekit.runtime.engines import ENGINES

engine_option = click.option(
    "--engine",
    type=click.Choice(ENGINES),
    default="auto",
    show_default=True,
    help="For bundles: LiteRT-LM, or the LiteRT interpreter (auto: the interpreter where LiteRT-LM cannot run).",
)
