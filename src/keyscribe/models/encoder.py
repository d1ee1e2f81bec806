"""What every encoder offers the CTC model, the streaming stages and export: its output width,
the output length an input length gives (to refuse items too short before running), and the
forward pass ``(batch, time, features), lengths -> (batch, time', out_features), lengths'``."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from torch import Tensor


@runtime_checkable
class Encoder(Protocol):
    out_features: int

    def output_lengths(self, lengths: Tensor) -> Tensor: ...

    def __call__(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]: ...
