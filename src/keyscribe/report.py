"""Result tables (CSV, Markdown) and loss / CER plots from run directories, for any domain.

A run directory holds ``config.yaml``, ``results.json`` (when finished) and ``logs/metrics.csv``
(Lightning's CSVLogger: one row per logged step or epoch, columns such as ``epoch``,
``train/loss_epoch``, ``val/loss``, ``train/CER``, ``val/CER``).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from keyscribe.atomic import atomic_write_bytes, atomic_write_text

COLUMNS = (
    "run",
    "description",
    "status",
    "epochs",
    "max_epochs",
    "steps",
    "parameters",
    "train_cer",
    "val_cer",
    "test_cer",
    "best_val_loss",
    "wall_time_s",
    "val_cer_lm",
    "test_cer_lm",
)
CURVES = {"loss": ("train/loss_epoch", "val/loss"), "CER (%)": ("train/CER", "val/CER")}


def read_metrics(path: Path) -> dict[str, list[tuple[int, float]]]:
    """logs/metrics.csv -> {column: [(epoch, value), ...]} for every non-empty cell."""
    curves: dict[str, list[tuple[int, float]]] = {}
    if not path.is_file():
        return curves
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if not row.get("epoch"):
                continue
            epoch = int(float(row["epoch"]))
            for key, value in row.items():
                if key not in ("epoch", "step") and value not in ("", None):
                    curves.setdefault(key, []).append((epoch, float(value)))
    return curves


def run_row(run_dir: Path) -> dict[str, Any]:
    """One table row from a run directory (finished, interrupted, failed or not started)."""
    config_path = run_dir / "config.yaml"
    config = (
        yaml.safe_load(config_path.read_text(encoding="utf-8")) if config_path.is_file() else {}
    )
    results_path = run_dir / "results.json"
    results = json.loads(results_path.read_text(encoding="utf-8")) if results_path.is_file() else {}
    status = (
        "done"
        if results
        else "failed"
        if (run_dir / "error.txt").exists()
        else "partial"
        if (run_dir / "last.ckpt").exists()
        else "pending"
    )
    wall = results.get("train_seconds")
    val_loss = [v for _, v in read_metrics(run_dir / "logs" / "metrics.csv").get("val/loss", [])]
    return {
        "run": run_dir.name,
        "description": (config or {}).get("description", ""),
        "status": status,
        "epochs": results.get("epochs"),
        "steps": results.get("steps"),
        "max_epochs": ((config or {}).get("trainer") or {}).get("max_epochs"),
        "parameters": results.get("parameters"),
        "train_cer": results.get("train_cer"),
        "val_cer": results.get("val_cer"),
        "test_cer": results.get("test_cer"),
        "best_val_loss": min(val_loss) if val_loss else None,
        "wall_time_s": wall,
        "val_cer_lm": results.get("val_cer_lm"),  # beam search + a character LM (sweep --lm)
        "test_cer_lm": results.get("test_cer_lm"),
    }


def _pyplot() -> Any:
    """matplotlib.pyplot on the file-only Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save_png(fig: Any, png: Path) -> None:
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    _pyplot().close(fig)
    atomic_write_bytes(png, buffer.getvalue())


def plot_run(run_dir: Path, png: Path) -> bool:
    """Loss and CER per epoch of one run (train and validation) -> PNG; False without metrics."""
    curves = read_metrics(run_dir / "logs" / "metrics.csv")
    if not any(key in curves for keys in CURVES.values() for key in keys):
        return False
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, (ylabel, keys) in zip(axes, CURVES.items(), strict=True):
        for key in keys:
            if key in curves:
                epochs, values = zip(*curves[key], strict=True)
                ax.plot(epochs, values, marker="." if len(epochs) < 40 else None, label=key)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(run_dir.name)
    _save_png(fig, png)
    return True


def plot_comparison(run_dirs: Sequence[Path], png: Path, key: str = "val/CER") -> bool:
    """One curve of ``key`` per run on shared axes -> PNG; False when no run logged it."""
    series = {d.name: read_metrics(d / "logs" / "metrics.csv").get(key, []) for d in run_dirs}
    series = {name: points for name, points in series.items() if points}
    if not series:
        return False
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, points in series.items():
        epochs, values = zip(*points, strict=True)
        ax.plot(epochs, values, label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel(key)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    _save_png(fig, png)
    return True


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value).replace("|", "\\|")


def markdown_table(rows: Sequence[dict[str, Any]], epochs_scale: float | None = None) -> str:
    """The paper's columns (train / val / test CER, epochs, parameters) plus the best validation
    CTC loss (it keeps falling while CER is still 100 %, as in short CPU runs) and wall time."""
    note = (
        f"Epochs scaled by {epochs_scale:g} from each config's `trainer.max_epochs` (CPU budget); "
        "the paper's figures come from full-length training."
        if epochs_scale is not None
        else "Epochs as in each config."
    )
    head = (
        "| run | description | status | epochs | steps | parameters | train CER (%) | val CER (%) "
        "| test CER (%) | best val loss | wall time (s) |"
    )
    lines = [note, "", head, "|" + "---|" * 11]
    for r in rows:
        cells = [_cell(r[k]) for k in ("run", "description", "status")]
        cells.append(f"{_cell(r['epochs'])} / {_cell(r['max_epochs'])}")
        cells.append(_cell(r["steps"]))
        cells += [_cell(r[k]) for k in COLUMNS[COLUMNS.index("parameters") : COLUMNS.index("val_cer_lm")]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def decoding_table(rows: Sequence[dict[str, Any]]) -> str:
    """Validation and test CER per run, greedy and beam search + LM, and their mean over the
    runs that have them (the layout of the benchmark's per-user results table)."""
    keys = ("val_cer", "val_cer_lm", "test_cer", "test_cer_lm")
    lines = [
        "| run | val CER greedy (%) | val CER beam + LM (%) | test CER greedy (%) | test CER beam + LM (%) |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append("| " + " | ".join([_cell(r["run"]), *(_cell(r[k]) for k in keys)]) + " |")
    means = []
    for k in keys:
        values = [r[k] for r in rows if r[k] is not None]
        means.append(_cell(sum(values) / len(values) if len(values) == len(rows) else None))
    lines.append("| **mean** | " + " | ".join(means) + " |")
    return "\n".join(lines) + "\n"


def write_report(
    out: Path, run_dirs: Sequence[Path], epochs_scale: float | None = None
) -> list[dict[str, Any]]:
    """``out/results.csv``, ``out/results.md`` and ``out/plots/*.png`` for ``run_dirs``."""
    rows = [run_row(d) for d in run_dirs]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(out / "results.csv", buffer.getvalue())
    plots = []
    for d in run_dirs:
        if plot_run(d, out / "plots" / f"{d.name}.png"):
            plots.append(f"![{d.name}](plots/{d.name}.png)")
    if plot_comparison(run_dirs, out / "plots" / "val_cer.png"):
        plots.insert(0, "![validation CER of every run](plots/val_cer.png)")
    decoding = (
        "\n## Greedy and beam search + LM\n\n" + decoding_table(rows)
        if any(r["test_cer_lm"] is not None for r in rows)
        else ""
    )
    text = (
        f"# {out.name}\n\n"
        + markdown_table(rows, epochs_scale)
        + decoding
        + ("\n" + "\n\n".join(plots) + "\n" if plots else "")
    )
    atomic_write_text(out / "results.md", text)
    return rows
