"""trainer.schedule_clock: wall — the learning-rate cosine and the regularisation warm-up read the
share of the time budget spent, and a resumed run continues the curve where the killed one left
it."""

from __future__ import annotations

import csv
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from lightning.pytorch.callbacks import Timer
from torch import nn

from keyscribe import api
from keyscribe.config import TrainerConfig
from keyscribe.errors import ConfigError
from keyscribe.training.regularization import RegularizationWarmup
from keyscribe.training.schedule_clock import ScheduleClock


def fake_trainer(elapsed_s: float, epoch: int = 3) -> SimpleNamespace:
    timer = Timer(duration={"seconds": 100})
    timer.load_state_dict({"time_elapsed": {"train": elapsed_s}})  # as a resumed run has it
    return SimpleNamespace(
        callbacks=[timer],
        current_epoch=epoch,
        datamodule=None,
        strategy=SimpleNamespace(broadcast=lambda value, src: value),
    )


def test_the_wall_clock_maps_the_budget_spent_onto_the_schedules_epochs() -> None:
    wall = ScheduleClock.from_config(
        TrainerConfig(max_epochs=40, max_time_minutes=100 / 60, schedule_clock="wall")
    )
    assert wall.on_wall_clock and wall.budget_seconds == pytest.approx(100)
    assert wall.epoch(fake_trainer(25)) == pytest.approx(10.0)  # a quarter of 100 s: 10 of 40
    assert wall.epoch(fake_trainer(250)) == 40.0  # past the budget: the schedule's end
    assert wall.epoch(None) == 0.0
    model = nn.Dropout(0.2)
    warmup = RegularizationWarmup(epochs=20, clock=wall)
    warmup.on_train_start(fake_trainer(0), model)  # type: ignore[arg-type]
    warmup.on_train_epoch_start(fake_trainer(25, epoch=1), model)  # type: ignore[arg-type]
    assert model.p == pytest.approx(0.1)  # 10 of the 20 warm-up epochs, by the clock
    counter = ScheduleClock.from_config(TrainerConfig(max_epochs=40, max_time_minutes=1))
    assert not counter.on_wall_clock and counter.epoch(fake_trainer(25, epoch=7)) == 7.0


def test_the_wall_clock_needs_a_budget_and_a_known_name() -> None:
    with pytest.raises(ConfigError, match="needs trainer.max_time_minutes"):
        TrainerConfig(schedule_clock="wall")
    with pytest.raises(ConfigError, match="epochs or wall"):
        TrainerConfig(schedule_clock="steps", max_time_minutes=1)


def tiny_config(lines_dir: Path, run: Path, seconds: float) -> api.ExperimentConfig:
    return api.config_from_tree(
        {
            "domain": "htr",
            "seed": 1,
            "out_dir": str(run),
            "data": {"height": 32, "batch_size": 5, "train": str(lines_dir), "val": str(lines_dir)},
            "model": {
                "frontend": {"kind": "puigcerver", "channels": [4, 4, 8, 8, 8], "dropout": 0.2},
                "encoder": {"kind": "lstm", "hidden_size": 8, "num_layers": 2, "dropout": 0.3},
            },
            "optim": {"lr": 1e-2, "scheduler": "warmup_cosine", "warmup_epochs": 0},
            "trainer": {
                "max_epochs": 1000,  # the schedule's unit, above what the budget holds
                "max_time_minutes": seconds / 60,
                "schedule_clock": "wall",
                "regularization_warmup_epochs": 100,
                "early_stopping_patience": 0,
                "progress_bar": False,
            },
        }
    )


def learning_rates(run: Path) -> list[tuple[int, float]]:
    """(step, learning rate) at each epoch's start, from the run's metrics.csv."""
    with open(run / "logs" / "metrics.csv", newline="") as f:
        rows = csv.DictReader(f)
        return [(int(r["step"]), float(r["lr-Adam"])) for r in rows if r.get("lr-Adam")]


def test_a_run_follows_the_clock_and_resumes_on_its_curve(lines_dir: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    first = api.train(tiny_config(lines_dir, run, seconds=4))
    assert first["epochs"] < 1000  # the clock stopped it
    rates = [lr for _, lr in learning_rates(run)]
    assert rates[0] == pytest.approx(1e-2) and rates == sorted(rates, reverse=True)
    last = torch.load(run / "last.ckpt", weights_only=False)
    assert last["callbacks"]["Timer"]["time_elapsed"]["train"] >= 4
    assert last["optimizer_states"][0]["param_groups"][0]["lr"] < 1e-3  # the budget's end
    # Doubling the budget and resuming: the cosine goes on from its middle (lr / 2), not the top.
    second = api.train(tiny_config(lines_dir, run, seconds=8), resume=True)
    assert second["steps"] > first["steps"]
    resumed = [lr for step, lr in learning_rates(run) if step > first["steps"] + 1]
    assert resumed and 0.1e-2 < resumed[0] < 0.6e-2 and resumed[-1] < resumed[0]
