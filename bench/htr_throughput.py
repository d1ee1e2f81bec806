"""HTR throughput: training lines/s (forward + CTC loss + backward + Adam step on real width-bucketed
batches, augmentation included) and transcription lines/s (greedy decoding of the test split in
width-sorted batches), for one experiment config. Prints one line per figure.

    .venv/bin/python bench/htr_throughput.py configs/htr/budget/peraire-35min.yaml [--steps 30] [--threads 2]

On a machine shared with other jobs, wall-clock rates measure the sharing; lines per CPU-second
(process time, single thread) are printed beside them.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import time

import torch
import torch.nn.functional as F


def run(
    config: str, steps: int, warmup: int, threads: int, overrides: list[str]
) -> dict[str, float]:
    from keyscribe import api, builders

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cfg = api.load_config(config, overrides)
    spec = builders.domain_spec(cfg.domain)
    alphabet = spec.alphabet(cfg)
    model = builders.build_model(cfg, alphabet)
    datasets = spec.datasets(cfg, alphabet)
    dm = builders.build_datamodule(cfg, alphabet)
    dm.datasets = datasets
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.optim.lr)
    model.train()
    lines, seconds, cpu_seconds = 0, 0.0, 0.0
    loader = iter(dm.train_dataloader())
    for step in range(warmup + steps):
        try:
            batch = next(loader)
        except StopIteration:
            loader = iter(dm.train_dataloader())
            batch = next(loader)
        start, cpu_start = time.perf_counter(), time.process_time()
        log_probs, lengths = model(batch.inputs, batch.input_lengths)
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
    recognizer = api.Recognizer(model.eval(), alphabet, cfg)
    test = datasets.get("test") or datasets["val"]
    start, cpu_start = time.perf_counter(), time.process_time()
    recognizer.results(test, batch_size=cfg.data.batch_size)
    decode_seconds, decode_cpu = time.perf_counter() - start, time.process_time() - cpu_start
    return {
        "train_lines_per_s": lines / seconds,
        "train_lines_per_cpu_s": lines / cpu_seconds,
        "transcribe_lines_per_s": len(test) / decode_seconds,
        "transcribe_lines_per_cpu_s": len(test) / decode_cpu,
        "parameters": api.count_parameters(model),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--set", dest="sets", action="append", default=[])
    args = parser.parse_args()
    figures = run(args.config, args.steps, args.warmup, args.threads, args.sets)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    print(
        f"# {args.config} {' '.join(args.sets)} | torch {torch.__version__} | {platform.processor() or platform.machine()} "
        f"| {args.threads} threads | load average {os.getloadavg()[0]:.1f} | commit {commit}"
    )
    print(f"parameters: {figures['parameters']:,}")
    # lines per CPU-second (process time) stay meaningful on a shared machine; x2 cores is the
    # estimate for a dedicated 2-core machine, if the work parallelises across both
    print(
        f"training: {figures['train_lines_per_s']:.1f} lines/s wall, {figures['train_lines_per_cpu_s']:.1f} lines per CPU-second"
    )
    print(
        f"transcription: {figures['transcribe_lines_per_s']:.1f} lines/s wall, {figures['transcribe_lines_per_cpu_s']:.1f} lines per CPU-second"
    )


if __name__ == "__main__":
    main()
