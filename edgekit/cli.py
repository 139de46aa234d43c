"""The `edgekit` command tree: every subcommand registers here."""

from __future__ import annotations

import click

from edgekit import __version__
from edgekit.commands.bench_cmd import bench_command
from edgekit.commands.convert_cmd import convert_command
from edgekit.commands.handoff_cmd import handoff_command
from edgekit.commands.inspect_cmd import inspect_command
from edgekit.commands.output import EdgekitGroup
from edgekit.commands.plan_cmd import plan_command
from edgekit.commands.run_cmd import run_command
from edgekit.commands.validate_cmd import validate_command


@click.group(cls=EdgekitGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="edgekit")
def cli() -> None:
    """Convert Gemma checkpoints for phones, browsers and ARM boards; run and check them."""


for command in (
    convert_command,
    inspect_command,
    run_command,
    validate_command,
    bench_command,
    handoff_command,
    plan_command,
):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="edgekit")
