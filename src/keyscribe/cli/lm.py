"""``keyscribe lm``: build and locate character n-gram language models; and the decoder options
that evaluate, transcribe and tune-decoder share."""

from __future__ import annotations

import time
from collections.abc import Iterator
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Annotated

import typer

lm_app = typer.Typer(
    help="Character n-gram language models (ARPA) for beam search.", no_args_is_help=True
)


def _lines(
    corpora: list[Path], transcriptions: list[Path], lowercase: bool, exclude: list[str]
) -> Iterator[str]:
    from keyscribe.errors import DataError
    from keyscribe.htr.lines import read_lines, texts

    for path in corpora:
        if not path.is_file():
            raise DataError(path, "corpus not found")
        with path.open(encoding="utf-8", errors="replace") as f:
            for line in f:
                yield line.lower() if lowercase else line
    for source in transcriptions:
        records = read_lines(source)
        kept = [r for r in records if not any(fnmatchcase(r.id, p) for p in exclude)]
        for text in texts(kept):
            yield text.lower() if lowercase else text


@lm_app.command("build")
def build(
    corpus: Annotated[
        list[Path] | None, typer.Argument(help="UTF-8 text files, one sentence per line.")
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="ARPA file to write.")] = Path("lm.arpa"),
    order: Annotated[int, typer.Option("--order", "-n", help="n-gram order (characters).")] = 6,
    prune_from: Annotated[
        int,
        typer.Option(
            "--prune-from", help="Drop n-grams seen once at this order and above (0: keep all)."
        ),
    ] = 0,
    transcriptions: Annotated[
        list[Path] | None,
        typer.Option(
            "--transcriptions",
            "-t",
            help="Also HTR line sources (folder of .gt.txt, PAGE, TSV, IAM).",
        ),
    ] = None,
    exclude: Annotated[
        list[str] | None,
        typer.Option(
            "--exclude",
            help="Line ids (or fnmatch patterns) of --transcriptions to leave out (repeatable).",
        ),
    ] = None,
    lowercase: Annotated[bool, typer.Option("--lowercase", help="Lowercase the corpus.")] = False,
    max_counts: Annotated[
        int, typer.Option(help="Distinct n-grams counted in memory before spilling to disk.")
    ] = 4_000_000,
) -> None:
    """Build a modified Kneser-Ney character LM (space = <sp>) and write it as ARPA."""
    from keyscribe.decoding.lm_build import build_arpa

    if not corpus and not transcriptions:
        raise typer.BadParameter("give a CORPUS file and/or --transcriptions")
    if order < 1 or (prune_from and prune_from < 2):
        raise typer.BadParameter("--order must be >= 1 and --prune-from 0 or >= 2")
    start = time.perf_counter()
    lines = _lines(corpus or [], transcriptions or [], lowercase, exclude or [])
    try:
        report = build_arpa(lines, order, out, prune_from, max_counts=max_counts)
    except ValueError as exc:
        from keyscribe.errors import DataError

        raise DataError(corpus[0] if corpus else None, str(exc)) from None
    for warning in report.warnings:
        typer.echo(f"warning: {warning}", err=True)
    counts = " ".join(f"{k + 1}:{n}" for k, n in enumerate(report.ngrams))
    typer.echo(
        f"wrote {out}: order {order}, {report.lines} lines, {report.characters} characters, "
        f"n-grams {counts} ({time.perf_counter() - start:.1f} s)"
    )


@lm_app.command("default")
def default(
    corpus: Annotated[
        str, typer.Option(help="'shakespeare' (downloaded once) or 'sonnets' (bundled).")
    ] = "shakespeare",
) -> None:
    """Print the path of the default English character LM, building it on first use."""
    from keyscribe.decoding.default_lm import default_lm_path

    if corpus not in ("shakespeare", "sonnets"):
        raise typer.BadParameter(f"--corpus must be 'shakespeare' or 'sonnets', got {corpus!r}")
    typer.echo(str(default_lm_path(corpus)))


# -- decoder options shared by evaluate, transcribe and tune-decoder ------------------------------

DecoderOption = Annotated[
    str | None,
    typer.Option(
        "--decoder",
        help="greedy, or beam (prefix beam search); default: the checkpoint config's decoder.kind.",
    ),
]
LMOption = Annotated[
    str,
    typer.Option(
        "--lm",
        help="Beam search LM: an ARPA file, a KenLM .bin (with the kenlm package), 'default' (English), 'none'; auto: default for sEMG.",
    ),
]
BeamSizeOption = Annotated[int | None, typer.Option("--beam-size", help="Hypotheses kept (50).")]
TopKOption = Annotated[int | None, typer.Option("--top-k", help="Classes tried per frame (10).")]
LMWeightOption = Annotated[float | None, typer.Option("--lm-weight", help="LM weight (2.0).")]
BonusOption = Annotated[
    float | None, typer.Option("--insertion-bonus", help="Per character (2.0 with an LM, else 0).")
]
NBestOption = Annotated[int | None, typer.Option("--nbest", help="Hypotheses to report (1).")]
LMStyleOption = Annotated[
    str,
    typer.Option(
        "--lm-style",
        help="How keys map to LM tokens: keyscribe (LMs with <sp>), emg2qwerty (the reference "
        "decoder's, for word-internal LMs), auto (emg2qwerty when the LM has no <sp>).",
    ),
]
BackendOption = Annotated[
    str | None, typer.Option("--backend", help="auto, flashlight or python (the fallback).")
]


def beam_overrides(
    beam_size: int | None = None,
    top_k: int | None = None,
    lm_weight: float | None = None,
    insertion_bonus: float | None = None,
    nbest: int | None = None,
    backend: str | None = None,
) -> dict[str, object]:
    """The BeamOptions fields given on the command line."""
    given = {
        "beam_size": beam_size,
        "top_k": top_k,
        "lm_weight": lm_weight,
        "insertion_bonus": insertion_bonus,
        "nbest": nbest,
        "backend": backend,
    }
    return {k: v for k, v in given.items() if v is not None}
