"""CTCSystem: the LightningModule that trains any CTCModel of either domain."""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor

from keyscribe.alphabet import Alphabet
from keyscribe.config import OptimConfig
from keyscribe.data.batch import Batch
from keyscribe.decoding.greedy import decode_greedy
from keyscribe.metrics import ErrorRate, hypothesis_tokens, reference_tokens
from keyscribe.models.ctc import CTCModel
from keyscribe.models.deformable import DeformConv2d
from keyscribe.training.schedule_clock import ScheduleClock

PHASES = ("train", "val", "test")


class CTCSystem(L.LightningModule):
    """CTC loss (time-first at the loss call only), Adam, a schedule, and greedy CER per phase.

    ``clock`` says how far the schedule has run (``training/schedule_clock.py``). A model with a
    CTC shortcut head adds that head's CTC loss x ``shortcut_weight`` to the training loss.
    ``checkpoint_meta`` (resolved config, alphabet, domain) is stored in every checkpoint so that
    ``keyscribe.load_model`` can rebuild the model from the file alone.
    """

    def __init__(
        self,
        model: CTCModel,
        alphabet: Alphabet,
        optim: OptimConfig,
        clock: ScheduleClock,
        checkpoint_meta: dict[str, Any] | None = None,
        shortcut_weight: float = 0.0,
    ) -> None:
        super().__init__()
        self.model = model
        self.alphabet = alphabet
        self.optim = optim
        self.clock = clock
        self.shortcut_weight = shortcut_weight
        self.checkpoint_meta = checkpoint_meta or {}
        self.cer = torch.nn.ModuleDict({f"{p}_cer": ErrorRate() for p in PHASES})

    def forward(self, inputs: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        return self.model(inputs, lengths)

    def _ctc_loss(self, log_probs: Tensor, lengths: Tensor, batch: Batch) -> Tensor:
        return F.ctc_loss(
            log_probs.float().transpose(0, 1),  # (T, B, C), fp32 under bf16 autocast too
            batch.targets,
            lengths,
            batch.target_lengths,
            blank=self.alphabet.blank,
            zero_infinity=True,
        )

    def _step(self, batch: Batch, phase: str) -> Tensor:
        log_probs, lengths, side = self.model.emissions(
            batch.inputs, batch.input_lengths, shortcut=phase == "train" and self.shortcut_weight > 0
        )  # (B, T, C), (B,), the shortcut head's (B, T', C), (B,) or None
        loss = self._ctc_loss(log_probs, lengths, batch)
        if side is not None:
            side_loss = self._ctc_loss(*side, batch)
            self.log("train/shortcut_loss", side_loss, batch_size=len(batch), on_step=True)
            loss = loss + self.shortcut_weight * side_loss
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite {phase} loss on items {batch.ids[:8]}")
        hyps = decode_greedy(log_probs.detach(), lengths, self.alphabet.blank)
        metric = self.cer[f"{phase}_cer"]
        metric.update(*self._scored(batch, hyps))
        on_step = phase == "train"
        self.log(
            f"{phase}/loss",
            loss,
            batch_size=len(batch),
            prog_bar=True,
            on_step=on_step,
            on_epoch=True,
            sync_dist=True,
        )
        self.log(
            f"{phase}/CER",
            metric,
            batch_size=len(batch),
            prog_bar=phase != "train",
            on_step=False,
            on_epoch=True,
        )
        return loss

    def _scored(self, batch: Batch, hyps: list[list[int]]) -> tuple[list[Any], list[Any]]:
        """References and hypotheses in the tokens ``evaluate`` scores: characters of the exact
        text where a sample keeps one (HTR), class ids otherwise (``metrics.reference_tokens``)."""
        lengths = batch.target_lengths.tolist()
        texts = batch.texts or [None] * len(batch)
        refs = [
            reference_tokens(text, t[:n].tolist())
            for text, t, n in zip(texts, batch.targets, lengths, strict=True)
        ]
        return refs, [
            hypothesis_tokens(h, self.alphabet, text is not None)
            for h, text in zip(hyps, texts, strict=True)
        ]

    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: Batch, batch_idx: int) -> Tensor:
        return self._step(batch, "val")

    def test_step(self, batch: Batch, batch_idx: int) -> Tensor:
        return self._step(batch, "test")

    def parameter_groups(self) -> list[dict[str, Any]]:
        """All weights at ``optim.lr``, except the offset convolutions of deformable layers, at
        ``lr * offset_lr_scale`` when that scale is not 1 (schedules scale both groups alike)."""
        o = self.optim
        offsets = [
            p
            for module in self.modules()
            if isinstance(module, DeformConv2d)
            for p in module.offset_conv.parameters()
        ]
        if o.offset_lr_scale == 1.0 or not offsets:
            return [{"params": list(self.parameters())}]
        ids = {id(p) for p in offsets}
        rest = [p for p in self.parameters() if id(p) not in ids]
        return [{"params": rest}, {"params": offsets, "lr": o.lr * o.offset_lr_scale}]

    def configure_optimizers(self) -> Any:
        o = self.optim
        optimizer = torch.optim.Adam(self.parameter_groups(), lr=o.lr, weight_decay=o.weight_decay)
        if o.scheduler == "constant":
            return optimizer
        if o.scheduler == "plateau":
            scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
                optimizer, mode="min", factor=o.plateau_factor, patience=o.plateau_patience
            )
            return {
                "optimizer": optimizer,
                "lr_scheduler": {"scheduler": scheduler, "monitor": "val/CER"},
            }
        max_epochs = self.clock.max_epochs
        warmup = max(0, min(o.warmup_epochs, max_epochs - 1))
        start_factor = o.warmup_start_lr / o.lr
        floor = o.min_lr / o.lr

        def factor(epoch: float) -> float:
            """Linear warm-up from warmup_start_lr to lr, then cosine down to min_lr."""
            if epoch < warmup:
                return start_factor + (1 - start_factor) * epoch / warmup
            span = max(1, max_epochs - warmup)
            progress = min(1.0, (epoch - warmup) / span)
            return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

        def scheduled(count: int) -> float:
            """LambdaLR counts scheduler steps; on the wall clock the clock says where we are."""
            return factor(self.clock.epoch(self._trainer) if self.clock.on_wall_clock else count)

        # on the wall clock, updated every step: an epoch may be a large share of the budget
        interval = "step" if self.clock.on_wall_clock else "epoch"
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, scheduled)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": interval},
        }

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["keyscribe"] = {**self.checkpoint_meta, "alphabet": self.alphabet.to_dict()}
