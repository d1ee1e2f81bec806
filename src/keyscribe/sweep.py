"""Sweeps: train a folder of experiment configs, resumably, then tabulate.

Each config ``<name>.yaml`` trains in ``<out>/<name>/``; ``over`` runs each config once per value
of one key (``data.splits`` = the benchmark's eight user split files: ``<out>/user0/`` ...). A run
with ``results.json`` is finished and skipped; a run with only ``last.ckpt`` was killed and
resumes from it. Each finished run is also scored with beam search + a character LM (``lm``), so
the report shows greedy and beam + LM CER per run and their mean. Works for any domain.
Runs train here one after the other, or fan out as one cluster job each through submitit
(``LauncherOptions``): a Slurm job array, or local processes; the report is the same.
"""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from keyscribe.atomic import atomic_write_text
from keyscribe.errors import ConfigError


@dataclass(frozen=True)
class LauncherOptions:
    """Where the runs of a sweep train. ``submitit`` needs the ``cluster`` extra."""

    kind: str = "sequential"  # "sequential" (here, one by one) or "submitit" (a job per run)
    cluster: str | None = None  # submitit: "slurm", "local" (processes here); None: slurm if found
    slurm_partition: str | None = None
    gpus_per_run: int = 0  # > 0: the job gets that many GPUs, one task each, trainer.devices set
    cpus_per_run: int | None = None  # CPU cores per task
    timeout_min: int = 24 * 60  # a job killed at its time limit resumes when the sweep reruns
    max_parallel: int | None = None  # Slurm: at most this many runs of the array at once

    def __post_init__(self) -> None:
        if self.kind not in ("sequential", "submitit"):
            raise ConfigError(
                None, f"launcher must be 'sequential' or 'submitit', got {self.kind!r}"
            )
        if self.cluster not in (None, "slurm", "local", "debug"):
            raise ConfigError(
                None, f"cluster must be 'slurm', 'local' or 'debug', got {self.cluster!r}"
            )
        if self.gpus_per_run < 0 or self.timeout_min <= 0:
            raise ConfigError(None, "gpus per run must be >= 0 and the timeout > 0 minutes")


@dataclass
class SweepOptions:
    """How every run of a sweep deviates from its config file."""

    overrides: list[str] = field(
        default_factory=list
    )  # ``key.path=value``, applied to every config
    epochs_scale: float | None = None  # multiply max_epochs and warmup_epochs (CPU budgets)
    max_minutes: float | None = None  # wall-clock budget per run
    # after training, also score val and test with beam search + this LM ("auto": the domain's
    # default, an ARPA path, or None for greedy only)
    lm: str | None = "auto"


@dataclass(frozen=True)
class SweepRun:
    """One run of a sweep: a config file, its run name, and the overrides that make it this run."""

    config: Path
    name: str
    overrides: tuple[str, ...] = ()


def parse_over(text: str) -> tuple[str, list[str]]:
    """``key.path=v1,v2,...`` -> (key, values)."""
    key, _, values = text.partition("=")
    items = [v.strip() for v in values.split(",") if v.strip()]
    if not key.strip() or not items:
        raise ConfigError(None, f"--over must look like key.path=value1,value2,..., got {text!r}")
    return key.strip(), items


def _value_name(value: str) -> str:
    """A run name for one value: a file's stem (user0.yaml -> user0), else the value itself."""
    name = Path(value).stem if value.endswith((".yaml", ".yml")) else value
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def sweep_runs(files: Sequence[Path], over: tuple[str, list[str]] | None = None) -> list[SweepRun]:
    """The runs of a sweep: one per config, or one per config and value of ``over``."""
    if over is None:
        return [SweepRun(f, f.stem) for f in files]
    key, values = over
    names = [_value_name(v) for v in values]
    if len(set(names)) != len(names):
        raise ConfigError(None, f"--over values must give distinct run names, got {names}")
    return [
        SweepRun(f, name if len(files) == 1 else f"{f.stem}-{name}", (f"{key}={value}",))
        for f in files
        for name, value in zip(names, values, strict=True)
    ]


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


def train_run(path: Path, run_dir: Path, options: SweepOptions) -> str:
    """Train one run of a sweep, resuming from ``last.ckpt`` when it exists as the run starts (a
    requeued cluster job continues, it does not restart), then score it with beam search + LM:
    "done" or "failed". A failure is written to ``<run_dir>/error.txt``, and the report marks it."""
    from keyscribe import api

    cfg = load_run_config(path, run_dir, options)
    try:
        if not (run_dir / "results.json").exists():
            api.train(cfg, resume=(run_dir / "last.ckpt").exists())
        if options.lm:
            score_with_lm(cfg, run_dir, options.lm)
    except Exception:  # one failing run must not lose the others; the table marks it
        atomic_write_text(run_dir / "error.txt", traceback.format_exc())
        return "failed"
    (run_dir / "error.txt").unlink(missing_ok=True)
    return "done"


def _scored(run_dir: Path, lm: str | None) -> bool:
    """Whether a finished run already has the scores this sweep asks for."""
    if not lm:
        return True
    results = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    return results.get("lm") == lm or not results.get("scored_checkpoint")


