"""The one error type users see: what is wrong and what to do, on one line."""

from __future__ import annotations


class EdgekitError(Exception):
    """A problem with the user's input or environment, never a bug in edgekit.

    The CLI prints it as a single line on stderr and exits with `exit_code`.
    """

    exit_code = 2

    def __init__(self, problem: str, fix: str) -> None:
        super().__init__(problem)
        self.problem = problem.rstrip(".")
        self.fix = fix.rstrip(".")

    def one_line(self) -> str:
        return f"{self.problem}; {self.fix}."


class CheckFailed(EdgekitError):
    """A validation that ran and failed: exit code 1, not a usage error."""

    exit_code = 1
