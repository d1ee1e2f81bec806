"""``keyscribe decode``: greedy or beam search on saved log-probabilities (``.npy`` files)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from keyscribe.cli import lm as dec
from keyscribe.cli.app import app, print_json


@app.command()
def decode(
    emissions: Annotated[
        list[Path],
        typer.Argument(
            help="One or more .npy files of (time, classes) log-probabilities, float32 or 64."
        ),
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
    device: Annotated[
        str,
        typer.Option(
            "--device",
            help="Where greedy decoding takes its best paths: cpu (default: saved log-probs are "
            "already on it), cuda[:N] or auto. Beam search runs on the CPU.",
        ),
    ] = "cpu",
    batch_size: Annotated[
        int,
        typer.Option(
            "--batch-size",
            min=1,
            help="Files read and checked together; greedy decodes them in one padded batch on "
            "--device, beam search one by one.",
        ),
    ] = 16,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print one JSON object (a list of them for several files)."),
    ] = False,
) -> None:
    """Decode saved log-probabilities from any model: label ids, text and score (and n-best).
    Several files: one result per file, in order (a progress bar on a terminal, none with
    --json)."""
    from keyscribe.decoding.saved import saved_decoder
    from keyscribe.devices import resolve_device
    from keyscribe.progress import wanted
    from keyscribe.saved_batches import decode_files

    where = resolve_device(device)
    labels, beam = saved_decoder(
        domain,
        alphabet,
        decoder,
        None if lm == "none" else lm,
        {
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
    several = len(emissions) > 1
    results = decode_files(emissions, labels, beam, where, batch_size, wanted(as_json) and several)
    if as_json:
        if several:
            print_json(
                [{"emissions": str(p), **r} for p, r in zip(emissions, results, strict=True)]
            )
        else:
            print_json(results[0])
        return
    for path, result in zip(emissions, results, strict=True):
        if several:
            typer.echo(f"== {path}")
        typer.echo(result["text"])
        if len(result["nbest"]) > 1:
            for rank, hyp in enumerate(result["nbest"], 1):
                typer.echo(f"{rank:3d}  {hyp['score']:10.3f}  {hyp['text']!r}")
