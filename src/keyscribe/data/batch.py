"""Samples and padded batches, shared by every domain."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor


@dataclass
class Sample:
    """One training item.

    inputs: ``(time, ...)`` features (a log-spectrogram window, or an image as ``(width, 1, height)``
    transposed by its domain); targets: ``(target_len,)`` class ids; id names the source window.
    """

    inputs: Tensor
    targets: Tensor
    id: str
    text: str | None = None  # exact reference text when the domain has one (scored as characters)


@dataclass
class Batch:
    """inputs ``(batch, time, ...)`` zero-padded; input_lengths ``(batch,)``;
    targets ``(batch, max_target_len)`` padded with 0; target_lengths ``(batch,)``;
    texts: each sample's exact reference text, or None where its domain keeps none."""

    inputs: Tensor
    input_lengths: Tensor
    targets: Tensor
    target_lengths: Tensor
    ids: list[str]
    texts: list[str | None] = field(default_factory=list)

    def to(self, device: torch.device | str) -> Batch:
        return Batch(
            self.inputs.to(device),
            self.input_lengths.to(device),
            self.targets.to(device),
            self.target_lengths.to(device),
            self.ids,
            self.texts,
        )

    def __len__(self) -> int:
        return len(self.ids)


def collate(samples: Sequence[Sample]) -> Batch:
    """Pad inputs along time (dim 0 of each sample) and targets along their length."""
    inputs = torch.nn.utils.rnn.pad_sequence([s.inputs for s in samples], batch_first=True)
    targets = torch.nn.utils.rnn.pad_sequence(
        [s.targets.long() for s in samples], batch_first=True, padding_value=0
    )
    return Batch(
        inputs=inputs,
        input_lengths=torch.tensor([len(s.inputs) for s in samples], dtype=torch.long),
        targets=targets,
        target_lengths=torch.tensor([len(s.targets) for s in samples], dtype=torch.long),
        ids=[s.id for s in samples],
        texts=[s.text for s in samples],
    )
