"""Commands about shipped and shared models: ``models``, ``model show``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from keyscribe.cli.app import app, model_app, print_json


@app.command("models")
def models(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON list.")] = False,
) -> None:
    """The models shipped with keyscribe; use a name wherever a checkpoint goes
    (keyscribe transcribe htr-fr page.xml, init_from: htr-fr)."""
    from keyscribe.bundled import registry

    entries = list(registry().values())
    if as_json:
        print_json(
            [
                {
                    "name": m.name,
                    "domain": m.domain,
                    "language": m.language,
                    "test_cer": m.test_cer,
                    "licence": m.licence,
                    "summary": m.summary,
                    "weights": str(m.weights),
                    "card": str(m.card),
                    "lm": str(m.lm) if m.lm else None,
                }
                for m in entries
            ]
        )
        return
    if not entries:
        typer.echo("no bundled models")
        return
    typer.echo(f"{'name':10s} {'domain':6s} {'language':8s} {'test CER (greedy)':56s} licence")
    for m in entries:
        cer = ", ".join(f"{k} {v:.2f} %" for k, v in m.test_cer.items()) or "-"
        typer.echo(f"{m.name:10s} {m.domain:6s} {m.language:8s} {cer:56s} {m.licence}")
        if m.summary:
            typer.echo(f"{'':10s} {m.summary}")


@model_app.command("show")
def model_show(
    model: Annotated[
        Path, typer.Argument(help="A .ckpt, a .safetensors file or a bundled model's name.")
    ],
) -> None:
    """Print a model's card (a .ckpt's is written from its config and run results)."""
    from keyscribe.sharing import card_of

    typer.echo(card_of(model).rstrip("\n"))
