"""``keyscribe htr ...``: handwritten-text-recognition commands (a typer sub-app of cli.py).

Commands import their heavy modules inside the function so that ``--help`` stays fast. Other
modules may register further commands on ``htr_app`` (e.g. ``synth``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

htr_app = typer.Typer(
    help="Handwritten text recognition: figures, synthetic lines.", no_args_is_help=True
)


@htr_app.command("show-offsets")
def show_offsets(
    checkpoint: Annotated[Path, typer.Argument(help="A DefConv HTR checkpoint.")],
    image: Annotated[Path, typer.Argument(help="A line image.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="PNG to write.")] = Path("offsets.png"),
    layer: Annotated[
        int | None,
        typer.Option(help="Conv index (0-based) of a deformable layer; default: the first."),
    ] = None,
    points: Annotated[
        int, typer.Option(help="Sampling grids to draw (where offsets are largest).")
    ] = 12,
) -> None:
    """Draw where a deformable layer samples on a line (paper Figures 1 and 3)."""
    from keyscribe import api
    from keyscribe.htr.figures import show_offsets as draw

    info = draw(api.load_model(checkpoint), image, out, layer, points)
    typer.echo(
        f"wrote {info['out']}: conv {info['layer']} (deformable: {info['deformable_layers']}), "
        f"{info['cells']} grids, mean summed offset {info['mean_offset_magnitude']:.3f} px; text: {info['text']}"
    )


@htr_app.command("grid")
def grid(
    checkpoint: Annotated[Path, typer.Argument(help="An HTR checkpoint.")],
    lines: Annotated[
        Path, typer.Argument(help="Lines with transcriptions (folder, .xml, .tsv, lines.txt).")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="PNG to write.")] = Path("lines.png"),
    count: Annotated[int, typer.Option("--lines", "-n", help="How many lines to show.")] = 8,
    seed: Annotated[int, typer.Option(help="Which lines (seeded sample); -1: the first ones.")] = 0,
) -> None:
    """A grid of line images with ground truth and prediction (paper Figures 6 and 7)."""
    import random

    from keyscribe import api
    from keyscribe.htr.figures import line_grid

    recognizer = api.load_model(checkpoint)
    dataset = recognizer.dataset(lines)
    indices = list(range(len(dataset)))
    chosen = (
        indices[:count]
        if seed < 0
        else sorted(random.Random(seed).sample(indices, min(count, len(indices))))
    )
    results = recognizer._results([dataset[i] for i in chosen])
    line_grid(results, [dataset.lines[i] for i in chosen], out, title=f"{checkpoint} on {lines}")
    typer.echo(f"wrote {out} ({len(chosen)} lines)")
