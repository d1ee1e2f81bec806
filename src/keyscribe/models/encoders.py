"""Sequence encoders: (batch, time, features), lengths -> (batch, time', out_features), lengths.

Each encoder is a plain nn.Module that states its own output lengths, so CTC never has to guess
how much a convolution trimmed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


class TDSConv2dBlock(nn.Module):
    """Time-depth-separable convolution (Hannun et al. 2019): a (1, k) conv over time applied to
    features viewed as (channels, width), ReLU, residual on the last frames, LayerNorm.

    (batch, time, channels * width) -> (batch, time - k + 1, channels * width).
    """

    def __init__(self, channels: int, width: int, kernel_width: int) -> None:
        super().__init__()
        self.channels, self.width = channels, width
        self.conv2d = nn.Conv2d(channels, channels, kernel_size=(1, kernel_width))
        self.relu = nn.ReLU()
        self.layer_norm = nn.LayerNorm(channels * width)

    def forward(self, x: Tensor) -> Tensor:
        B, T, F = x.shape  # (batch, time, features = channels * width), channel-major
        C, W = self.channels, self.width
        # The (1, k) 2-D conv is the same k-tap conv over time at each of the W width positions,
        # run by oneDNN over features laid out channels-last (features innermost in memory), in
        # the form that is fastest for what follows (bench/train_throughput.py measures it):
        # - backward to come (training): the W positions as a batch, (batch * W, C, 1, time);
        #   its weight gradient is ~2x faster than the grouped form's;
        # - forward only (inference): one grouped convolution, a group per position, over
        #   (batch, W * C, 1, time); ~1.6x faster than the batched form, in fp32 and bf16.
        # The weights stay in the reference's Conv2d layout, so reference and older checkpoints
        # load unchanged.
        weight, bias = self.conv2d.weight, self.conv2d.bias  # (C, C, 1, k), (C,)
        if torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad):
            xw = x.view(B, T, C, W).permute(0, 3, 1, 2).reshape(B * W, 1, T, C)  # copy
            y = nn.functional.conv2d(xw.permute(0, 3, 1, 2), weight, bias)
            y = self.relu(y).view(B, W, C, -1).permute(0, 3, 2, 1)  # (batch, T_out, C, W), a view
        else:
            xw = x.view(B, T, C, W).transpose(2, 3).reshape(B, 1, T, F)  # width-major copy
            y = nn.functional.conv2d(
                xw.permute(0, 3, 1, 2), weight.repeat(W, 1, 1, 1), bias.repeat(W), groups=W
            )
            y = self.relu(y).permute(0, 2, 3, 1).reshape(B, -1, W, C).transpose(2, 3)
        y = y.reshape(B, -1, F)  # channel-major again (a copy)
        return self.layer_norm(y + x[:, -y.shape[1] :])


class TDSFullyConnectedBlock(nn.Module):
    """Two-layer MLP with residual and LayerNorm: (batch, time, F) -> same."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.fc_block = nn.Sequential(
            nn.Linear(num_features, num_features), nn.ReLU(), nn.Linear(num_features, num_features)
        )
        self.layer_norm = nn.LayerNorm(num_features)

    def forward(self, x: Tensor) -> Tensor:
        return self.layer_norm(self.fc_block(x) + x)


