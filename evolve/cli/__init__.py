"""The `evolve` command. This package is the only code that prints; the library returns values.

Each command group lives in its own module and registers itself on `app`. A user's mistake (an
`InputError` from anywhere below) becomes one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import sys

import typer

from scoring.errors import InputError

app = typer.Typer(
    name="evolve",
    help="Evolve a PyTorch training program with LLM persona prompts as mutation operators.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

# Command modules register on `app` when imported; keep this list the single place that wires them.
from evolve.cli import campaign as _campaign  # noqa: E402,F401
from evolve.cli import checkout as _checkout  # noqa: E402,F401
from evolve.cli import data as _data  # noqa: E402,F401
from evolve.cli import query as _query  # noqa: E402,F401
from evolve.cli import report as _report  # noqa: E402,F401
from evolve.cli import score as _score  # noqa: E402,F401
from evolve.cli import task as _task  # noqa: E402,F401


def main() -> None:
    try:
        app(standalone_mode=True)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
