"""Output and error conventions every `edgekit` command follows.

`--json` for machine-readable output on stdout; progress on stderr; bad input is one line on
stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click

from edgekit.core.errors import EdgekitError

DEBUG_ENV = "EDGEKIT_DEBUG"


class EdgekitGroup(click.Group):
    """Turns EdgekitError (and anything unexpected) into one line and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EdgekitError as exc:
            click.echo(f"edgekit: error: {exc.one_line()}", err=True)
            sys.exit(exc.exit_code)
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx else "edgekit"
            click.echo(f"edgekit: error: {exc.format_message()} (see `{where} --help`)", err=True)
            sys.exit(2)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except KeyboardInterrupt:
            click.echo("edgekit: interrupted; nothing was written.", err=True)
            sys.exit(130)
        except Exception as exc:  # a bug: still one line, the traceback on request
            if os.environ.get(DEBUG_ENV):
                raise
            click.echo(
                f"edgekit: internal error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                f" (set {DEBUG_ENV}=1 for the traceback and report it)",
                err=True,
            )
            sys.exit(70)


def emit(data: dict[str, Any], as_json: bool, human: str) -> None:
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        click.echo(human)
