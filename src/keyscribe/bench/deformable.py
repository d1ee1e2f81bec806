"""Deformable convolution vs nn.Conv2d of the same shape, at the CRNN and 1D-LSTM layer shapes.

The shapes are the conv layers of the paper's appendix tables (Cascianelli et al.): CRNN on
60 px high lines in batches of 8, 1D-LSTM on 128 px high lines in batches of 2, lines --width
pixels wide (~1000 by default), each layer at the size the pooling before it leaves. For every
layer it times, interleaved and median of --reps, forward alone (no grad) and forward+backward:

- ``conv``: nn.Conv2d;
- ``op``: deform_conv2d given offsets (the sampling + matmul alone), for each --methods;
- ``layer``: the DeformConv2d module (its offset conv + op), what the networks pay.

Each timing repeats its call until the clock has advanced by at least 10 ms (a tiny case can
take less than a clock tick); a ratio whose convolution time is not positive prints as ``-``.

Prints a table of milliseconds and ratios to conv, the per-network totals, and the machine (CPU
model, threads, torch, commit, load average: other processes skew the figures).

    keyscribe bench deformable [--width 1000] [--reps 3] [--threads 2] [--nets crnn,lstm]
        [--methods auto,kernel,gather,grid_sample] [--clock wall|cpu] [--json [PATH]] [--quick]

``auto`` is what DeformConv2d runs: on CPU the compiled ``kernel`` (numba) from 16 input
channels when numba is installed, else the torch paths (``grid_sample``, ``gather``); the
machine line says whether the kernel was available.

``--quick``: lines 16 px wide in batches of 1, one repetition (the test suite's; no meaning).
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
from collections.abc import Callable
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
    show_ratio,
)
from keyscribe.models.deformable import DeformConv2d, deform_conv2d, kernel_available


def layer_shapes(net: str, width: int, batch: int | None = None) -> list[dict[str, Any]]:
    """(name, batch, in, out, kernel, padding, H, W) of each conv of the network's table;
    ``batch`` replaces the table's batch size."""
    if net == "crnn":  # Table 1: 60 px, batch 8
        h, w, b = 60, width, 8
        specs = [
            ("conv1", 1, 64, 3, 1, "pool 2x2"),
            ("conv2", 64, 128, 3, 1, "pool 2x2"),
            ("conv3", 128, 256, 3, 1, None),
            ("conv4", 256, 256, 3, 1, "pool 2x1 pad (0,1)"),
            ("conv5", 256, 512, 3, 1, None),
            ("conv6", 512, 512, 3, 1, "pool 2x1 pad (0,1)"),
            ("conv7", 512, 512, 2, 0, None),
        ]
    elif net == "lstm":  # Table 2: 128 px, batch 2
        h, w, b = 128, width, 2
        specs = [
            ("conv1", 1, 16, 3, 1, "pool 2x2"),
            ("conv2", 16, 32, 3, 1, "pool 2x2"),
            ("conv3", 32, 48, 3, 1, "pool 2x2"),
            ("conv4", 48, 64, 3, 1, None),
            ("conv5", 64, 80, 3, 1, None),
        ]
    else:
        raise ValueError(f"unknown net {net!r} (crnn or lstm)")
    b = batch or b
    rows = []
    for name, cin, cout, k, p, pool in specs:
        rows.append(
            dict(net=net, layer=name, batch=b, cin=cin, cout=cout, kernel=k, padding=p, h=h, w=w)
        )
        h, w = h - k + 1 + 2 * p, w - k + 1 + 2 * p
        if pool == "pool 2x2":
            h, w = h // 2, w // 2
        elif pool == "pool 2x1 pad (0,1)":
            h, w = (h - 2) // 2 + 1, w + 1
    return rows


def bench_layer(spec: dict[str, Any], methods: list[str], reps: int, clock: str) -> dict[str, Any]:
    """Milliseconds per call of each case (median of ``reps`` rounds after a warm-up round),
    forward alone and forward + backward."""
    torch.manual_seed(0)
    b, cin, cout, k, p = spec["batch"], spec["cin"], spec["cout"], spec["kernel"], spec["padding"]
    x = torch.randn(b, cin, spec["h"], spec["w"], requires_grad=True)
    conv = torch.nn.Conv2d(cin, cout, k, padding=p)
    layer = DeformConv2d(cin, cout, k, padding=p)
    torch.nn.init.normal_(layer.offset_conv.weight, std=0.01)  # non-trivial offsets
    with torch.no_grad():
        offset = layer.offset_conv(x)
    offset.requires_grad_()
    w, bias = layer.weight, layer.bias

    def forward(f: Callable[[], torch.Tensor]) -> Callable[[], None]:
        def run() -> None:
            with torch.no_grad():
                f()

        return run

    def fwd_bwd(f: Callable[[], torch.Tensor]) -> Callable[[], None]:
        def run() -> None:
            f().sum().backward()
            x.grad = offset.grad = None

        return run

    cases: dict[str, Callable[[], torch.Tensor]] = {"conv": lambda: conv(x)}
    for m in methods:
        cases[f"op_{m}"] = functools.partial(deform_conv2d, x, offset, w, bias, 1, p, method=m)
    cases["layer"] = lambda: layer(x)
    times: dict[str, list[float]] = {f"{n}_{mode}": [] for n in cases for mode in ("fwd", "fb")}
    for rep in range(reps + 1):  # the first round warms up
        for name, f in cases.items():
            fwd, fb = measure(forward(f)), measure(fwd_bwd(f))
            if rep:
                times[f"{name}_fwd"].append(fwd.seconds(clock) * 1000)
                times[f"{name}_fb"].append(fb.seconds(clock) * 1000)
    out = dict(spec)
    out.update({key: round(statistics.median(v), 3) for key, v in times.items()})
    return out


