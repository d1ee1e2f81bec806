"""``keyscribe htr ...``: handwritten-text-recognition commands (a typer sub-app of cli.py).

Commands import their heavy modules inside the function so that ``--help`` stays fast. Other
modules may register further commands on ``htr_app`` (e.g. ``synth``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

htr_app = typer.Typer(
    help="Handwritten text recognition: figures, synthetic lines, lines cut from pages.",
    no_args_is_help=True,
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


@htr_app.command("synth")
def synth(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (gets train/ and val/).")],
    lines: Annotated[int, typer.Option("--lines", "-n", help="How many lines to render.")],
    seed: Annotated[int, typer.Option(help="Random seed (line i depends on seed and i only).")] = 0,
    height: Annotated[int, typer.Option(help="Line height in px (16-512).")] = 128,
    text: Annotated[
        Path | None,
        typer.Option(help="UTF-8 text to draw lines from (default: bundled French + English)."),
    ] = None,
    fonts: Annotated[
        Path | None, typer.Option(help="Extra folder of .ttf/.otf/.woff fonts to use as well.")
    ] = None,
    val_fraction: Annotated[float, typer.Option(help="Share of lines in val/.")] = 0.1,
    image_format: Annotated[str, typer.Option("--format", help="jpg or png.")] = "jpg",
    workers: Annotated[int, typer.Option(help="Processes (output does not depend on it).")] = 1,
    fetch: Annotated[
        bool, typer.Option(help="Fetch the npm handwriting fonts into the cache on first use.")
    ] = True,
) -> None:
    """Render synthetic handwriting-like lines (image + .gt.txt) for pre-training."""
    from keyscribe.htr.synth import SynthOptions, synthesize_lines

    opts = SynthOptions(height=height, val_fraction=val_fraction, image_format=image_format)
    summary = synthesize_lines(
        out,
        lines,
        seed=seed,
        height=height,
        text=text,
        fonts_dir=fonts,
        workers=workers,
        fetch=fetch,
        options=opts,
        log=lambda m: typer.echo(m, err=True),
    )
    typer.echo(
        f"wrote {summary['train']} train + {summary['val']} val lines to {out} "
        f"({len(summary['fonts'])} fonts, mean width {summary['mean_width']} px)"
    )


@htr_app.command("fetch-fonts")
def fetch_fonts_cmd(
    dest: Annotated[
        Path | None,
        typer.Option(help="Folder (default: $KEYSCRIBE_FONT_DIR or ~/.cache/keyscribe/fonts)."),
    ] = None,
    names: Annotated[
        list[str] | None, typer.Option("--name", help="Only this @fontsource package (repeatable).")
    ] = None,
) -> None:
    """Download the handwriting fonts (npm @fontsource packages, OFL/Apache) used by synth."""
    from keyscribe.htr.fonts import FONT_PACKAGES, fetch_fonts, font_cache_dir

    target = dest or font_cache_dir()
    got = fetch_fonts(target, names or None, log=lambda m: typer.echo(m, err=True))
    wanted = len(names) if names else len(FONT_PACKAGES)
    typer.echo(f"{len(got)}/{wanted} fonts in {target}")
    if len(got) < wanted:
        raise typer.Exit(1)


@htr_app.command("extract-lines")
def extract_lines_cmd(
    pages: Annotated[
        list[str],
        typer.Argument(
            help="PAGE/ALTO .xml files, folders of them, globs ('pages/*.xml') or lists of paths."
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for train/ val/ test/.")],
    split_by: Annotated[
        str, typer.Option("--split-by", help="page (no page in two splits) or line.")
    ] = "page",
    val: Annotated[float, typer.Option("--val", help="Share of lines for val/.")] = 0.1,
    test: Annotated[float, typer.Option("--test", help="Share of lines for test/.")] = 0.1,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the page shuffle.")] = 0,
    on_error: Annotated[
        str, typer.Option("--on-error", help="Bad lines and pages: skip (counted) or fail.")
    ] = "skip",
) -> None:
    """Cut the transcribed lines of pages into <out>/<split>/<stem>.png + .gt.txt and a
    manifest.tsv (source page, line id), ready for data.root."""
    from keyscribe.htr.extract import ExtractOptions, extract_lines

    if on_error not in ("skip", "fail"):
        raise typer.BadParameter("--on-error must be skip or fail")
    summary = extract_lines(list(pages), out, ExtractOptions(split_by, val, test, seed, on_error))
    parts = ", ".join(
        f"{split} {summary.lines[split]} lines / {summary.pages[split]} page(s)"
        for split in ("train", "val", "test")
    )
    skipped = f"; skipped {summary.skipped} (see the warnings)" if summary.skipped else ""
    typer.echo(f"wrote {summary.out}: {parts}{skipped}")
