"""CTCModel = front end + encoder + linear head -> per-frame log-probabilities.

No files, no loss, no decoding: those live in training/ and decoding/.
"""

from __future__ import annotations

from torch import Tensor, nn


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
        x, lengths = self.encoder(x, lengths)  # (batch, time', hidden)
        return self.head(x).log_softmax(dim=-1), lengths
