"""Sequence encoders: (batch, time, features), lengths -> (batch, time', out_features), lengths.

Each encoder is a plain nn.Module that states its own output lengths, so CTC never has to guess
how much a convolution trimmed.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn


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
        B, T, F = x.shape  # (batch, time, features = channels * width)
        # The (1, k) 2-D conv equals a 1-D conv over time run per width position; the 1-D form
        # is several times faster on CPU. Weights stay in Conv2d layout for reference checkpoints.
        y = x.view(B, T, self.channels, self.width).permute(0, 3, 2, 1)  # (batch, width, channels, T)
        y = y.reshape(B * self.width, self.channels, T)
        y = nn.functional.conv1d(y, self.conv2d.weight.squeeze(2), self.conv2d.bias)
        y = self.relu(y).view(B, self.width, self.channels, -1)  # (batch, width, channels, T_out)
        y = y.permute(0, 3, 2, 1).reshape(B, -1, F)  # (batch, T_out, features), channel-major
        y = y + x[:, -y.shape[1] :]
        return self.layer_norm(y)


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
        self, num_features: int, block_channels: Sequence[int] = (24, 24, 24, 24), kernel_width: int = 32
    ) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        for channels in block_channels:
            if num_features % channels:
                raise ValueError(f"block channels {channels} must divide num_features {num_features}")
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
