"""trainer.ema_decay: checkpoints hold the moving average of the weights (what validation scored
and what ``load_model`` serves), keep the raw weights for resuming, and a resumed run keeps
averaging where it stopped; resuming also works with early stopping on."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from keyscribe import api
from keyscribe.errors import ConfigError

TREE = {
    "domain": "htr",
    "seed": 1,
    "data": {"height": 32, "batch_size": 5, "augment": {"enabled": False}},
    "model": {
        "frontend": {"kind": "puigcerver", "channels": [4, 4, 8, 8, 8], "dropout": 0.0},
        "encoder": {"kind": "lstm", "hidden_size": 8, "num_layers": 1, "dropout": 0.0},
    },
    "optim": {"lr": 1e-2, "scheduler": "constant"},
    "trainer": {"max_epochs": 100, "progress_bar": False},
}


def config(lines_dir: Path, run: Path, steps: int, decay: float = 0.9) -> api.ExperimentConfig:
    tree = {
        **TREE,
        "data": {**TREE["data"], "train": str(lines_dir), "val": str(lines_dir)},
        "trainer": {**TREE["trainer"], "max_steps": steps, "ema_decay": decay},
        "out_dir": str(run),
    }
    return api.config_from_tree(tree)


def test_checkpoints_hold_the_average_and_resume_keeps_averaging(
    lines_dir: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    api.train(config(lines_dir, run, steps=6))  # 10 lines in batches of 5: 2 updates per epoch
    ckpt = torch.load(run / "last.ckpt", weights_only=False)
    assert int(ckpt["averaging_state"]["n_averaged"]) == 6
    average, raw = ckpt["state_dict"], ckpt["current_model_state"]
    assert average.keys() == raw.keys()
    assert any(not torch.equal(average[k], raw[k]) for k in average)
    served = api.load_model(run / "last.ckpt").model.state_dict()
    assert all(torch.equal(served[k], average[f"model.{k}"]) for k in served)

    api.train(config(lines_dir, run, steps=10), resume=True)
    resumed = torch.load(run / "last.ckpt", weights_only=False)
    assert resumed["global_step"] == 10
    assert int(resumed["averaging_state"]["n_averaged"]) == 10


def test_without_ema_checkpoints_hold_the_raw_weights(lines_dir: Path, tmp_path: Path) -> None:
    api.train(config(lines_dir, tmp_path / "run", steps=2, decay=0.0))
    ckpt = torch.load(tmp_path / "run" / "last.ckpt", weights_only=False)
    assert "current_model_state" not in ckpt and "averaging_state" not in ckpt


def test_decay_of_one_is_refused(lines_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ema_decay"):
        config(lines_dir, tmp_path, steps=1, decay=1.0)


def test_run_stopped_at_max_steps_resumes_with_early_stopping(
    lines_dir: Path, tmp_path: Path
) -> None:
    """last.ckpt is written at a train epoch's end, before that epoch's validation has logged
    val/CER; early stopping must wait for the next validation instead of failing on resume."""
    run = tmp_path / "run"
    cfg = config(lines_dir, run, steps=4, decay=0.0)
    assert cfg.trainer.early_stopping_patience > 0
    api.train(cfg)
    api.train(config(lines_dir, run, steps=6, decay=0.0), resume=True)
    assert torch.load(run / "last.ckpt", weights_only=False)["global_step"] == 6
