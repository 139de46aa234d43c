"""The command tree: every subcommand registers here."""

from __future__ import annotations

import click

from edgekit import __version__
from edgekit.cli import EdgekitGroup
from edgekit.commands.bench_cmd import bench_command
from edgekit.commands.convert_cmd import convert_command
from edgekit.commands.handoff_cmd import handoff_command
from edgekit.commands.inspect_cmd import inspect_command
from edgekit.commands.plan_cmd import plan_command
from edgekit.commands.run_cmd import run_command
from edgekit.commands.validate_cmd import validate_command


@click.group(cls=EdgekitGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="edgekit")
def cli() -> None:
    """Convert Gemma checkpoints for phones, browsers and ARM boards; run and check them."""


cli.add_command(convert_command)
cli.add_command(inspect_command)
cli.add_command(run_command)
cli.add_command(validate_command)
cli.add_command(bench_command)
cli.add_command(handoff_command)
cli.add_command(plan_command)
