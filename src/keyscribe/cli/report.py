"""``keyscribe report``: one self-contained HTML page from a saved result, a run or a sweep."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from keyscribe.cli.app import app


@app.command()
def report(
    source: Annotated[
        Path,
        typer.Argument(
            help="An evaluate --json --per-item, transcribe --json or stream --json file, "
            "a run directory, or a sweep folder."
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="The HTML file to write.")],
) -> None:
    """Write ONE self-contained HTML report (images, script and styles inline; opens from disk
    with no network): lines with their errors and confidences (HTR), session timelines (sEMG),
    loss / CER / learning-rate curves and results (runs and sweeps)."""
    from keyscribe.reports import write_report

    typer.echo(f"wrote {write_report(source, out)}")
