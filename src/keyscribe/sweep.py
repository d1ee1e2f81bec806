"""Sweeps: train a folder of experiment configs one after the other, resumably, then tabulate.

Each config ``<name>.yaml`` trains in ``<out>/<name>/``. A run with ``results.json`` is finished
and skipped; a run with only ``last.ckpt`` was killed and resumes from it. Works for any domain.
"""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keyscribe.errors import ConfigError
from keyscribe.training.checkpoint_io import atomic_write_text


@dataclass
class SweepOptions:
    """How every run of a sweep deviates from its config file."""

    overrides: list[str] = field(
        default_factory=list
    )  # ``key.path=value``, applied to every config
    epochs_scale: float | None = None  # multiply max_epochs and warmup_epochs (CPU budgets)
    max_minutes: float | None = None  # wall-clock budget per run


def config_files(paths: Sequence[str | Path]) -> list[Path]:
    """YAML files given directly, or found (sorted) directly inside the given folders."""
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml"))
        elif path.is_file():
            files.append(path)
        else:
            raise ConfigError(path, "no such config file or folder")
    if not files:
        raise ConfigError(paths[0] if paths else None, "no .yaml configs found")
    names = [f.stem for f in files]
    if len(set(names)) != len(names):
        raise ConfigError(
            None, f"two configs share a run name: {sorted(n for n in names if names.count(n) > 1)}"
        )
    return files


def load_run_config(path: Path, run_dir: Path, options: SweepOptions) -> Any:
    """The config of one sweep run: file + overrides, run directory, scaled epochs."""
    from keyscribe import api

    overrides = [*options.overrides, f"out_dir={run_dir}"]
    if options.max_minutes is not None:
        overrides.append(f"trainer.max_time_minutes={options.max_minutes}")
    cfg = api.load_config(path, overrides)
    if options.epochs_scale is not None:
        cfg.trainer.max_epochs = max(1, round(cfg.trainer.max_epochs * options.epochs_scale))
        cfg.optim.warmup_epochs = round(cfg.optim.warmup_epochs * options.epochs_scale)
    return cfg


def run_sweep(
    paths: Sequence[str | Path],
    out: str | Path,
    options: SweepOptions | None = None,
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Train every config under ``paths`` into ``out/<name>``; write the report; return its rows."""
    from keyscribe import api, report

    options = options or SweepOptions()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = config_files(paths)
    atomic_write_text(
        out / "sweep.json",
        json.dumps({"configs": [str(f) for f in files], **options.__dict__}, indent=2),
    )
    for i, path in enumerate(files, 1):
        run_dir = out / path.stem
        cfg = load_run_config(path, run_dir, options)  # bad configs stop the sweep before training
        if (run_dir / "results.json").exists():
            log(f"[{i}/{len(files)}] {path.stem}: finished earlier, skipped")
            continue
        resume = (run_dir / "last.ckpt").exists()
        log(
            f"[{i}/{len(files)}] {path.stem}: {'resuming' if resume else 'training'} ({cfg.trainer.max_epochs} epochs)"
        )
        start = time.perf_counter()
        try:
            api.train(cfg, resume=resume)
        except Exception:  # one failing run must not lose the others; the table marks it
            atomic_write_text(run_dir / "error.txt", traceback.format_exc())
            log(f"[{i}/{len(files)}] {path.stem}: FAILED (see {run_dir / 'error.txt'})")
            continue
        (run_dir / "error.txt").unlink(missing_ok=True)
        log(f"[{i}/{len(files)}] {path.stem}: done in {time.perf_counter() - start:.0f} s")
    return report.write_report(out, [out / f.stem for f in files], options.epochs_scale)
