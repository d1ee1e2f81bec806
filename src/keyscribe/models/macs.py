"""Multiply-accumulate counts of a model on an example input (``keyscribe model info``)."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode


@torch.no_grad()
def count_macs(module: nn.Module, inputs: Tensor, lengths: Tensor) -> int:
    """MACs of one eval-mode forward of ``module(inputs, lengths)``: FLOPs counted by torch's
    FlopCounterMode (matmuls, convolutions, attention; RNNs through their packed-sequence
    path, which every keyscribe RNN takes) divided by two."""
    was_training = module.training
    module.eval()
    try:
        with FlopCounterMode(display=False) as counter:
            module(inputs, lengths)
    finally:
        module.train(was_training)
    return counter.get_total_flops() // 2


def macs_per_frame(model: nn.Module, inputs: Tensor) -> dict[str, int]:
    """MACs per input frame of a CTCModel and of its encoder, for one item ``(1, time, ...)``."""
    lengths = torch.tensor([inputs.shape[1]])
    frames = inputs.shape[1]
    total = count_macs(model, inputs, lengths)
    with torch.no_grad():
        model.eval()
        features, feature_lengths = model.frontend(inputs, lengths)
    encoder = count_macs(model.encoder, features, feature_lengths)
    return {
        "macs_per_frame": round(total / frames),
        "macs_per_frame_encoder": round(encoder / frames),
    }
