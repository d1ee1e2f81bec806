"""The training report of a run directory or a sweep folder: loss, CER and learning-rate curves
from ``logs/metrics.csv``, the config and ``results.json``; for a sweep, its results table and
the curves of every run overlaid."""

from __future__ import annotations

import bisect
import csv
import json
from pathlib import Path
from typing import Any

from keyscribe.errors import DataError
from keyscribe.report import COLUMNS, run_row

CURVE_POINTS = 2000  # per series; longer logs are thinned evenly (step-level losses)


def is_run_dir(path: Path) -> bool:
    return (path / "config.yaml").is_file() or (path / "logs" / "metrics.csv").is_file()


def sweep_runs(path: Path) -> list[Path]:
    """The run directories directly inside a sweep folder, by name."""
    return sorted(p for p in path.iterdir() if p.is_dir() and is_run_dir(p))


def _thin(points: list[list[float]]) -> list[list[float]]:
    if len(points) <= CURVE_POINTS:
        return points
    step = len(points) / CURVE_POINTS
    return [points[int(i * step)] for i in range(CURVE_POINTS)] + [points[-1]]


def read_curves(path: Path) -> dict[str, list[list[float]]]:
    """``logs/metrics.csv`` -> ``{column: [[epoch, value], ...]}``. Rows logged without an epoch
    (the learning rate at each epoch's start) take the epoch of the first row at or after their
    step, so every curve shares the epoch axis; step-level columns get fractional epochs."""
    if not path.is_file():
        return {}
    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(path, f"unreadable metrics ({exc})") from None
    known = sorted(
        (float(r["step"]), float(r["epoch"])) for r in rows if r.get("step") and r.get("epoch")
    )
    steps = [s for s, _ in known]
    per_epoch: dict[float, tuple[float, float]] = {}  # epoch -> (first step, last step)
    for s, e in known:
        first, last = per_epoch.get(e, (s, s))
        per_epoch[e] = (min(first, s), max(last, s))

    def epoch_of(row: dict[str, str]) -> float | None:
        if row.get("epoch"):
            return float(row["epoch"])
        if not row.get("step") or not known:
            return None
        i = bisect.bisect_left(steps, float(row["step"]))
        return known[min(i, len(known) - 1)][1]

    curves: dict[str, list[list[float]]] = {}
    for row in rows:
        epoch = epoch_of(row)
        if epoch is None:
            continue
        for key, value in row.items():
            if key in ("epoch", "step") or value in ("", None):
                continue
            x = epoch
            if key.endswith("_step") and row.get("step"):  # place step losses inside their epoch
                first, last = per_epoch.get(epoch, (0.0, 0.0))
                x = epoch + (float(row["step"]) - first) / max(1.0, last - first + 1)
            try:
                curves.setdefault(key, []).append([round(x, 4), float(value)])
            except ValueError:
                raise DataError(path, f"column {key}: not a number: {value!r}") from None
    return {key: _thin(points) for key, points in curves.items()}


def run_data(run_dir: Path) -> dict[str, Any]:
    config = run_dir / "config.yaml"
    results = run_dir / "results.json"
    try:
        result_obj = json.loads(results.read_text(encoding="utf-8")) if results.is_file() else None
    except (OSError, ValueError) as exc:
        raise DataError(results, f"unreadable results ({exc})") from None
    row = run_row(run_dir)
    curves = read_curves(run_dir / "logs" / "metrics.csv")
    if row["epochs"] is None and curves:  # not finished: how far its log goes
        row["epochs"] = int(max(x for points in curves.values() for x, _ in points)) + 1
    if row["val_cer"] is None and curves.get("val/CER"):
        row["val_cer"] = round(min(v for _, v in curves["val/CER"]), 4)  # the best so far
    return {
        "name": run_dir.name,
        "path": str(run_dir),
        "row": row,
        "config": config.read_text(encoding="utf-8") if config.is_file() else None,
        "results": result_obj,
        "curves": curves,
    }


def report_data(path: Path) -> dict[str, Any]:
    """A run directory or a sweep folder -> what assets/runs.js draws."""
    path = Path(path)
    if is_run_dir(path):
        return {"kind": "run", "name": path.name, "path": str(path), "runs": [run_data(path)]}
    runs = sweep_runs(path)
    if not runs:
        raise DataError(
            path, "not a run directory (config.yaml, logs/metrics.csv) or a sweep of them"
        )
    return {
        "kind": "sweep",
        "name": path.name,
        "path": str(path),
        "columns": list(COLUMNS),
        "runs": [run_data(r) for r in runs],
    }
