"""Regularisation warm-up: dropout and training augmentation grow from nothing to full strength.

On a small training set the first updates are limited by optimisation and the last ones by
overfitting (on peraire, train and validation CER part after about half of a 35-minute budget).
Full-strength dropout and augmentation from the first step slow the first half for little gain
in the second; ramping both linearly over the first N epochs (curriculum dropout, Morerio et al.,
ICCV 2017) keeps the fast start and regularises where it pays.
"""

from __future__ import annotations

import lightning as L
from torch import nn

from keyscribe.training.schedule_clock import ScheduleClock

DROPOUTS = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout)


def dropout_rate(module: nn.Module) -> float | None:
    """A module's dropout probability: ``nn.Dropout*`` layers and recurrent layers' inter-layer
    dropout (which the CPU BLSTM path also reads); None for any other module."""
    if isinstance(module, DROPOUTS):
        return float(module.p)
    if isinstance(module, nn.RNNBase):
        return float(module.dropout)
    return None


def set_dropout_rate(module: nn.Module, rate: float) -> None:
    if isinstance(module, DROPOUTS):
        module.p = rate
    else:
        module.dropout = rate


def warmup_strength(epoch: float, epochs: int) -> float:
    """0 at the first epoch, rising linearly to 1 at epoch ``epochs`` and after."""
    return 1.0 if epochs <= 0 else min(1.0, epoch / epochs)


class RegularizationWarmup(L.Callback):
    """At each training epoch's start, scale every dropout rate of the model and the data module's
    augmentation strength (``set_augment_strength``, where it has one) by
    ``warmup_strength(epoch, epochs)``, the epoch read from ``clock`` (the epoch counter by
    default). The configured rates are read from the model when training starts, so a resumed run
    (a fresh model) continues the same ramp."""

    def __init__(self, epochs: int, clock: ScheduleClock | None = None) -> None:
        self.epochs = epochs
        self.clock = clock or ScheduleClock(max_epochs=epochs)
        self._rates: dict[nn.Module, float] = {}

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._rates = {}
        for module in pl_module.modules():
            rate = dropout_rate(module)
            if rate is not None:
                self._rates[module] = rate

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        strength = warmup_strength(self.clock.epoch(trainer), self.epochs)
        for module, rate in self._rates.items():
            set_dropout_rate(module, rate * strength)
        self._set_augment_strength(trainer, strength)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Leave the model and data as configured (a run stopped mid-ramp included)."""
        for module, rate in self._rates.items():
            set_dropout_rate(module, rate)
        self._set_augment_strength(trainer, 1.0)

    @staticmethod
    def _set_augment_strength(trainer: L.Trainer, strength: float) -> None:
        set_strength = getattr(trainer.datamodule, "set_augment_strength", None)
        if callable(set_strength):
            set_strength(strength)