def ratios(row: dict[str, Any], methods: list[str]) -> dict[str, float | None]:
    """Each deformable case over nn.Conv2d, forward and forward + backward (None where the
    convolution's time is not positive)."""
    return {
        f"{name}_{mode}_x_conv": ratio(row[f"{name}_{mode}"], row[f"conv_{mode}"])
        for name in [*(f"op_{m}" for m in methods), "layer"]
        for mode in ("fwd", "fb")
    }


def run(
    width: int,
    reps: int,
    nets: list[str],
    methods: list[str],
    clock: str = "wall",
    batch: int | None = None,
) -> dict[str, Any]:
    info = machine_info()
    shapes = [s for net in nets for s in layer_shapes(net, width, batch)]
    rows = [bench_layer(s, methods, reps, clock) for s in shapes]
    totals = {}
    for net in nets:
        sub = [r for r in rows if r["net"] == net]
        totals[net] = {
            key: round(sum(r[key] for r in sub), 3)
            for key in sub[0]
            if key.endswith(("_fwd", "_fb"))
        }
        totals[net].update(ratios(totals[net], methods))
    for row in rows:
        row.update(ratios(row, methods))
    return {
        "machine": info,
        "clock": clock,
        "load_average_end": round(os.getloadavg()[0], 2),
        "width": width,
        "reps": reps,
        "methods": methods,
        "kernel_available": kernel_available(),
        "layers": rows,
        "totals": totals,
    }


def print_table(result: dict[str, Any]) -> None:
    print(
        f"{machine_line(result['machine'])} -> {result['load_average_end']} at the end, "
        f"{result['clock']} clock, compiled kernel "
        f"{'available (numba)' if result['kernel_available'] else 'missing (no numba)'}"
    )
    methods = result["methods"]
    for mode, label in (("fwd", "forward"), ("fb", "forward+backward")):
        print(f"\n{label} (ms; ratio to nn.Conv2d)")
        head = ["net", "layer", "shape (N,Cin->Cout,HxW)", "conv"]
        head += [f"op[{m}]" for m in methods] + ["layer", "x op", "x layer"]
        print(" | ".join(head))
        for r in result["layers"] + [
            dict(net=n, layer="total", **t) for n, t in result["totals"].items()
        ]:
            shape = f"{r['batch']},{r['cin']}->{r['cout']},{r['h']}x{r['w']}" if "cin" in r else ""
            cells = [r["net"], r["layer"], shape, _ms(r[f"conv_{mode}"])]
            cells += [_ms(r[f"op_{m}_{mode}"]) for m in methods]
            cells += [
                _ms(r[f"layer_{mode}"]),
                show_ratio(r[f"op_{methods[0]}_{mode}_x_conv"]),
                show_ratio(r[f"layer_{mode}_x_conv"]),
            ]
            print(" | ".join(cells))
    for net, totals in result["totals"].items():
        print(verdict(net, totals, methods[0]))


TARGET = 2.5  # DeformConv2d layers over nn.Conv2d, forward + backward, per stack


def verdict(net: str, totals: dict[str, Any], method: str) -> str:
    """The stack's forward+backward ratio against the target, and where the time goes when it
    misses: the offset convolution's share, and the sampling op's own ratio."""
    ratio_fb = totals["layer_fb_x_conv"]
    if ratio_fb is None:
        return f"{net}: no ratio (the convolution time was not positive)"
    op = f"op_{method}_fb"
    offset_share = ratio(totals["layer_fb"] - totals[op], totals["layer_fb"])
    line = f"{net}: DeformConv2d layers {ratio_fb:.2f}x nn.Conv2d forward+backward (target <= {TARGET}x: "
    if ratio_fb <= TARGET:
        return line + "met)"
    line += f"missed by {ratio_fb / TARGET:.2f}x"
    if offset_share is not None and totals.get(f"{op}_x_conv") is not None:
        line += (
            f"; the offset convolutions are {100 * offset_share:.0f} % of the layers' time and "
            f"the deformable op alone is {totals[f'{op}_x_conv']:.2f}x the convolution: "
            "nn.Conv2d is oneDNN's direct convolution, near the core's peak and with no "
            "columns, while the op samples 4 corners per kernel cell and channel, and forms, "
            "multiplies and differentiates 9x the input as columns, resampled in the backward)"
        )
    return line


def _ms(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:.2g}"


def get_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="keyscribe bench deformable",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--width", type=int, default=1000, help="line width in pixels (input of conv1)"
    )
    parser.add_argument(
        "--reps", type=int, default=3, help="timed repetitions (median) after 1 warm-up"
    )
    parser.add_argument("--nets", default="crnn,lstm", help="comma-separated: crnn, lstm")
    parser.add_argument(
        "--methods",
        default="auto",
        help="deform_conv2d methods: auto, kernel, gather, grid_sample",
    )
    parser.add_argument(
        "--clock",
        choices=["wall", "cpu"],
        default="wall",
        help="wall time, or this process's CPU time (steadier when other jobs share the cores)",
    )
    add_common_args(parser, threads=2)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = get_args(argv)
    set_threads(args.threads)
    width, reps, batch = (16, 1, 1) if args.quick else (args.width, args.reps, None)
    result = run(width, reps, args.nets.split(","), args.methods.split(","), args.clock, batch)
    return emit(result, args.json, print_table)
