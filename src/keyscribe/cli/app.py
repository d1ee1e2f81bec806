"""The ``keyscribe`` app object, its command groups and the options several commands share."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from keyscribe.cli import lm as dec
from keyscribe.htr.cli import htr_app

app = typer.Typer(
    help="CTC recognizers for sEMG keystrokes and handwritten text lines.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
data_app = typer.Typer(help="Inspect and synthesise data.", no_args_is_help=True)
model_app = typer.Typer(help="Describe models.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(model_app, name="model")
config_app = typer.Typer(help="Describe config keys.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(htr_app, name="htr")
app.add_typer(dec.lm_app, name="lm")

SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Config override key.path=value (repeatable)."),
]


def print_json(obj: Any) -> None:
    typer.echo(json.dumps(obj, ensure_ascii=False, indent=2))


def overrides(
    sets: list[str] | None,
    out: Path | None = None,
    data: Path | None = None,
    max_epochs: int | None = None,
    max_steps: int | None = None,
    max_minutes: float | None = None,
) -> list[str]:
    overrides = list(sets or [])
    if out is not None:
        overrides.append(f"out_dir={out}")
    if data is not None:
        overrides.append(f"data.root={data}")
    if max_epochs is not None:
        overrides.append(f"trainer.max_epochs={max_epochs}")
    if max_steps is not None:
        overrides.append(f"trainer.max_steps={max_steps}")
    if max_minutes is not None:
        overrides.append(f"trainer.max_time_minutes={max_minutes}")
    return overrides
