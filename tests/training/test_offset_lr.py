"""optim.offset_lr_scale: deformable layers' offset convolutions learn at a scaled rate, and the
cosine schedule scales both parameter groups alike."""

from __future__ import annotations

import pytest

from keyscribe import api, builders
from keyscribe.alphabet import Alphabet
from keyscribe.errors import ConfigError
from keyscribe.training.schedule_clock import ScheduleClock
from keyscribe.training.system import CTCSystem

TREE = {
    "domain": "htr",
    "data": {"height": 32},
    "model": {
        "frontend": {"kind": "puigcerver", "channels": [4, 4, 8, 8, 8], "conv": "deformable"},
        "encoder": {"kind": "lstm", "hidden_size": 8, "num_layers": 1, "dropout": 0.0},
    },
    "optim": {"lr": 2e-3, "scheduler": "warmup_cosine", "warmup_epochs": 0, "min_lr": 0.0},
}


def system(scale: float, conv: str = "deformable") -> CTCSystem:
    tree = {**TREE, "optim": {**TREE["optim"], "offset_lr_scale": scale}}
    tree["model"] = {**TREE["model"], "frontend": {**TREE["model"]["frontend"], "conv": conv}}
    cfg = api.config_from_tree(tree)
    alphabet = Alphabet(tuple("abc "), blank=4)
    return CTCSystem(builders.build_model(cfg, alphabet), alphabet, cfg.optim, ScheduleClock(max_epochs=4))


def test_offset_convolutions_get_their_own_learning_rate() -> None:
    s = system(0.1)
    out = s.configure_optimizers()
    optimizer, scheduler = out["optimizer"], out["lr_scheduler"]["scheduler"]
    rest, offsets = optimizer.param_groups
    names = {id(p): n for n, p in s.named_parameters()}
    assert offsets["params"] and all(".offset_conv." in names[id(p)] for p in offsets["params"])
    assert not any(".offset_conv." in names[id(p)] for p in rest["params"])
    assert len(rest["params"]) + len(offsets["params"]) == len(names)
    assert rest["lr"] == pytest.approx(2e-3) and offsets["lr"] == pytest.approx(2e-4)
    optimizer.step()
    scheduler.step()
    scheduler.step()  # half-way down the cosine over 4 epochs: both groups at half their rate
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([1e-3, 1e-4])


@pytest.mark.parametrize("scale, conv", [(1.0, "deformable"), (0.1, "std")])
def test_one_group_when_nothing_is_scaled(scale: float, conv: str) -> None:
    optimizer = system(scale, conv).configure_optimizers()["optimizer"]
    assert len(optimizer.param_groups) == 1


def test_negative_scale_is_refused() -> None:
    with pytest.raises(ConfigError, match="offset_lr_scale"):
        system(-1.0)
