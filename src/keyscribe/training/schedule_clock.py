"""The clock that schedules read: the epoch counter, or the share of a wall-clock budget spent.

The learning-rate schedule and the regularisation warm-up are written in epochs. A budget recipe
sized in epochs ends minutes before its budget on a fast machine and is cut off mid-schedule on a
slow one (this machine's pace varies ~20 % from hour to hour). With ``trainer.schedule_clock:
wall`` the schedules instead read ``max_epochs * elapsed / max_time``: the same curve, stretched
over the budget on any machine. ``max_epochs`` still stops a run (``--max-epochs`` keeps its
meaning), so a wall-clock config sets it above what its budget holds and lets the clock stop the
run. The price is that two runs of one config no longer see the same schedule.
"""

from __future__ import annotations

from dataclasses import dataclass

import lightning as L
from lightning.pytorch.callbacks import Timer

from keyscribe.config import TrainerConfig


@dataclass(frozen=True)
class ScheduleClock:
    """``max_epochs``: the schedules' length in epochs; ``budget_seconds``: set, the schedules
    run on the wall clock over that many seconds of training (validation included)."""

    max_epochs: int
    budget_seconds: float | None = None

    @classmethod
    def from_config(cls, cfg: TrainerConfig) -> ScheduleClock:
        if cfg.schedule_clock == "wall":
            assert cfg.max_time_minutes  # TrainerConfig checks it
            return cls(cfg.max_epochs, cfg.max_time_minutes * 60)
        return cls(cfg.max_epochs)

    @property
    def on_wall_clock(self) -> bool:
        return self.budget_seconds is not None

    def epoch(self, trainer: L.Trainer | None) -> float:
        """Where the run stands, in (possibly fractional) epochs of the schedule.

        On the wall clock this is read from Lightning's ``Timer``, whose elapsed time is saved in
        every checkpoint, so a resumed run continues the same curve; rank 0's reading is sent to
        every rank so that all of them apply one learning rate."""
        if trainer is None:  # before fit (the schedule's first value)
            return 0.0
        if self.budget_seconds is None:
            return float(trainer.current_epoch)
        callbacks = trainer.callbacks  # type: ignore[attr-defined]
        timer = next(cb for cb in callbacks if isinstance(cb, Timer))
        elapsed = float(trainer.strategy.broadcast(timer.time_elapsed("train"), src=0))
        return self.max_epochs * min(1.0, elapsed / self.budget_seconds)