def score_with_lm(cfg: Any, run_dir: Path, lm: str) -> None:
    """Add ``val_cer_lm`` / ``test_cer_lm`` (beam search + ``lm``) to a finished run's
    results.json, on the splits its greedy CERs were measured on; done once per run."""
    from keyscribe import api
    from keyscribe.domain import get_domain

    if _scored(run_dir, lm):
        return
    path = run_dir / "results.json"
    results = json.loads(path.read_text(encoding="utf-8"))
    recognizer = api.load_model(results["scored_checkpoint"]).use_decoder("beam", lm)
    datasets = get_domain(cfg.domain).datasets(cfg, recognizer.alphabet)
    for split in ("val", "test"):
        if split in datasets:
            scores = api.evaluate_dataset(recognizer, datasets[split], split)
            results[f"{split}_cer_lm"] = scores.cer
    results["lm"] = lm
    atomic_write_text(path, json.dumps(results, indent=2))


def run_sweep(
    paths: Sequence[str | Path],
    out: str | Path,
    options: SweepOptions | None = None,
    log: Callable[[str], None] = print,
    launcher: LauncherOptions | None = None,
    over: tuple[str, list[str]] | None = None,
) -> list[dict[str, Any]]:
    """Train every config under ``paths`` (once per value of ``over``) into ``out/<run name>``;
    write the report; return its rows."""
    from keyscribe import report

    options = options or SweepOptions()
    launcher = launcher or LauncherOptions()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    runs = sweep_runs(config_files(paths), over)
    atomic_write_text(
        out / "sweep.json",
        json.dumps(
            {"configs": sorted({str(r.config) for r in runs}), "over": over, **options.__dict__},
            indent=2,
        ),
    )
    pending: list[tuple[Path, Path, SweepOptions]] = []
    for i, run in enumerate(runs, 1):
        run_dir = out / run.name
        run_options = replace(options, overrides=[*options.overrides, *run.overrides])
        cfg = load_run_config(run.config, run_dir, run_options)  # bad configs stop the sweep early
        finished = (run_dir / "results.json").exists()
        if finished and _scored(run_dir, options.lm):
            log(f"[{i}/{len(runs)}] {run.name}: finished earlier, skipped")
            continue
        if launcher.kind == "submitit":  # jobs may start elsewhere: absolute paths
            pending.append((run.config.resolve(), run_dir.resolve(), run_options))
            continue
        resume = (run_dir / "last.ckpt").exists()
        what = "scoring" if finished else "resuming" if resume else "training"
        log(f"[{i}/{len(runs)}] {run.name}: {what} ({cfg.trainer.max_epochs} epochs)")
        start = time.perf_counter()
        if train_run(run.config, run_dir, run_options) == "failed":
            log(f"[{i}/{len(runs)}] {run.name}: FAILED (see {run_dir / 'error.txt'})")
            continue
        log(f"[{i}/{len(runs)}] {run.name}: done in {time.perf_counter() - start:.0f} s")
    if pending:
        submit_runs(pending, out, launcher, log)
    return report.write_report(out, [out / r.name for r in runs], options.epochs_scale)


def submit_runs(
    runs: list[tuple[Path, Path, SweepOptions]],
    out: Path,
    launcher: LauncherOptions,
    log: Callable[[str], None],
) -> None:
    """One submitit job per run (a job array on Slurm); wait for all of them. Job logs go to
    ``<out>/submitit/``."""
    try:
        import submitit
    except ImportError:
        raise ConfigError(
            None, "--launcher submitit needs submitit: pip install 'keyscribe[cluster]'"
        ) from None

    gpus = launcher.gpus_per_run
    if gpus:
        runs = [
            (path, run_dir, replace(o, overrides=[*o.overrides, f"trainer.devices={gpus}"]))
            for path, run_dir, o in runs
        ]
    executor = submitit.AutoExecutor(folder=out / "submitit" / "%j", cluster=launcher.cluster)
    parameters: dict[str, Any] = {
        "timeout_min": launcher.timeout_min,
        "name": f"keyscribe-sweep-{out.name}",
    }
    if gpus:
        # one task per GPU: Lightning reads Slurm's task ranks and runs DDP across them
        parameters.update(
            gpus_per_node=gpus, tasks_per_node=gpus if executor.cluster == "slurm" else 1
        )
    if launcher.cpus_per_run is not None:
        parameters["cpus_per_task"] = launcher.cpus_per_run
    if launcher.slurm_partition is not None:
        parameters["slurm_partition"] = launcher.slurm_partition
    if launcher.max_parallel is not None:
        parameters["slurm_array_parallelism"] = launcher.max_parallel
    executor.update_parameters(**parameters)
    with executor.batch():
        jobs = [executor.submit(train_run, path, run_dir, o) for path, run_dir, o in runs]
    names = {job.job_id: run_dir.name for job, (_, run_dir, _) in zip(jobs, runs, strict=True)}
    log(
        f"submitted {len(jobs)} runs to {executor.cluster} ({', '.join(f'{n}: job {j}' for j, n in names.items())})"
    )
    poll_s = 1 if executor.cluster == "local" else 10
    for job in submitit.helpers.as_completed(jobs, poll_frequency=poll_s):
        name, run_dir = names[job.job_id], out / names[job.job_id]
        try:
            status = job.result()
        except Exception as exc:  # killed (time limit, preemption, node failure): resumes on rerun
            atomic_write_text(run_dir / "error.txt", f"job {job.job_id} did not finish: {exc}\n")
            status = "failed"
        where = f" (see {run_dir / 'error.txt'})" if status == "failed" else ""
        log(f"{name}: {status.upper() if status == 'failed' else status}, job {job.job_id}{where}")