class TDSConvEncoder(nn.Module):
    """TDSConv baseline encoder of emg2qwerty (Table 3 baseline of semg-long-range-dependency).

    One TDSConv2dBlock + TDSFullyConnectedBlock per entry of ``block_channels``; each conv trims
    ``kernel_width - 1`` frames (no padding, as the reference).
    """

    def __init__(
        self,
        num_features: int,
        block_channels: Sequence[int] = (24, 24, 24, 24),
        kernel_width: int = 32,
    ) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        for channels in block_channels:
            if num_features % channels:
                raise ValueError(
                    f"block channels {channels} must divide num_features {num_features}"
                )
            blocks += [
                TDSConv2dBlock(channels, num_features // channels, kernel_width),
                TDSFullyConnectedBlock(num_features),
            ]
        self.blocks = nn.Sequential(*blocks)
        self.trim = (kernel_width - 1) * len(block_channels)
        self.out_features = num_features

    def output_lengths(self, lengths: Tensor) -> Tensor:
        return (lengths - self.trim).clamp(min=0)

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        return self.blocks(x), self.output_lengths(lengths)


def lengths_mask(lengths: Tensor, max_len: int) -> Tensor:
    """(batch,) lengths -> (batch, max_len) bool, True on valid frames."""
    return torch.arange(max_len, device=lengths.device)[None] < lengths[:, None]


class RecurrentEncoder(nn.Module):
    """Stacked (bi)directional LSTM or GRU (Tables 1-2 and 8 of semg-long-range-dependency).

    (batch, time, features), lengths -> (batch, time, directions * hidden_size), lengths.
    Padded frames never reach a state (not even the backward one of a bidirectional layer) and
    come out as zeros. ``dropout`` acts between stacked layers, as in ``nn.LSTM``, and also on the
    output, so a one-layer RNN (Table 7) is regularised too.

    Two exact ways to get there: packed sequences (CUDA, and export, whose ONNX graph handles
    them), and on CPU one call per layer and direction on the padded batch, the backward direction
    reading each sequence reversed within its length so that padding follows the valid frames in
    both directions. The second gives the same outputs and gradients; it exists because CPU
    autograd through a packed RNN costs O(time^2) (~4x slower at 100 frames, see
    bench/rnn_paths.py).
    """

    def __init__(
        self,
        num_features: int,
        cell: str = "lstm",
        hidden_size: int = 256,
        num_layers: int = 2,
        dropout: float = 0.0,
        bidirectional: bool = True,
        output_dropout: float
        | None = None,  # None: ``dropout``; 0 for a CRNN's BLSTM-Linear (HTR Table 1)
    ) -> None:
        super().__init__()
        rnn_class = {"lstm": nn.LSTM, "gru": nn.GRU}.get(cell)
        if rnn_class is None:
            raise ValueError(f"cell must be 'lstm' or 'gru', got {cell!r}")
        self.rnn = rnn_class(
            num_features,
            hidden_size,
            num_layers=num_layers,
            dropout=dropout if num_layers > 1 else 0.0,
            bidirectional=bidirectional,
            batch_first=True,
        )
        self.dropout = nn.Dropout(dropout if output_dropout is None else output_dropout)
        self.out_features = hidden_size * (2 if bidirectional else 1)

    def output_lengths(self, lengths: Tensor) -> Tensor:
        return lengths

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        per_layer = x.device.type == "cpu" and not torch.jit.is_tracing()
        y = self.run_per_layer(x, lengths) if per_layer else self.run_packed(x, lengths)
        return self.dropout(y), lengths  # (batch, time, out_features)

    def run_packed(self, x: Tensor, lengths: Tensor) -> Tensor:
        """``self.rnn`` on packed sequences: ``(batch, time, features)`` -> ``(batch, time, out)``."""
        packed = pack_padded_sequence(
            x, lengths.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False
        )
        y, _ = self.rnn(packed)
        return pad_packed_sequence(y, batch_first=True, total_length=x.shape[1])[0]

    def run_per_layer(self, x: Tensor, lengths: Tensor) -> Tensor:
        """``self.rnn`` on a padded batch ``(batch, time, features)``, one layer and direction at a
        time, with the weights of ``self.rnn``: the same result as :meth:`run_packed`."""
        lengths = lengths.to(x.device).clamp(min=1)
        rnn = self.rnn
        B, T, _ = x.shape
        valid = lengths_mask(lengths, T)  # (batch, time)
        steps = torch.arange(T, device=x.device)[None]
        reverse = torch.where(valid, lengths[:, None] - 1 - steps, steps)  # (batch, time)
        h0 = x.new_zeros(1, B, rnn.hidden_size)
        for layer in range(rnn.num_layers):
            outputs = []
            for direction in range(2 if rnn.bidirectional else 1):
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                names = ("weight_ih", "weight_hh") + (("bias_ih", "bias_hh") if rnn.bias else ())
                weights = [getattr(rnn, name + suffix) for name in names]
                seq = x if direction == 0 else x.gather(1, reverse[..., None].expand_as(x))
                if isinstance(rnn, nn.LSTM):
                    y = torch.lstm(
                        seq, (h0, h0), weights, rnn.bias, 1, 0.0, self.training, False, True
                    )[0]
                else:
                    y = torch.gru(seq, h0, weights, rnn.bias, 1, 0.0, self.training, False, True)[0]
                if direction:
                    y = y.gather(1, reverse[..., None].expand_as(y))
                outputs.append(y)
            x = torch.cat(outputs, dim=-1)
            if layer < rnn.num_layers - 1:
                x = nn.functional.dropout(x, rnn.dropout, self.training)
        return x.masked_fill(~valid[..., None], 0.0)


class ResBlock1d(nn.Module):
    """Residual block of two kernel-3 convolutions over time (Wang et al. 2017; Figure 2a).

    (batch, channels_in, time), lengths -> (batch, channels_out, ceil(time / stride)), lengths.
    ``bottleneck`` swaps the two convolutions for 1 -> 3 -> 1 with a quarter of the channels in
    the middle. The shortcut is the identity, or a strided 1x1 convolution when shape changes.
    Frames past an item's length are zeroed before every kernel-3 convolution, so padding never
    reaches a valid frame (in eval mode a padded item gives the same frames as alone).
    """

    def __init__(
        self, channels_in: int, channels_out: int, stride: int = 1, bottleneck: bool = False
    ) -> None:
        super().__init__()
        if bottleneck:
            mid = max(1, channels_out // 4)
            self.body = nn.Sequential(
                nn.Conv1d(channels_in, mid, 1, bias=False),
                nn.BatchNorm1d(mid),
                nn.ReLU(),
                nn.Conv1d(mid, mid, 3, stride=stride, padding=1, bias=False),
                nn.BatchNorm1d(mid),
                nn.ReLU(),
                nn.Conv1d(mid, channels_out, 1, bias=False),
                nn.BatchNorm1d(channels_out),
            )
        else:
            self.body = nn.Sequential(
                nn.Conv1d(channels_in, channels_out, 3, stride=stride, padding=1, bias=False),
                nn.BatchNorm1d(channels_out),
                nn.ReLU(),
                nn.Conv1d(channels_out, channels_out, 3, padding=1, bias=False),
                nn.BatchNorm1d(channels_out),
            )
        self.stride = stride
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or channels_in != channels_out:
            self.shortcut = nn.Sequential(
                nn.Conv1d(channels_in, channels_out, 1, stride=stride, bias=False),
                nn.BatchNorm1d(channels_out),
            )
        self.relu = nn.ReLU()

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """x: (batch, channels_in, time), lengths (batch,) -> output and its lengths."""
        out_lengths = (lengths + self.stride - 1) // self.stride  # kernel 3, padding 1: ceil(L / s)
        y, current = x, lengths
        for layer in self.body:
            if isinstance(layer, nn.Conv1d) and layer.kernel_size[0] > 1:
                y = y * lengths_mask(current, y.shape[-1])[:, None]
                current = out_lengths
            y = layer(y)
        y = self.relu(y + self.shortcut(x))
        return y * lengths_mask(out_lengths, y.shape[-1])[:, None], out_lengths


class ConvResNetEncoder(nn.Module):
    """ConvResNet encoder (Table 5 of semg-long-range-dependency, after Wang et al. 2017).

    Groups of ResBlocks: group ``g`` has ``repetitions[g]`` blocks of ``dimensions[g]`` channels,
    the first with ``strides[g]``. Convolutions run over time with the front end's features as
    channels (the front end has already mixed the frequency axis). A learnable transposed
    convolution restores the input frame rate before the LayerNorm (Figure 2b), so CTC keeps
    one emission per frame.

    (batch, time, features), lengths -> (batch, time, dimensions[-1]), lengths.
    """

    def __init__(
        self,
        num_features: int,
        dimensions: Sequence[int] = (64, 128, 256),
        repetitions: Sequence[int] = (3, 2, 2),
        strides: Sequence[int] = (1, 1, 2),
        bottleneck: Sequence[bool] | None = None,
    ) -> None:
        super().__init__()
        bottleneck = list(bottleneck) if bottleneck else [False] * len(dimensions)
        if not len(dimensions) == len(repetitions) == len(strides) == len(bottleneck):
            raise ValueError(
                "dimensions, repetitions, strides and bottleneck need one entry per group"
            )
        blocks: list[ResBlock1d] = []
        channels = num_features
        for dim, reps, stride, neck in zip(
            dimensions, repetitions, strides, bottleneck, strict=True
        ):
            blocks.append(ResBlock1d(channels, dim, int(stride), neck))
            blocks += [ResBlock1d(dim, dim, 1, neck) for _ in range(reps - 1)]
            channels = dim
        self.blocks = nn.ModuleList(blocks)
        self.total_stride = math.prod(int(s) for s in strides)
        self.upsample: nn.Module = nn.Identity()
        if self.total_stride > 1:
            self.upsample = nn.ConvTranspose1d(
                channels, channels, self.total_stride, stride=self.total_stride
            )
        self.layer_norm = nn.LayerNorm(channels)
        self.out_features = channels

    def output_lengths(self, lengths: Tensor) -> Tensor:
        return lengths

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        T = x.shape[1]
        y, block_lengths = x.transpose(1, 2), lengths  # (batch, features, time)
        for block in self.blocks:
            y, block_lengths = block(y, block_lengths)  # (batch, dim, time / stride so far)
        y = self.upsample(y)[..., :T]  # (batch, channels, time)
        y = self.layer_norm(y.transpose(1, 2))  # (batch, time, channels)
        return y * lengths_mask(lengths, T)[..., None], lengths


class SequentialEncoder(nn.Module):
    """Encoders run one after the other (the CNN + RNN hybrids of Tables 6 and 7).

    (batch, time, features), lengths -> the last encoder's output and lengths.
    """

    def __init__(self, *encoders: nn.Module) -> None:
        super().__init__()
        self.encoders = nn.ModuleList(encoders)
        self.out_features = encoders[-1].out_features

    def output_lengths(self, lengths: Tensor) -> Tensor:
        for encoder in self.encoders:
            lengths = encoder.output_lengths(lengths)  # type: ignore[operator]
        return lengths

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        for encoder in self.encoders:
            x, lengths = encoder(x, lengths)
        return x, lengths
