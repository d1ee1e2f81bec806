"""What every benchmark shares: the options ``--quick``, ``--threads``, ``--json [PATH]``, the
description of the machine the figures came from, and their output."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

PACKAGE_DIR = Path(__file__).resolve().parents[1]


def add_common_args(parser: argparse.ArgumentParser, threads: int | None) -> None:
    """``--quick``, ``--threads`` (default ``threads``; None: torch's) and ``--json [PATH]``."""
    parser.add_argument("--quick", action="store_true", help="tiny sizes (the test suite's)")
    parser.add_argument(
        "--threads",
        type=int,
        default=threads,
        help=f"torch threads (default: {threads or 'torch'})",
    )
    parser.add_argument(
        "--json",
        type=Path,
        nargs="?",
        const=Path("-"),
        default=None,
        metavar="PATH",
        help="also write the figures as JSON to PATH; without PATH, print the JSON instead of the table",
    )


def set_threads(threads: int | None) -> None:
    if threads:
        torch.set_num_threads(threads)


# A timing covers at least this much of each clock: one call of a tiny quick-mode case can take
# less than a clock tick, and a zero time would make every figure built on it meaningless.
MIN_TIMED_S = 0.01


@dataclass(frozen=True)
class Timing:
    """Seconds per call of a measured function, by the wall clock and by this process's CPU time
    (with one torch thread: what a dedicated core would take), over ``calls`` calls."""

    wall: float
    cpu: float
    calls: int

    def seconds(self, clock: str) -> float:
        """``clock``: "wall" or "cpu"."""
        return self.wall if clock == "wall" else self.cpu


def measure(
    fn: Callable[[], Any],
    min_calls: int = 1,
    min_seconds: float = MIN_TIMED_S,
    max_calls: int = 100_000,
) -> Timing:
    """Call ``fn`` at least ``min_calls`` times and until both clocks have advanced by
    ``min_seconds`` (at most ``max_calls`` times); the seconds per call."""
    calls = 0
    wall0, cpu0 = time.perf_counter(), time.process_time()
    while True:
        fn()
        calls += 1
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        if calls >= max_calls or (calls >= min_calls and min(wall, cpu) >= min_seconds):
            return Timing(wall / calls, cpu / calls, calls)


def ratio(numerator: float, denominator: float) -> float | None:
    """``numerator / denominator``, or None when the denominator is not a positive time (a
    figure that cannot be computed is reported as missing, never as a crash)."""
    if not denominator > 0 or numerator != numerator:
        return None
    return numerator / denominator


def show_ratio(value: float | None, digits: int = 2) -> str:
    """A ratio for a table: ``1.53x``, or ``-`` where it could not be computed."""
    return "-" if value is None else f"{value:.{digits}f}x"


def _commit() -> str:
    """The checkout's commit, when the package runs from one (else 'unknown')."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=PACKAGE_DIR,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.stdout.strip()


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, Any]:
    """CPU, cores, torch threads, torch, GPU, commit and load average: other processes on the
    machine skew timings, so the load is recorded with them."""
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "platform": platform.platform(),
        "commit": _commit(),
        "load_average": [round(v, 2) for v in os.getloadavg()],
    }


def machine_line(machine: dict[str, Any]) -> str:
    gpu = f", GPU {machine['gpu']}" if machine.get("gpu") else ""
    return (
        f"# {machine['cpu']} ({machine['cores']} cores{gpu}), torch {machine['torch']}, "
        f"{machine['threads']} thread(s), commit {machine['commit']}, "
        f"load average {machine['load_average']}"
    )


def table(headers: list[str], rows: list[list[Any]]) -> str:
    """A Markdown table (numbers right-aligned), readable as printed and pasteable into docs."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    numeric = [
        all(isinstance(row[i], int | float | None) for row in rows) for i in range(len(headers))
    ]

    def line(values: list[str]) -> str:
        padded = [
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ]
        return "| " + " | ".join(padded) + " |"

    rule = ["-" * (w - 1) + ":" if num else "-" * w for w, num in zip(widths, numeric, strict=True)]
    return "\n".join([line(headers), line(rule), *(line(r) for r in cells)])


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"
    return str(value)


def emit(result: dict[str, Any], json_path: Path | None, print_table: Any) -> dict[str, Any]:
    """Print the table, or with a bare ``--json`` the JSON instead; write the JSON to ``json_path``."""
    text = json.dumps(result, indent=2) + "\n"
    if json_path is not None and str(json_path) == "-":
        sys.stdout.write(text)
        return result
    print_table(result)
    if json_path is not None:
        json_path.write_text(text, encoding="utf-8")
    return result


def repo_config(relative: str) -> Path:
    """A config of the source checkout (configs/ is not installed with the package)."""
    path = PACKAGE_DIR.parents[1] / "configs" / relative
    if not path.is_file():
        raise SystemExit(f"{path}: not found; this benchmark needs a keyscribe source checkout")
    return path
