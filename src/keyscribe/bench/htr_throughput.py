"""HTR throughput: training lines/s (forward + CTC loss + backward + Adam step on real width-bucketed
batches, augmentation included) and transcription lines/s (greedy decoding of the test split in
width-sorted batches), for one experiment config.

    keyscribe bench htr_throughput configs/htr/budget/peraire-35min.yaml [--steps 30] [--threads 2]
        [--precision fp32|bf16] [--set key=value ...] [--json [PATH]]
    keyscribe bench htr_throughput --quick   # 12 synthetic lines, a tiny model (the test suite's)

On a machine shared with other jobs, wall-clock rates measure the sharing; lines per CPU-second
(process time, single thread) are printed beside them.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from keyscribe.bench.harness import (
    MIN_TIMED_S,
    add_common_args,
    emit,
    machine_info,
    machine_line,
    measure,
    ratio,
    repo_config,
    set_threads,
    table,
)
from keyscribe.domain import get_domain
from keyscribe.precision import cpu_support

# --quick: the budget recipe's layout with 4-channel convolutions on 12 synthetic lines
QUICK = [
    "model.frontend.channels=[4,4,4,4,4]",
    "model.encoder.hidden_size=8",
    "model.encoder.num_layers=1",
    "data.batch_size=4",
    "data.augment.enabled=false",
]


def run(
    config: str | Path, steps: int, warmup: int, overrides: list[str], precision: str = "fp32"
) -> dict[str, Any]:
    from keyscribe import api, builders

    torch.manual_seed(0)
    cfg = api.load_config(config, overrides)
    spec = get_domain(cfg.domain)
    alphabet = spec.alphabet(cfg)
    model = builders.build_model(cfg, alphabet)
    datasets = spec.datasets(cfg, alphabet)
    dm = builders.build_datamodule(cfg, alphabet)
    dm.datasets = datasets
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.optim.lr)
    model.train()
    lines, seconds, cpu_seconds, step = 0, 0.0, 0.0, 0
    loader = iter(dm.train_dataloader())
    # at least ``steps`` timed steps, and more until both clocks have counted MIN_TIMED_S
    while step < warmup + steps or min(seconds, cpu_seconds) < MIN_TIMED_S:
        try:
            batch = next(loader)
        except StopIteration:
            loader = iter(dm.train_dataloader())
            batch = next(loader)
        start, cpu_start = time.perf_counter(), time.process_time()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            log_probs, lengths = model(batch.inputs, batch.input_lengths)  # fp32 log-probs
        loss = F.ctc_loss(
            log_probs.transpose(0, 1),
            batch.targets,
            lengths,
            batch.target_lengths,
            blank=alphabet.blank,
            zero_infinity=True,
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step >= warmup:
            seconds += time.perf_counter() - start
            cpu_seconds += time.process_time() - cpu_start
            lines += len(batch)
        step += 1
    recognizer = api.Recognizer(model.eval(), alphabet, cfg).use_precision(precision)
    test: Any = datasets.get("test") or datasets["val"]
    decoding = measure(lambda: recognizer.results(test, batch_size=cfg.data.batch_size))
    return {
        "config": str(config),
        "overrides": overrides,
        "precision": precision,
        "cpu_support": cpu_support().bf16_note(),
        "steps": step - warmup,
        "machine": machine_info(),
        "train_lines_per_s": ratio(lines, seconds),
        "train_lines_per_cpu_s": ratio(lines, cpu_seconds),
        "transcribe_lines_per_s": ratio(len(test), decoding.wall),
        "transcribe_lines_per_cpu_s": ratio(len(test), decoding.cpu),
        "parameters": api.count_parameters(model),
    }


def print_table(figures: dict[str, Any]) -> None:
    print(machine_line(figures["machine"]))
    print(f"# {figures['config']} {' '.join(figures['overrides'])}")
    print(
        f"# {figures['parameters']:,} parameters, {figures['steps']} timed training steps, "
        f"{figures['precision']} ({figures['cpu_support']})"
    )
    # lines per CPU-second (process time) stay meaningful on a shared machine
    rows = [
        ["training", figures["train_lines_per_s"], figures["train_lines_per_cpu_s"]],
        ["transcription", figures["transcribe_lines_per_s"], figures["transcribe_lines_per_cpu_s"]],
    ]
    print(table(["", "lines/s (wall)", "lines/CPU-s"], rows))


def get_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="keyscribe bench htr_throughput",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("config", nargs="?", help="an HTR experiment config")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--set", dest="sets", action="append", default=[], help="key=value")
    parser.add_argument(
        "--precision",
        choices=["fp32", "bf16"],
        default="fp32",
        help="bf16: training under bf16 autocast (trainer.precision: bf16-mixed), bf16 inference",
    )
    add_common_args(parser, threads=2)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = get_args(argv)
    set_threads(args.threads)
    if not args.quick:
        if args.config is None:
            raise SystemExit("give an HTR config, or --quick")
        figures = run(args.config, args.steps, args.warmup, args.sets, args.precision)
        return emit(figures, args.json, print_table)
    from keyscribe.htr.synth import synthesize_lines

    with tempfile.TemporaryDirectory(prefix="keyscribe-htr-bench-") as tmp:
        synthesize_lines(Path(tmp), 12, seed=0, height=32, fetch=False, log=lambda _: None)
        config = args.config or repo_config("htr/budget/peraire-35min.yaml")
        figures = run(config, 2, 1, [*QUICK, f"data.root={tmp}", *args.sets], args.precision)
    return emit(figures, args.json, print_table)
