"""CTCModel = front end + encoder + linear head -> per-frame log-probabilities.

No files, no loss, no decoding: those live in training/ and decoding/.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from keyscribe.models.encoder import Encoder


class InputTooShortError(ValueError):
    """Items of a batch too short to give a single output frame (``indices`` into the batch)."""

    def __init__(self, indices: list[int], frames: list[int]) -> None:
        self.indices = indices
        self.frames = frames
        super().__init__(f"items {indices} give no output frame ({frames} front-end frames)")


class CTCModel(nn.Module):
    """inputs ``(batch, time, ...)``, lengths ``(batch,)`` ->
    log-probs ``(batch, time', classes)``, emission lengths ``(batch,)``.

    ``shortcut_kernel`` > 0 adds a second head, one convolution over the front end's frames
    (a "CTC shortcut", ``config.ShortcutConfig``), which only :meth:`emissions` runs: training
    uses it, inference and export never see it.
    """

    def __init__(
        self, frontend: nn.Module, encoder: Encoder, num_classes: int, shortcut_kernel: int = 0
    ) -> None:
        super().__init__()
        self.frontend = frontend
        if not isinstance(encoder, nn.Module) or not isinstance(encoder, Encoder):
            raise TypeError(f"{type(encoder).__name__} is not an Encoder module")
        self.encoder: Encoder = encoder
        self.head = nn.Linear(encoder.out_features, num_classes)
        self.shortcut: nn.Conv1d | None = None
        if shortcut_kernel > 0:
            self.shortcut = nn.Conv1d(
                frontend.out_features, num_classes, shortcut_kernel, padding=shortcut_kernel // 2
            )

    def forward(self, inputs: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        log_probs, lengths, _ = self.emissions(inputs, lengths, shortcut=False)
        return log_probs, lengths

    def emissions(
        self, inputs: Tensor, lengths: Tensor, shortcut: bool
    ) -> tuple[Tensor, Tensor, tuple[Tensor, Tensor] | None]:
        """:meth:`forward`'s log-probs and lengths, plus, when ``shortcut`` is asked for and the
        model has one, the shortcut head's ``(batch, frontend time, classes)`` log-probs and
        lengths."""
        x, lengths = self.frontend(inputs, lengths)  # (batch, time, features)
        if not self.training and not torch.jit.is_tracing():
            short = (self.encoder.output_lengths(lengths) <= 0).nonzero().flatten().tolist()
            if short:  # the encoder's convolutions would fail, or CTC would get no frame
                raise InputTooShortError(short, [int(lengths[i]) for i in short])
        side = None
        if shortcut and self.shortcut is not None:
            side_logits = self.shortcut(x.transpose(1, 2)).transpose(1, 2)  # (batch, time, classes)
            side = (side_logits.float().log_softmax(dim=-1), lengths)
        y, out_lengths = self.encoder(x, lengths)  # (batch, time', hidden)
        # the log-softmax in fp32 whatever the compute precision (bf16 autocast gives bf16 logits)
        return self.head(y).float().log_softmax(dim=-1), out_lengths, side
