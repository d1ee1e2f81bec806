"""``train``: one experiment config -> a run directory (checkpoints, config, logs, results).

A run directory holds ``results.json`` only once its run has ended, so resuming such a run with
the config it ran with changes nothing: it says so and returns the results it has. Resuming it
with other limits (more epochs or steps) continues training from ``last.ckpt``.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import torch

from keyscribe import builders
from keyscribe.atomic import atomic_write_text, remove_stale_temporaries
from keyscribe.checkpoints import initialise_from, load_model
from keyscribe.config import ExperimentConfig, to_plain, to_yaml
from keyscribe.domain import get_domain
from keyscribe.errors import DataError
from keyscribe.evaluation import evaluate_dataset
from keyscribe.model_info import count_parameters

log = logging.getLogger(__name__)


def _finished(run_dir: Path, cfg: ExperimentConfig) -> dict[str, Any] | None:
    """The results of a run that has ended in ``run_dir`` with this very config, or None."""
    path, config = run_dir / "results.json", run_dir / "config.yaml"
    if not path.is_file() or not config.is_file():
        return None
    if config.read_text(encoding="utf-8") != to_yaml(cfg):
        return None
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(
            path, f"unreadable results of an ended run ({exc.__class__.__name__})"
        ) from None
    return results if isinstance(results, dict) else None


def train(
    cfg: ExperimentConfig,
    resume: bool = False,
    *,
    device: str = "cpu",
    batch_size: int | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Train per ``cfg`` in ``cfg.run_dir``; returns best validation and test metrics.

    With ``resume``, continues from ``<run_dir>/last.ckpt`` when it exists; a run that has ended
    (its ``results.json`` written) with the same config stays as it is and its results come back.
    The scoring after training runs on ``device`` ("cpu", "cuda" or "auto"), ``batch_size`` items
    per call, with a progress bar when ``progress`` (training itself follows
    ``trainer.accelerator`` / ``devices``).
    """
    import lightning as L
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    from keyscribe.data.sampling import EpochSeeds
    from keyscribe.devices import resolve_device
    from keyscribe.training.schedule_clock import ScheduleClock
    from keyscribe.training.system import CTCSystem
    from keyscribe.training.trainer import build_trainer

    resolve_device(device)  # a GPU that is not there stops the run before it trains, not after
    run_dir = cfg.run_dir
    if resume and (done := _finished(run_dir, cfg)) is not None:
        log.info("%s: this run is complete; nothing to resume (results.json kept)", run_dir)
        return {**done, "already_complete": True}
    threads = cfg.trainer.num_threads
    workers = getattr(cfg.data, "num_workers", 0)
    if threads == 0 and workers > 0:
        # Loader processes need cores too: with more compute threads than free cores, OpenMP's
        # spin-waiting made quick-start steps ~5x slower on 2 cores.
        threads = max(1, (os.cpu_count() or 1) - workers)
    if threads > 0:
        torch.set_num_threads(threads)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    spec = get_domain(cfg.domain)
    alphabet = spec.alphabet(cfg)
    model = builders.build_model(cfg, alphabet)
    init = initialise_from(model, alphabet, cfg.init_from) if cfg.init_from else None
    datamodule = builders.build_datamodule(cfg, alphabet)
    datamodule.setup()
    run_dir.mkdir(parents=True, exist_ok=True)
    # under torchrun or srun every rank starts here at once: only rank 0 may take another
    # writer's temporary file for a stale one (Lightning sets the rank from RANK / LOCAL_RANK /
    # SLURM_PROCID)
    rank = getattr(rank_zero_only, "rank", 0)
    stale_files = remove_stale_temporaries(run_dir) if rank == 0 else []
    for stale in stale_files:  # left by a writer killed mid-write
        log.info("removed %s (a write interrupted by a killed run)", stale)
    earlier = [name for name in ("best.ckpt", "last.ckpt") if (run_dir / name).exists()]
    if earlier and not resume and rank == 0:
        log.warning(
            "%s: holds %s of an earlier run; this run starts over and replaces them"
            " (--resume continues that run instead)",
            run_dir,
            " and ".join(earlier),
        )
    if rank == 0:  # results.json marks an ended run: this one has not ended yet
        (run_dir / "results.json").unlink(missing_ok=True)
    atomic_write_text(run_dir / "config.yaml", to_yaml(cfg))
    system = CTCSystem(
        model,
        alphabet,
        cfg.optim,
        ScheduleClock.from_config(cfg.trainer),
        checkpoint_meta={"config": to_plain(cfg), "domain": cfg.domain, "format": 1},
        shortcut_weight=cfg.model.shortcut.weight,  # unused when the model has no shortcut
    )
    trainer = build_trainer(cfg.trainer, run_dir, [EpochSeeds(cfg.seed)])
    last = run_dir / "last.ckpt"
    ckpt_path = str(last) if resume and last.exists() else None
    start = time.perf_counter()
    trainer.fit(system, datamodule=datamodule, ckpt_path=ckpt_path)
    wall = time.perf_counter() - start
    best = run_dir / "best.ckpt"
    results: dict[str, Any] = {
        "run_dir": str(run_dir),
        "epochs": trainer.current_epoch,
        "steps": trainer.global_step,
        "train_seconds": round(wall, 1),
        "parameters": count_parameters(model),
        "best_checkpoint": str(best) if best.exists() else None,
    }
    if init is not None:
        results["init_from"] = {"checkpoint": cfg.init_from, **init}
    train_cer = trainer.callback_metrics.get("train/CER")
    results["train_cer"] = round(float(train_cer), 4) if train_cer is not None else None
    if not trainer.is_global_zero:  # DDP: rank 0 alone scores the run and writes results.json
        return {**results, "global_rank": trainer.global_rank}
    # A run stopped by its time budget before its first validation has no best.ckpt: score the
    # last weights instead, and say so.
    scored = best if best.exists() else run_dir / "last.ckpt"
    if scored.exists():
        results["scored_checkpoint"] = str(scored)
        recognizer = load_model(scored).use_device(device).use_progress(progress)
        for split in ("val", "test"):
            if split in datamodule.datasets:
                report = evaluate_dataset(
                    recognizer, datamodule.datasets[split], split, batch_size=batch_size
                )
                results[f"{split}_cer"] = report.cer
                results[f"{split}_wer"] = report.wer
    atomic_write_text(run_dir / "results.json", json.dumps(results, indent=2))
    return results
