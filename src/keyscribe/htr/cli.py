"""``keyscribe htr ...``: handwritten-text-recognition commands (a typer sub-app of cli.py).

Commands import their heavy modules inside the function so that ``--help`` stays fast. Other
modules may register further commands on ``htr_app`` (e.g. ``synth``).
"""

from __future__ import annotations

import typer

htr_app = typer.Typer(
    help="Handwritten text recognition: figures, synthetic lines.", no_args_is_help=True
)
