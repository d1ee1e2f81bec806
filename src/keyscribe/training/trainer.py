"""Build a Lightning Trainer for a run directory: checkpoints, logs, progress, resume.

Run directory layout::

    <out>/config.yaml      resolved config
    <out>/best.ckpt        best validation CER so far
    <out>/last.ckpt        end of the latest epoch (``--resume`` continues from it)
    <out>/logs/metrics.csv per-epoch metrics (and TensorBoard events when tensorboard is installed)
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import logging
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import (
    Callback,
    EarlyStopping,
    EMAWeightAveraging,
    LearningRateMonitor,
    ModelCheckpoint,
    RichProgressBar,
)
from lightning.pytorch.loggers import CSVLogger, Logger, TensorBoardLogger

from keyscribe.config import TrainerConfig
from keyscribe.precision import cpu_support
from keyscribe.training.checkpoint_io import AtomicCheckpointIO
from keyscribe.training.regularization import RegularizationWarmup
from keyscribe.training.schedule_clock import ScheduleClock


class _NoAdverts(logging.Filter):
    """Drops Lightning's suggestion to install its cloud logger: it says nothing about the run."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "litlogger" not in record.getMessage()


def quiet_lightning_noise() -> None:
    """Keep run logs to what concerns the run.

    The run directory always holds ``config.yaml`` before the first checkpoint, so Lightning's
    "directory is not empty" warning would fire on every run; the ``LeafSpec`` deprecation comes
    from Lightning's own use of ``torch.utils._pytree``.
    """
    warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
    warnings.filterwarnings("ignore", message=r".*LeafSpec.* is deprecated")
    rank_zero_logger = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    if not any(isinstance(f, _NoAdverts) for f in rank_zero_logger.filters):
        rank_zero_logger.addFilter(_NoAdverts())


log = logging.getLogger(__name__)


def build_trainer(
    cfg: TrainerConfig, run_dir: Path, extra_callbacks: list[Callback] | None = None
) -> L.Trainer:
    run_dir.mkdir(parents=True, exist_ok=True)
    quiet_lightning_noise()
    if cfg.precision.startswith("bf16") and cfg.accelerator in ("auto", "cpu"):
        support = cpu_support()
        if not support.bf16_native and (cfg.accelerator == "cpu" or not torch.cuda.is_available()):
            log.warning("trainer.precision %s: %s", cfg.precision, support.bf16_note())
    clock = ScheduleClock.from_config(cfg)
    best = ModelCheckpoint(
        dirpath=run_dir,
        filename="best",
        monitor="val/CER",
        mode="min",
        save_top_k=1,
        auto_insert_metric_name=False,
        enable_version_counter=False,
    )
    # Lightning only refreshes ``save_last`` when a top-k save happened, so the end-of-epoch state
    # that ``--resume`` needs gets its own callback, overwritten after every epoch.
    last = ModelCheckpoint(
        dirpath=run_dir,
        filename="last",
        save_top_k=1,
        save_on_train_epoch_end=True,
        enable_version_counter=False,
    )
    callbacks: list[Callback] = [best, last, LearningRateMonitor(logging_interval="epoch")]
    if cfg.progress_bar:
        callbacks.append(RichProgressBar(leave=True))
    if cfg.early_stopping_patience > 0:
        # Checked after each validation, not at the train epoch's end: a run resumed from an
        # epoch-end last.ckpt finishes that epoch before any validation has logged val/CER.
        stop = EarlyStopping(
            "val/CER",
            mode="min",
            patience=cfg.early_stopping_patience,
            check_on_train_epoch_end=False,
        )
        callbacks.append(stop)
    if cfg.ema_decay > 0:
        callbacks.append(EMAWeightAveraging(decay=cfg.ema_decay))
    if cfg.regularization_warmup_epochs > 0:
        callbacks.append(RegularizationWarmup(cfg.regularization_warmup_epochs, clock))
    callbacks += extra_callbacks or []
    loggers: list[Logger] = [CSVLogger(run_dir, name="logs", version="")]
    if importlib.util.find_spec("tensorboard") is not None:
        loggers.append(TensorBoardLogger(run_dir, name="logs", version="", default_hp_metric=False))
    kwargs: dict[str, Any] = {}
    if cfg.max_time_minutes:
        kwargs["max_time"] = dt.timedelta(minutes=cfg.max_time_minutes)
    return L.Trainer(
        default_root_dir=run_dir,
        max_epochs=cfg.max_epochs,
        max_steps=cfg.max_steps,
        accelerator=cfg.accelerator,
        devices=cfg.devices,
        strategy=cfg.strategy,
        num_nodes=cfg.num_nodes,
        precision=cfg.precision,  # type: ignore[arg-type]
        gradient_clip_val=cfg.gradient_clip_val,
        log_every_n_steps=cfg.log_every_n_steps,
        check_val_every_n_epoch=cfg.check_val_every_n_epoch,
        limit_train_batches=cfg.limit_train_batches,
        callbacks=callbacks,
        logger=loggers,
        plugins=[AtomicCheckpointIO()],
        enable_progress_bar=cfg.progress_bar,
        enable_model_summary=cfg.progress_bar,
        deterministic="warn",
        use_distributed_sampler=False,  # CTCDataModule shards its own loaders (data/sharding.py)
        **kwargs,
    )
