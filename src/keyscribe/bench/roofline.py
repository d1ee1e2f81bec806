"""How far a training step is from this core's arithmetic limit, and why.

The step's multiply-adds are counted with ``torch.utils.flop_counter`` (matmuls and
convolutions, forward and backward; elementwise work, norms and the CTC loss are not counted),
and in the same run this core's fp32 throughput is measured on the two kernels those FLOPs go
to: a matmul of the step's own FC shape (torch's CPU BLAS, what ``nn.Linear`` runs) and a
convolution of its own (1, k) conv shape (oneDNN). The least time any implementation of those
FLOPs can take on this core is then ``matmul FLOPs / matmul peak + conv FLOPs / conv peak``,
and the best speedup any such implementation could reach over another is that other's time over
this bound: a ratio target beyond it cannot be met by reformulating, only by doing less work.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode, conv_flop_count

from keyscribe.bench.harness import measure, ratio

aten = torch.ops.aten

MATMUL_OPS = ("mm", "addmm", "bmm", "baddbmm")
CONV_OPS = ("convolution", "_convolution", "convolution_backward")


def conv_backward_flops(
    grad_out_shape: list[int],
    x_shape: list[int],
    w_shape: list[int],
    _bias: Any,
    _stride: Any,
    _padding: Any,
    _dilation: Any,
    transposed: bool,
    _output_padding: Any,
    _groups: int,
    output_mask: list[bool],
    out_shape: Any = None,
    **kwargs: Any,
) -> int:
    """Each gradient of a convolution (input, weight) costs the forward's FLOPs. torch's own
    formula counts a grouped convolution's weight gradient as if it were not grouped (``groups``
    times too many), which would credit a grouped formulation with work it never does."""
    forward = conv_flop_count(x_shape, w_shape, grad_out_shape, transposed)
    return forward * (int(output_mask[0]) + int(output_mask[1]))


def step_flops(step: Callable[[], Any]) -> dict[str, int]:
    """FLOPs of one call of ``step``: {"matmul": ..., "conv": ..., "total": ...}."""
    counter = FlopCounterMode(
        display=False, custom_mapping={aten.convolution_backward: conv_backward_flops}
    )
    with counter:
        step()
    by_op = {str(op).split(".")[-1]: n for op, n in counter.get_flop_counts()["Global"].items()}
    matmul = sum(n for op, n in by_op.items() if op in MATMUL_OPS)
    conv = sum(n for op, n in by_op.items() if op in CONV_OPS)
    return {"matmul": matmul, "conv": conv, "total": counter.get_total_flops()}


def _gflops(fn: Callable[[], Any], flops: int, rounds: int = 3) -> float:
    """The best of ``rounds`` timings (process CPU time, >= 0.2 s each), in GFLOP/s."""
    best = min(measure(fn, min_seconds=0.2).cpu for _ in range(rounds))
    return flops / best / 1e9


def fp32_peaks(
    rows: int, features: int, conv: tuple[int, int, int, int], square: int = 2048
) -> dict[str, float]:
    """This core's fp32 GFLOP/s, forward, at the best of a few timings: "matmul", the better of
    a ``square``-sized matmul and one of the FC blocks' shape ``(rows, features) @ (features,
    features)`` (torch's CPU BLAS, what ``nn.Linear`` runs), and "conv", a (1, k) convolution
    ``conv = (batch, channels, time, k)`` over channels-last input (the TDSConv blocks' shape,
    oneDNN)."""
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(rows, features, generator=gen)
    b = torch.randn(features, features, generator=gen)
    sq = torch.randn(square, square, generator=gen)
    batch, channels, time, k = conv
    x = torch.randn(batch, channels, 1, time, generator=gen)
    x = x.contiguous(memory_format=torch.channels_last)
    w = torch.randn(channels, channels, 1, k, generator=gen)
    conv_flops = 2 * batch * channels * channels * k * (time - k + 1)
    with torch.no_grad():
        matmul = max(
            _gflops(lambda: sq @ sq, 2 * square**3),
            _gflops(lambda: a @ b, 2 * rows * features * features),
        )
        return {
            "matmul": round(matmul, 1),
            "conv": round(_gflops(lambda: torch.conv2d(x, w), conv_flops), 1),
        }


def bound(flops: dict[str, int], peaks: dict[str, float]) -> float:
    """Seconds a step of ``flops`` takes at least with every matmul at the matmul peak and every
    convolution at the conv peak (GFLOP/s)."""
    return flops["matmul"] / (peaks["matmul"] * 1e9) + flops["conv"] / (peaks["conv"] * 1e9)


def analysis(
    ours: dict[str, int],
    reference: dict[str, int],
    peaks: dict[str, float],
    ours_s: float,
    reference_s: float,
) -> dict[str, Any]:
    """The figures of "how far and why" for two formulations of one step, timed at ``ours_s``
    and ``reference_s`` seconds: FLOPs, peaks, achieved GFLOP/s, the least possible step time
    and the best speedup over the reference any implementation of ours' FLOPs could reach."""
    least = bound(ours, peaks)
    return {
        "flops_per_step": {
            "ours": ours["total"],
            "reference": reference["total"],
            "matmul": ours["matmul"],
            "conv": ours["conv"],
        },
        "fp32_peak_gflops": peaks,
        "achieved_gflops": {
            "ours": _round(ratio(ours["total"] / 1e9, ours_s)),
            "reference": _round(ratio(reference["total"] / 1e9, reference_s)),
        },
        "least_step_s": round(least, 3),
        "best_possible_speedup": _round(ratio(reference_s, least), 2),
        "ours_share_of_least": _round(ratio(least, ours_s), 3),
    }


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def explain(r: dict[str, Any], target: float) -> str:
    """Why a speedup target over the reference is or is not within reach, from :func:`analysis`."""
    g = {k: v / 1e9 for k, v in r["flops_per_step"].items()}
    peaks = r["fp32_peak_gflops"]
    best, share = r["best_possible_speedup"], r["ours_share_of_least"]
    head = (
        f"step FLOPs: ours {g['ours']:.1f} G, reference {g['reference']:.1f} G (matmul "
        f"{g['matmul']:.1f} G, conv {g['conv']:.1f} G); this core's fp32 peaks now: matmul "
        f"{peaks['matmul']} GFLOP/s, conv {peaks['conv']} GFLOP/s; achieved: ours "
        f"{r['achieved_gflops']['ours']} GFLOP/s, reference {r['achieved_gflops']['reference']} "
        f"GFLOP/s; no implementation of these FLOPs runs a step in under {r['least_step_s']} s"
    )
    if best is None or share is None:
        return head + " (a time was not positive: no ratio)"
    reach = f"so {best:.2f}x the reference is the most any formulation could reach at these peaks"
    if best < target:
        reach += f": {target}x is out of reach without doing less arithmetic or faster kernels"
    return (
        f"{head}, {reach}; ours takes {1 / share:.2f}x that least time (the rest is work the "
        "count leaves out: norms, elementwise ops, layout copies, the CTC loss)"
    )
