"""CTCModel = front end + encoder + linear head -> per-frame log-probabilities.

No files, no loss, no decoding: those live in training/ and decoding/.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class InputTooShortError(ValueError):
    """Items of a batch too short to give a single output frame (``indices`` into the batch)."""

    def __init__(self, indices: list[int], frames: list[int]) -> None:
        self.indices = indices
        self.frames = frames
        super().__init__(f"items {indices} give no output frame ({frames} front-end frames)")


class CTCModel(nn.Module):
    """inputs ``(batch, time, ...)``, lengths ``(batch,)`` ->
    log-probs ``(batch, time', classes)``, emission lengths ``(batch,)``."""

    def __init__(self, frontend: nn.Module, encoder: nn.Module, num_classes: int) -> None:
        super().__init__()
        self.frontend = frontend
        self.encoder = encoder
        self.head = nn.Linear(encoder.out_features, num_classes)

    def forward(self, inputs: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        x, lengths = self.frontend(inputs, lengths)  # (batch, time, features)
        output_lengths = getattr(self.encoder, "output_lengths", None)
        if output_lengths is not None and not self.training and not torch.jit.is_tracing():
            short = (output_lengths(lengths) <= 0).nonzero().flatten().tolist()
            if short:  # the encoder's convolutions would fail, or CTC would get no frame
                raise InputTooShortError(short, [int(lengths[i]) for i in short])
        x, lengths = self.encoder(x, lengths)  # (batch, time', hidden)
        return self.head(x).log_softmax(dim=-1), lengths
