"""trainer.regularization_warmup_epochs: dropout rates and the augmentation probability rise
linearly from 0 to their configured values, the configured values come back when training ends,
and a run with the warm-up trains and resumes."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from keyscribe import api
from keyscribe.alphabet import Alphabet
from keyscribe.errors import ConfigError
from keyscribe.htr.dataset import LineDataset
from keyscribe.htr.lines import read_lines, texts
from keyscribe.htr.transforms import AugmentConfig
from keyscribe.training.regularization import RegularizationWarmup, warmup_strength


def test_strength_rises_linearly_then_stays_full() -> None:
    assert [warmup_strength(e, 4) for e in range(6)] == [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    assert warmup_strength(0, 0) == 1.0


def test_callback_scales_every_dropout_and_the_augmentation_then_restores_them() -> None:
    model = nn.Sequential(
        nn.Dropout(0.2), nn.LSTM(4, 4, num_layers=2, dropout=0.4), nn.Dropout2d(0.1)
    )
    strengths: list[float] = []
    trainer = SimpleNamespace(
        current_epoch=0, datamodule=SimpleNamespace(set_augment_strength=strengths.append)
    )
    warmup = RegularizationWarmup(epochs=4)
    warmup.on_train_start(trainer, model)  # type: ignore[arg-type]
    for epoch, expected in [(0, 0.0), (2, 0.5), (7, 1.0)]:
        trainer.current_epoch = epoch
        warmup.on_train_epoch_start(trainer, model)  # type: ignore[arg-type]
        assert model[0].p == pytest.approx(0.2 * expected)
        assert model[1].dropout == pytest.approx(0.4 * expected)
        assert model[2].p == pytest.approx(0.1 * expected)
        assert strengths[-1] == expected
    trainer.current_epoch = 1
    warmup.on_train_epoch_start(trainer, model)  # type: ignore[arg-type]
    warmup.on_train_end(trainer, model)  # a run stopped mid-ramp
    assert (model[0].p, model[1].dropout, model[2].p) == (0.2, 0.4, 0.1)
    assert strengths[-1] == 1.0


def test_line_dataset_augments_with_the_strength_it_is_given(lines_dir: Path) -> None:
    records = read_lines(lines_dir)
    alphabet = Alphabet.from_texts(texts(records))
    clean = LineDataset(records, alphabet, height=32)[0].inputs
    ds = LineDataset(records, alphabet, 32, augment=AugmentConfig(enabled=True, p=1.0))
    torch.manual_seed(0)
    assert ds[0].inputs.shape != clean.shape or not torch.equal(ds[0].inputs, clean)
    ds.set_augment_strength(0.0)
    assert all(torch.equal(ds[0].inputs, clean) for _ in range(5))
    ds.set_augment_strength(0.5)
    assert ds.augment is not None and ds.augment.p == 0.5


def tiny_config(lines_dir: Path, run: Path, steps: int, warmup: int) -> api.ExperimentConfig:
    return api.config_from_tree(
        {
            "domain": "htr",
            "seed": 1,
            "out_dir": str(run),
            "data": {
                "height": 32,
                "batch_size": 5,
                "train": str(lines_dir),
                "val": str(lines_dir),
                "augment": {"enabled": True, "p": 0.5},
            },
            "model": {
                "frontend": {"kind": "puigcerver", "channels": [4, 4, 8, 8, 8], "dropout": 0.2},
                "encoder": {"kind": "lstm", "hidden_size": 8, "num_layers": 2, "dropout": 0.3},
            },
            "optim": {"lr": 1e-2, "scheduler": "constant"},
            "trainer": {
                "max_epochs": 100,
                "max_steps": steps,
                "progress_bar": False,
                "regularization_warmup_epochs": warmup,
            },
        }
    )


def test_a_run_with_the_warmup_trains_and_resumes(lines_dir: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    api.train(tiny_config(lines_dir, run, steps=4, warmup=3))  # 2 updates per epoch
    api.train(tiny_config(lines_dir, run, steps=8, warmup=3), resume=True)
    assert torch.load(run / "last.ckpt", weights_only=False)["global_step"] == 8


def test_a_negative_warmup_is_refused(lines_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="regularization_warmup_epochs"):
        tiny_config(lines_dir, tmp_path, steps=1, warmup=-1)
