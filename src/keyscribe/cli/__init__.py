"""The ``keyscribe`` command line: a thin layer over keyscribe.api.

User mistakes (bad files, bad configs) print one line ``keyscribe: error: <path>: <problem>`` and
exit with status 2; heavy modules are imported inside commands so ``--help`` stays fast.
"""

from __future__ import annotations

import sys

import typer

from keyscribe.cli import (  # noqa: F401  (they register their commands)
    decode,
    models,
    recognize,
    report,
    run,
    tools,
)
from keyscribe.cli.app import app
from keyscribe.errors import KeyscribeError

__all__ = ["app", "main"]


def main() -> None:
    try:
        app()
    except KeyscribeError as exc:
        typer.echo(f"keyscribe: error: {exc}", err=True)
        sys.exit(2)
