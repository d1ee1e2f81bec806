"""``keyscribe decode``: greedy or beam search on saved log-probabilities (``.npy``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from keyscribe.cli import lm as dec
from keyscribe.cli.app import app, print_json


@app.command()
def decode(
    emissions: Annotated[
        Path, typer.Argument(help="A .npy of (time, classes) log-probabilities, float32 or 64.")
    ],
    domain: Annotated[
        str | None,
        typer.Option("--domain", help="emg or htr (or the --alphabet model's)."),
    ] = None,
    alphabet: Annotated[
        Path | None,
        typer.Option("--alphabet", help="A checkpoint or model whose alphabet the classes follow."),
    ] = None,
    decoder: Annotated[str, typer.Option("--decoder", help="greedy, or beam.")] = "beam",
    lm: Annotated[
        str, typer.Option("--lm", help="Character LM for beam search: ARPA, KenLM .bin, 'default'.")
    ] = "none",
    lm_style: dec.LMStyleOption = "auto",
    beam_size: Annotated[int, typer.Option("--beam-size", help="Hypotheses kept.")] = 50,
    top_k: Annotated[int, typer.Option("--top-k", help="Classes tried per frame.")] = 10,
    beam_threshold: Annotated[
        float, typer.Option("--beam-threshold", help="Drop hypotheses this far below the best.")
    ] = 50.0,
    token_threshold: Annotated[
        float,
        typer.Option("--token-threshold", help="Skip classes this far below the frame's best."),
    ] = 12.0,
    lm_weight: Annotated[float, typer.Option("--lm-weight", help="LM weight (log10).")] = 2.0,
    insertion_bonus: dec.BonusOption = None,
    nbest: Annotated[int, typer.Option("--nbest", help="Hypotheses to report.")] = 1,
    backend: Annotated[
        str, typer.Option("--backend", help="auto, python, or flashlight.")
    ] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Decode saved log-probabilities from any model: label ids, text and score (and n-best)."""
    from keyscribe.decoding.saved import decode_saved

    result = decode_saved(
        emissions,
        domain=domain,
        alphabet_from=alphabet,
        decoder=decoder,
        lm=None if lm == "none" else lm,
        options={
            "lm_style": lm_style,
            "beam_size": beam_size,
            "top_k": top_k,
            "beam_threshold": beam_threshold,
            "token_threshold": token_threshold,
            "lm_weight": lm_weight,
            "insertion_bonus": insertion_bonus,
            "nbest": nbest,
            "backend": backend,
        },
    )
    if as_json:
        print_json(result)
        return
    typer.echo(result["text"])
    if len(result["nbest"]) > 1:
        for rank, hyp in enumerate(result["nbest"], 1):
            typer.echo(f"{rank:3d}  {hyp['score']:10.3f}  {hyp['text']!r}")
