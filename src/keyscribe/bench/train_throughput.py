"""Training throughput of every sEMG encoder: input frames/s for forward + backward + CTC loss.

Each encoder kind of ``builders.ENCODERS`` at its default (baseline / paper) size, behind the
baseline front end (spectrogram norm + rotation-invariant MLP, 384 features per band), on random
batches shaped like configs/emg/base.yaml: batch 32 x 8000-sample windows with 1800 + 200 samples
of context = 622 spectrogram frames each. One warm-up step, then ``--steps`` timed steps.

In the same run, our TDSConv is compared with a reference formulation written here as
emg2qwerty's ``modules.py`` has it: time-first ``(T, N, C)`` tensors and 2-D ``(1, k)``
convolutions over ``(N, channels, width, T)``. It loads the same weights and its outputs are
checked against ours before timing. Both are timed as the whole model (front end + encoder +
head + CTC) and as the encoder alone (forward + backward on fixed front-end features), because
the shared front end dilutes the difference in the whole-model figure.

    keyscribe bench train_throughput [--steps 3] [--threads N] [--encoders tdsconv,lstm]
        [--precisions fp32,bf16] [--batch-size 32] [--json OUT.json] [--quick]

Each encoder trains in fp32 and in bf16 (``trainer.precision: bf16-mixed``'s autocast) side by
side; the header says whether this CPU computes bf16 natively (without it bf16 is emulated and
slower than fp32).

``--quick``: tiny sizes for the test suite (figures only, no meaning). Times are process CPU
time: on a shared machine wall time measures the sharing; use ``--threads 1`` there, so CPU time
is what one dedicated core would take. The load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import torch
from torch import Tensor, nn

from keyscribe import api, builders
from keyscribe.bench.harness import (
    add_common_args,
    emit,
    machine_info,
    machine_line,
    measure,
    ratio,
    repo_config,
    set_threads,
    show_ratio,
    table,
)
from keyscribe.bench.reference_tdsconv import (
    ReferenceTDSConvEncoder,
)
from keyscribe.bench.roofline import analysis, explain, fp32_peaks, step_flops
from keyscribe.domain import get_domain
from keyscribe.emg.keys import EMG_ALPHABET
from keyscribe.models.ctc import CTCModel
from keyscribe.models.encoders import TDSConv2dBlock, TDSConvEncoder
from keyscribe.precision import cpu_support

QUICK: dict[str, dict[str, Any]] = {  # tiny options per encoder kind, for --quick
    "tdsconv": {"block_channels": [4, 4], "kernel_width": 4},
    "lstm": {"hidden_size": 8, "num_layers": 1},
    "gru": {"hidden_size": 8, "num_layers": 1},
    "tdsconv_lstm": {"block_channels": [4], "kernel_width": 4, "lstm_hidden_size": 8},
    "convresnet": {"dimensions": [8], "repetitions": [1], "strides": [1]},
    "convresnet_gru": {"dimensions": [8], "repetitions": [1], "strides": [1], "gru_hidden_size": 8},
    "conformer": {"d_model": 16, "num_layers": 1, "num_heads": 2, "conv_kernel": 3},
}


# -- timing ---------------------------------------------------------------------------------------


def _batch(
    example: Tensor, batch_size: int, gen: torch.Generator
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Random log-spectrogram-like inputs (batch, frames, band, channel, freq) and CTC targets."""
    frames = example.shape[1]
    inputs = torch.randn((batch_size, *example.shape[1:]), generator=gen)
    lengths = torch.full((batch_size,), frames, dtype=torch.long)
    target_length = max(frames // 40, 1)  # about 3 keys/s at 125 frames/s
    targets = torch.randint(0, EMG_ALPHABET.blank, (batch_size, target_length), generator=gen)
    return inputs, lengths, targets, torch.full((batch_size,), target_length, dtype=torch.long)


def _time_steps(step: Any, steps: int) -> float:
    """Seconds per step, as process CPU time: on a shared machine wall time measures the sharing
    (with one torch thread, CPU time is what a dedicated core would take). At least ``steps``
    steps, and more until 10 ms have passed."""
    step()  # warm-up
    return measure(step, min_calls=steps).cpu


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def in_child(measure: Callable[[], float]) -> tuple[float, float]:
    """Run ``measure`` in a forked child: (its result, the child's peak RSS growth in MB), i.e.
    what training this model takes on top of what was resident (activations, gradients,
    allocator caches). A child per model, because a process's peak RSS never comes down."""
    ctx = multiprocessing.get_context("fork")
    queue = ctx.SimpleQueue()

    def target() -> None:
        start = _rss_mb()
        value = measure()
        queue.put((value, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - start))

    child = ctx.Process(target=target)
    child.start()
    value, peak = queue.get()
    child.join()
    return value, peak


def train_step(
    model: CTCModel, batch: tuple[Tensor, Tensor, Tensor, Tensor], precision: str = "fp32"
) -> Any:
    """One forward + CTC + backward, in fp32 or under bf16 autocast (``trainer.precision:
    bf16-mixed``: the model's log-softmax and the loss stay fp32)."""
    inputs, lengths, targets, target_lengths = batch
    blank = EMG_ALPHABET.blank

    def step() -> None:
        model.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            log_probs, out_lengths = model(inputs, lengths)  # (batch, time', classes), fp32
        loss = nn.functional.ctc_loss(
            log_probs.transpose(0, 1),
            targets,
            out_lengths,
            target_lengths,
            blank=blank,
            zero_infinity=True,
        )
        loss.backward()

    return step


def encoder_step(encoder: nn.Module, features: Tensor, lengths: Tensor) -> Any:
    def step() -> None:
        encoder.zero_grad(set_to_none=True)
        y, _ = encoder(features, lengths)
        y.square().mean().backward()

    return step


def block_step(block: nn.Module, x: Tensor) -> Any:
    x = x.detach().requires_grad_()

    def step() -> None:
        block.zero_grad(set_to_none=True)
        block(x).square().mean().backward()

    return step


def run(
    steps: int = 3,
    encoders: list[str] | None = None,
    quick: bool = False,
    batch_size: int | None = None,
    memory: bool = False,
    precisions: tuple[str, ...] = ("fp32", "bf16"),
) -> dict[str, Any]:
    overrides = (
        ["model.frontend.mlp_features=[8]", "data.window_length=400", "data.padding=[0,0]"]
        if quick
        else []
    )
    cfg = api.load_config(repo_config("emg/base.yaml"), overrides)
    spec = get_domain("emg")
    assert spec.example_input is not None
    example = spec.example_input(cfg)  # (1, frames, band, channel, freq)
    batch_size = batch_size or (2 if quick else cfg.data.batch_size)
    gen = torch.Generator().manual_seed(0)
    batch = _batch(example, batch_size, gen)
    frames_per_step = batch_size * example.shape[1]
    rows: list[dict[str, Any]] = []
    comparison = None
    for kind in encoders or list(builders.ENCODERS):
        torch.manual_seed(0)
        frontend = spec.frontend(cfg)
        options: dict[str, Any] = {"kind": kind, **(QUICK[kind] if quick else {})}
        features = cast(int, frontend.out_features)
        encoder = builders.build_encoder(options, features, spec.frame_scale(cfg))
        model = CTCModel(frontend, encoder, EMG_ALPHABET.num_classes).train()
        fp32_seconds = None
        for precision in precisions:  # side by side, right after one another
            step = train_step(model, batch, precision)
            row: dict[str, Any] = {"model": kind, "precision": precision}
            if memory:
                seconds, row["train_peak_rss_mb"] = in_child(
                    lambda step=step: _time_steps(step, steps)
                )
            else:
                seconds = _time_steps(step, steps)
            fp32_seconds = seconds if precision == "fp32" else fp32_seconds
            row.update(
                step_s=seconds,
                frames_per_s=ratio(frames_per_step, seconds),
                speedup_vs_fp32=None if fp32_seconds is None else ratio(fp32_seconds, seconds),
            )
            rows.append(row)
            print(f"# {kind} {precision}: {seconds:.3f} s/step", file=sys.stderr, flush=True)
        if kind == "tdsconv":  # the reference formulation right after, under the same load
            comparison = compare_tdsconv(model, batch, steps, frames_per_step, rows)
            print(f"# tdsconv vs reference: {comparison}", file=sys.stderr, flush=True)
    return {
        "machine": machine_info(),
        "cpu_support": cpu_support().bf16_note(),
        "precisions": list(precisions),
        "batch_size": batch_size,
        "frames_per_item": example.shape[1],
        "steps": steps,
        "clock": "process CPU time (step_s, frames_per_s)",
        "quick": quick,
        "rows": rows,
        "tdsconv_vs_reference": comparison,
    }


def compare_tdsconv(
    ours: CTCModel,
    batch: tuple[Tensor, Tensor, Tensor, Tensor],
    steps: int,
    frames_per_step: int,
    rows: list[dict[str, Any]],
) -> dict[str, Any]:
    """The reference formulation with our weights: outputs checked, then whole model and encoder
    alone timed (ours again right after, so both see the same load)."""
    encoder = ours.encoder
    assert isinstance(encoder, TDSConvEncoder)
    reference_encoder = ReferenceTDSConvEncoder(encoder)
    reference = CTCModel(ours.frontend, reference_encoder, EMG_ALPHABET.num_classes)
    reference.head.load_state_dict(ours.head.state_dict())
    inputs, lengths = batch[0], batch[1]
    with torch.no_grad():
        features, feature_lengths = ours.frontend(inputs, lengths)  # (batch, time, features)
        a, _ = ours.encoder(features, feature_lengths)
        b, _ = reference.encoder(features, feature_lengths)
    max_diff = (a - b).abs().max().item()
    if not torch.allclose(a, b, atol=1e-4, rtol=0):
        raise RuntimeError(f"reference TDSConv differs from ours by {max_diff:.3g}")
    whole = _time_steps(train_step(reference, batch), steps)
    rows.append(
        {
            "model": "tdsconv (reference 2-D)",
            "precision": "fp32",
            "step_s": whole,
            "frames_per_s": ratio(frames_per_step, whole),
            "speedup_vs_fp32": None,
        }
    )
    whole_ours = _time_steps(train_step(ours, batch), steps)
    features = features.detach()
    enc_ref = _time_steps(encoder_step(reference.encoder, features, feature_lengths), steps)
    enc_ours = _time_steps(encoder_step(ours.encoder, features, feature_lengths), steps)
    # the first (1, k) convolution block alone: where the two formulations differ
    conv_ours = _time_steps(block_step(encoder.blocks[0], features), steps)
    time_first = features.transpose(0, 1).contiguous()  # (time, batch, features)
    conv_ref = _time_steps(block_step(reference_encoder.blocks[0], time_first), steps)
    # how far from this core's arithmetic limit: the step's FLOPs and the fp32 peaks, now
    first = encoder.blocks[0]
    assert isinstance(first, TDSConv2dBlock)
    k = first.conv2d.kernel_size[1]
    batch_size, frames = features.shape[:2]
    peaks = fp32_peaks(
        batch_size * (frames - k + 1),
        features.shape[2],
        (batch_size * first.width, first.channels, frames, k),
        square=2048 if frames > 100 else 256,  # --quick: tiny shapes, a quick peak
    )
    flops = (step_flops(train_step(ours, batch)), step_flops(train_step(reference, batch)))
    return {
        "max_abs_diff": max_diff,
        "whole_model_speedup": ratio(whole, whole_ours),
        "encoder_speedup": ratio(enc_ref, enc_ours),
        "conv_block_speedup": ratio(conv_ref, conv_ours),
        "encoder_step_s": {"ours": enc_ours, "reference": enc_ref},
        "conv_block_step_s": {"ours": conv_ours, "reference": conv_ref},
        "whole_step_s": {"ours": whole_ours, "reference": whole},
        "roofline": analysis(*flops, peaks, whole_ours, whole),
    }


def print_table(result: dict[str, Any]) -> None:
    print(machine_line(result["machine"]) + " (shared machine: figures are lower bounds)")
    print(f"# {result['cpu_support']}")
    print(
        f"# batch {result['batch_size']} x {result['frames_per_item']} frames, fwd+bwd+CTC, "
        f"{result['steps']} timed steps, {result['clock']}"
    )
    memory = "train_peak_rss_mb" in result["rows"][0]
    rows = [
        [
            r["model"],
            r["precision"],
            r["step_s"],
            r["frames_per_s"],
            show_ratio(r["speedup_vs_fp32"]) if r["precision"] != "fp32" else "",
            *([r.get("train_peak_rss_mb", "-")] if memory else []),
        ]
        for r in result["rows"]
    ]
    headers = [
        "model",
        "precision",
        "CPU s/step",
        "frames/CPU-s",
        "vs fp32",
        *(["peak RSS growth MB"] if memory else []),
    ]
    print(table(headers, rows))
    c = result["tdsconv_vs_reference"]
    if c:
        print(
            f"TDSConv ours vs reference 2-D (fp32): outputs max abs diff {c['max_abs_diff']:.2g}; "
            f"speedup whole model {show_ratio(c['whole_model_speedup'])}, encoder alone "
            f"{show_ratio(c['encoder_speedup'])}, first conv block alone "
            f"{show_ratio(c['conv_block_speedup'])}"
        )
        print(tdsconv_verdict(c))


TARGET = 1.5  # our TDSConv training step over the reference formulation's


def tdsconv_verdict(c: dict[str, Any]) -> str:
    """Met, or how far and why: the step's FLOPs against this core's peaks (bench/roofline.py)."""
    whole = c["whole_model_speedup"]
    if whole is None:
        return "TDSConv target: no ratio (a time was not positive)"
    verdict = "met" if whole >= TARGET else f"missed: ours {whole:.3f}x"
    return f"TDSConv target >= {TARGET}x (whole model): {verdict}; {explain(c['roofline'], TARGET)}"


def get_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="keyscribe bench train_throughput", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--steps", type=int, default=3, help="timed steps per model (after 1 warm-up)"
    )
    parser.add_argument("--encoders", default=None, help="comma-separated kinds (default: all)")
    parser.add_argument("--batch-size", type=int, default=None, help="default: 32 (2 with --quick)")
    parser.add_argument(
        "--precisions",
        default="fp32,bf16",
        help="comma-separated: fp32, bf16 (bf16-mixed autocast); each encoder in each",
    )
    parser.add_argument(
        "--memory",
        action="store_true",
        help="time each encoder in a forked child and report its peak RSS growth (use --threads 1)",
    )
    add_common_args(parser, threads=None)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = get_args(argv)
    set_threads(args.threads)
    encoders = args.encoders.split(",") if args.encoders else None
    precisions = tuple(args.precisions.split(","))
    if set(precisions) - {"fp32", "bf16"}:
        raise SystemExit(f"--precisions: fp32 and/or bf16, got {args.precisions!r}")
    result = run(args.steps, encoders, args.quick, args.batch_size, args.memory, precisions)
    return emit(result, args.json, print_table)
