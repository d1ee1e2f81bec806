"""CTC shortcut (model.shortcut): a second CTC head on the front end's frames whose loss joins the
training loss; inference, validation and checkpoints' rebuilt models are the main head's."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from keyscribe import api
from keyscribe.alphabet import Alphabet
from keyscribe.config import OptimConfig, ShortcutConfig
from keyscribe.data.batch import Batch, Sample, collate
from keyscribe.errors import ConfigError
from keyscribe.models.ctc import CTCModel
from keyscribe.models.encoders import RecurrentEncoder
from keyscribe.training.schedule_clock import ScheduleClock
from keyscribe.training.system import CTCSystem


class _Frames(torch.nn.Module):
    """(batch, time, 6) -> (batch, time, 6): a linear map per frame, lengths kept."""

    out_features = 6

    def __init__(self) -> None:
        super().__init__()
        self.proj = torch.nn.Linear(6, 6)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.proj(x), lengths


def _model(kernel: int) -> CTCModel:
    torch.manual_seed(0)
    return CTCModel(_Frames(), RecurrentEncoder(6, "lstm", 5, 1), num_classes=4, shortcut_kernel=kernel)


def _batch() -> Batch:
    torch.manual_seed(1)
    samples = [
        Sample(torch.randn(9, 6), torch.tensor([1, 2, 3]), "a", text="abc"),
        Sample(torch.randn(7, 6), torch.tensor([2, 2]), "b", text="bb"),
    ]
    return collate(samples)


def test_the_config_wants_an_odd_kernel_and_a_weight_of_zero_or_more() -> None:
    assert ShortcutConfig().kernel == 0  # off unless asked for
    with pytest.raises(ConfigError, match="kernel must be 0 or odd"):
        ShortcutConfig(kernel=4)
    with pytest.raises(ConfigError, match="weight must be >= 0"):
        ShortcutConfig(kernel=3, weight=-0.1)


def test_the_shortcut_head_runs_only_when_asked_and_leaves_forward_alone() -> None:
    model = _model(kernel=3).eval()
    batch = _batch()
    log_probs, lengths = model(batch.inputs, batch.input_lengths)
    main, main_lengths, side = model.emissions(batch.inputs, batch.input_lengths, shortcut=True)
    assert torch.equal(main, log_probs) and torch.equal(main_lengths, lengths)
    assert side is not None
    side_log_probs, side_lengths = side
    assert side_log_probs.shape == (2, 9, 4)  # one emission per front-end frame
    assert torch.allclose(side_log_probs.exp().sum(-1), torch.ones(2, 9))
    assert torch.equal(side_lengths, torch.tensor([9, 7]))
    assert model.emissions(batch.inputs, batch.input_lengths, shortcut=False)[2] is None
    assert _model(kernel=0).emissions(batch.inputs, batch.input_lengths, shortcut=True)[2] is None


def test_training_adds_the_weighted_shortcut_loss_and_validation_does_not() -> None:
    alphabet = Alphabet.from_texts(["abc"])
    batch = _batch()
    system = CTCSystem(
        _model(kernel=3), alphabet, OptimConfig(), ScheduleClock(max_epochs=1), shortcut_weight=0.5
    )
    main, lengths, shortcut = system.model.emissions(
        batch.inputs, batch.input_lengths, shortcut=True
    )
    assert shortcut is not None
    side, side_lengths = shortcut
    expected = system._ctc_loss(main, lengths, batch) + 0.5 * system._ctc_loss(
        side, side_lengths, batch
    )
    loss = system.training_step(batch, 0)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    loss.backward()
    assert system.model.shortcut is not None
    assert system.model.shortcut.weight.grad is not None
    assert system.model.shortcut.weight.grad.abs().sum() > 0
    assert system.validation_step(batch, 0).item() == pytest.approx(
        system._ctc_loss(main, lengths, batch).item(), rel=1e-5
    )


def test_a_run_with_a_shortcut_saves_a_model_that_loads_and_transcribes(
    lines_dir: Path, tmp_path: Path
) -> None:
    cfg = api.config_from_tree(
        {
            "domain": "htr",
            "out_dir": str(tmp_path / "run"),
            "data": {"height": 32, "batch_size": 5, "train": str(lines_dir), "val": str(lines_dir)},
            "model": {
                "frontend": {"kind": "puigcerver", "channels": [4, 4, 8, 8, 8]},
                "encoder": {"kind": "lstm", "hidden_size": 8, "num_layers": 1},
                "shortcut": {"kernel": 3, "weight": 0.1},
            },
            "optim": {"lr": 1e-2, "scheduler": "constant"},
            "trainer": {"max_epochs": 1, "early_stopping_patience": 0, "progress_bar": False},
        }
    )
    info = api.model_info(cfg)
    parts = ("frontend", "encoder", "head", "shortcut")
    assert info["parameters_shortcut"] > 0
    assert info["parameters"] == sum(info[f"parameters_{part}"] for part in parts)
    results = api.train(cfg)
    assert results["steps"] == 2
    recognizer = api.load_model(results["best_checkpoint"])
    assert recognizer.model.shortcut is not None  # rebuilt from the checkpoint's config
    scores = api.evaluate(results["best_checkpoint"], lines_dir)
    assert scores["lines"] == 10
