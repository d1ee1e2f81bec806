"""Packed vs per-layer RecurrentEncoder on CPU: milliseconds per forward+backward.

RecurrentEncoder runs on CPU one layer and direction at a time on the padded batch, because CPU
autograd through a packed ``nn.LSTM`` grows as time^2 (every step's slice of the packed data
gets a full-size gradient buffer). This measures both paths at the budget HTR recipe's shape
(batches of 8, 100 columns, 256 features, 2 BLSTM(128) layers) and at longer sequences, and
checks that they agree.

    keyscribe bench rnn_paths [--batch 8] [--features 256] [--hidden 128] [--layers 2]
        [--frames 100,200,400] [--reps 5] [--threads 1] [--json [PATH]] [--quick]
"""

from __future__ import annotations

import argparse
import statistics
from typing import Any

import torch

from keyscribe.bench.harness import (
    add_common_args,
    emit,
    machine_info,
    machine_line,
    measure,
    ratio,
    set_threads,
    table,
)
from keyscribe.models.encoders import RecurrentEncoder


def _ms(path: Any, x: torch.Tensor, lengths: torch.Tensor, reps: int) -> float:
    """Median wall milliseconds of forward + backward over ``reps`` timings of >= 10 ms each."""
    times = [measure(lambda: path(x, lengths).sum().backward()).wall for _ in range(reps)]
    return statistics.median(times) * 1000


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="keyscribe bench rnn_paths", description=__doc__)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--features", type=int, default=256)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--frames", default="100,200,400", help="comma-separated sequence lengths")
    parser.add_argument("--reps", type=int, default=5)
    add_common_args(parser, threads=1)
    args = parser.parse_args(argv)
    if args.quick:  # tiny sizes, one repetition
        args.batch, args.features, args.hidden, args.layers = 2, 4, 3, 1
        args.frames, args.reps = "6", 1
    set_threads(args.threads)
    torch.manual_seed(0)
    encoder = RecurrentEncoder(args.features, "lstm", args.hidden, args.layers).train()
    rows = []
    for frames in (int(f) for f in args.frames.split(",")):
        x = torch.randn(args.batch, frames, args.features, requires_grad=True)
        # width-bucketed batches: lengths within ~10 % of the longest
        lengths = torch.linspace(frames, max(1, int(frames * 0.9)), args.batch).round().long()
        packed_y, per_layer_y = encoder.run_packed(x, lengths), encoder.run_per_layer(x, lengths)
        diff = (per_layer_y - packed_y).abs().max().item()
        packed = _ms(encoder.run_packed, x, lengths, args.reps)
        per_layer = _ms(encoder.run_per_layer, x, lengths, args.reps)
        rows.append(
            {
                "frames": frames,
                "packed_ms": round(packed, 4),
                "per_layer_ms": round(per_layer, 4),
                "speedup": _round(ratio(packed, per_layer)),
                "max_abs_diff": diff,
            }
        )
    result = {"machine": machine_info(), "args": vars(args) | {"json": None}, "rows": rows}

    def show(r: dict[str, Any]) -> None:
        print(machine_line(r["machine"]))
        print(
            f"# BLSTM {args.layers} x {args.hidden} on {args.features} features, batch {args.batch}, "
            "forward+backward, median ms"
        )
        print(
            table(
                ["frames", "packed ms", "per-layer ms", "speed-up", "max |diff|"],
                [
                    [
                        x["frames"],
                        x["packed_ms"],
                        x["per_layer_ms"],
                        x["speedup"],
                        f"{x['max_abs_diff']:.1e}",
                    ]
                    for x in r["rows"]
                ],
            )
        )

    return emit(result, args.json, show)
