"""Multiply-accumulate counts of a model on an example input (``keyscribe model info``)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence
from torch.utils.flop_counter import FlopCounterMode

from keyscribe.models.ctc import CTCModel
from keyscribe.models.encoders import RecurrentEncoder

_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


def rnn_macs(rnn: nn.RNNBase, steps: int) -> int:
    """MACs of ``rnn`` over ``steps`` valid time steps (summed over the batch): per layer and
    direction, gates x (input + hidden) x hidden per step."""
    dirs = 2 if rnn.bidirectional else 1
    total = 0
    for layer in range(rnn.num_layers):
        in_features = rnn.input_size if layer == 0 else rnn.hidden_size * dirs
        total += steps * dirs * _GATES[rnn.mode] * (in_features + rnn.hidden_size) * rnn.hidden_size
    return total


@torch.no_grad()
def count_macs(module: nn.Module, inputs: Tensor, lengths: Tensor) -> int:
    """MACs of one eval-mode forward of ``module(inputs, lengths)``.

    torch's FlopCounterMode counts matmuls, convolutions and attention (FLOPs / 2). Fused RNN
    kernels escape it on CPU, so every RecurrentEncoder, and every nn.LSTM / nn.GRU outside one,
    is counted by a forward hook instead (whatever the counter saw inside it is replaced by the
    closed form over the valid frames).
    """
    counter = FlopCounterMode(display=False)
    extra = {"rnn": 0, "seen": 0}
    before: list[int] = []

    def pre(mod: nn.Module, args: Any) -> None:
        before.append(counter.get_total_flops())

    def post(mod: nn.Module, args: Any, out: Any) -> None:
        x = args[0]
        if isinstance(mod, RecurrentEncoder):  # args: (batch, time, features), lengths (batch,)
            steps, rnn = int(args[1].clamp(min=1).sum()), mod.rnn
        else:
            steps = x.data.shape[0] if isinstance(x, PackedSequence) else x.shape[0] * x.shape[1]
            rnn = mod
        extra["rnn"] += rnn_macs(rnn, steps)  # type: ignore[arg-type]
        extra["seen"] += counter.get_total_flops() - before.pop()

    encoders = [m for m in module.modules() if isinstance(m, RecurrentEncoder)]
    owned = {id(m.rnn) for m in encoders}
    rnns = encoders + [
        m for m in module.modules() if isinstance(m, nn.RNNBase) and id(m) not in owned
    ]
    handles = [
        h for m in rnns for h in (m.register_forward_pre_hook(pre), m.register_forward_hook(post))
    ]
    was_training = module.training
    module.eval()
    try:
        with counter:
            module(inputs, lengths)
    finally:
        module.train(was_training)
        for h in handles:
            h.remove()
    return (counter.get_total_flops() - extra["seen"]) // 2 + extra["rnn"]


def macs_per_frame(model: CTCModel, inputs: Tensor) -> dict[str, int]:
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
