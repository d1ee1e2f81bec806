"""Options several commands share: where the network runs, how many items per network call, and
at which precision (one wording, so ``--help`` says the same thing everywhere)."""

from __future__ import annotations

from typing import Annotated

import typer

CHECKPOINT_HELP = (
    "A .ckpt from keyscribe or emg2qwerty (a pickle: trusted files only), a .safetensors file, "
    "or a bundled model's name (keyscribe models)."
)

PrecisionOption = Annotated[
    str,
    typer.Option(
        "--precision",
        help="Network precision: fp32, bf16 (fast on CPUs with bf16 instructions) or int8 "
        "(dynamically quantised Linear layers).",
    ),
]

DeviceOption = Annotated[
    str,
    typer.Option(
        "--device",
        help="Where the network runs: cpu, cuda[:N] or auto (a GPU when torch sees one, else the "
        "CPU); decoding runs on the CPU.",
    ),
]

BatchSizeOption = Annotated[
    int | None,
    typer.Option(
        "--batch-size",
        min=1,
        help="Items per network call: HTR lines (default 16), or ~33 s chunks of an sEMG "
        "session (TDSConv encoders; default 1 on a CPU, where it keeps memory lowest, 16 on a "
        "GPU; recurrent encoders carry their state through a session, one step at a time).",
    ),
]
