"""Convolutional front ends of the HTR models: line image -> sequence of column features.

Two stacks from Cascianelli et al., "Boosting modern and historical handwritten text recognition
with deformable convolutions" (IJDAR 2022), appendix Tables 1 and 2:

- **CRNN** (Shi et al. 2016; VGG-11 up to its sixth block plus a 2x2 block): 60 px lines ->
  ``(batch, W/4 + 1, 2 * 512)``.
- **1D-LSTM** (Puigcerver 2017): five 3x3 blocks of 16..80 filters, LeakyReLU, 2x2 max-pooling
  after the first three: 128 px lines -> ``(batch, W/8, 16 * 80)``.

Every convolution is standard or deformable (``keyscribe.models.deformable.DeformConv2d``, which
holds its own zero-initialised offset convolution of 2 * kh * kw channels; the tables' "Convolution
18" rows). The stacks are built from :class:`ConvLayer` lists so that their geometry, output
widths and the budget variants stay in one place. The recurrent parts are sequence encoders
(``builders.ENCODERS``); the output layer is the shared CTC head.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from keyscribe.htr.transforms import PAPER_VALUE


@dataclass(frozen=True)
class ConvLayer:
    """One block row group of the tables: conv [+ BN] + activation [+ max-pool] [+ dropout]."""

    out_channels: int
    kernel: int = 3
    padding: int = 1
    batch_norm: bool = True
    activation: str = "relu"  # relu | leaky_relu
    pool: tuple[int, int] | None = None  # (height, width) max-pool kernel; None = no pooling
    pool_stride: tuple[int, int] | None = None  # None: the kernel
    pool_padding: tuple[int, int] = (0, 0)
    dropout: float = 0.0
    deformable: bool = False


def crnn_layers(
    channels: Sequence[int] = (64, 128, 256, 256, 512, 512, 512),
    dropout: float = 0.2,
    deformable: Sequence[bool] = (False,) * 7,
) -> list[ConvLayer]:
    """Table 1 (CRNN): 2x2 max-pools with strides (2,2), (2,2), (2,1) pad (0,1), (2,1) pad (0,1);
    BN on convs 1, 2, 3, 5 and 7; dropout 0.2 after pools and after conv 5; a final 2x2 conv."""
    c, d = list(channels), list(deformable)
    if len(c) != 7 or len(d) != 7:
        raise ValueError(
            "the CRNN stack has 7 convolutions: give 7 channels and 7 deformable flags"
        )
    return [
        ConvLayer(c[0], pool=(2, 2), dropout=dropout, deformable=d[0]),
        ConvLayer(c[1], pool=(2, 2), dropout=dropout, deformable=d[1]),
        ConvLayer(c[2], deformable=d[2]),
        ConvLayer(
            c[3],
            batch_norm=False,
            pool=(2, 2),
            pool_stride=(2, 1),
            pool_padding=(0, 1),
            dropout=dropout,
            deformable=d[3],
        ),
        ConvLayer(c[4], dropout=dropout, deformable=d[4]),
        ConvLayer(
            c[5],
            batch_norm=False,
            pool=(2, 2),
            pool_stride=(2, 1),
            pool_padding=(0, 1),
            dropout=dropout,
            deformable=d[5],
        ),
        ConvLayer(c[6], kernel=2, padding=0, deformable=d[6]),
    ]


def puigcerver_layers(
    channels: Sequence[int] = (16, 32, 48, 64, 80),
    dropout: float = 0.2,
    deformable: Sequence[bool] = (False,) * 5,
    pool_heights: Sequence[int] = (2, 2, 2, 1, 1),
    pool_widths: Sequence[int] = (2, 2, 2, 1, 1),
) -> list[ConvLayer]:
    """Table 2 (1D-LSTM): 3x3 conv + BN + LeakyReLU per block; 2x2 max-pool after blocks 1-3;
    dropout 0.2 after blocks 2, 3 and 4. ``pool_*`` (1 = no pooling) allow cheaper variants."""
    n = len(channels)
    if not len(deformable) == len(pool_heights) == len(pool_widths) == n:
        raise ValueError(
            "channels, deformable, pool_heights and pool_widths need one entry per block"
        )
    layers = []
    for i in range(n):
        pool = (
            (pool_heights[i], pool_widths[i]) if pool_heights[i] > 1 or pool_widths[i] > 1 else None
        )
        drop = dropout if 0 < i < n - 1 else 0.0  # Table 2: after blocks 2-4, not 1 and 5
        layers.append(
            ConvLayer(
                channels[i],
                activation="leaky_relu",
                pool=pool,
                dropout=drop,
                deformable=deformable[i],
            )
        )
    return layers


def _conv(in_channels: int, layer: ConvLayer) -> nn.Module:
    if layer.deformable:
        from keyscribe.models.deformable import DeformConv2d

        return DeformConv2d(
            in_channels, layer.out_channels, layer.kernel, stride=1, padding=layer.padding
        )
    return nn.Conv2d(in_channels, layer.out_channels, layer.kernel, stride=1, padding=layer.padding)


def _pooled(size: Tensor | int, kernel: int, stride: int, padding: int) -> Tensor | int:
    """Output size of a max-pool (floor), as nn.MaxPool2d computes it."""
    return (size + 2 * padding - kernel) // stride + 1


class LineConvFrontend(nn.Module):
    """A conv stack over height-normalised lines.

    inputs ``(batch, width, 1, height)`` (the collate pads width on the right), lengths ``(batch,)``
    in pixels -> features ``(batch, W', H' * C)`` (the C channels of each of the H' rows
    concatenated, row-major, as the paper describes), lengths ``(batch,)`` in columns.
    Padded columns are set to the paper value first, so a line's features do not depend on the
    batch it is in, except at its right edge.
    """

    def __init__(self, layers: Sequence[ConvLayer], height: int, in_channels: int = 1) -> None:
        super().__init__()
        self.layers = list(layers)
        self.height = height
        blocks: list[nn.Module] = []
        channels, h = in_channels, height
        for layer in self.layers:
            parts: list[nn.Module] = [_conv(channels, layer)]
            if layer.batch_norm:
                parts.append(nn.BatchNorm2d(layer.out_channels))
            parts.append(nn.LeakyReLU(0.01) if layer.activation == "leaky_relu" else nn.ReLU())
            h = h + 2 * layer.padding - layer.kernel + 1
            if layer.pool is not None:
                stride = layer.pool_stride or layer.pool
                parts.append(nn.MaxPool2d(layer.pool, stride=stride, padding=layer.pool_padding))
                h = int(_pooled(h, layer.pool[0], stride[0], layer.pool_padding[0]))
            if layer.dropout > 0:
                parts.append(nn.Dropout(layer.dropout))
            blocks.append(nn.Sequential(*parts))
            channels = layer.out_channels
            if h < 1:
                raise ValueError(f"line height {height} px is too small for this conv stack")
        self.blocks = nn.Sequential(*blocks)
        self.out_height = h
        self.out_channels = channels
        self.out_features = h * channels

    def output_lengths(self, lengths: Tensor) -> Tensor:
        """Pixel widths ``(batch,)`` -> feature columns ``(batch,)``."""
        for layer in self.layers:
            lengths = lengths + 2 * layer.padding - layer.kernel + 1
            if layer.pool is not None:
                stride = layer.pool_stride or layer.pool
                lengths = _pooled(lengths, layer.pool[1], stride[1], layer.pool_padding[1])  # type: ignore[assignment]
        return lengths.clamp(min=0)

    def min_width(self) -> int:
        """Narrowest input (px) that yields at least one column."""
        w = 1
        while int(self.output_lengths(torch.tensor([w]))[0]) < 1:
            w += 1
        return w

    def forward(self, inputs: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        x = inputs.permute(0, 2, 3, 1)  # (batch, width, 1, height) -> (batch, 1, height, width)
        if x.shape[-1] < self.min_width():  # a batch of very narrow lines: pad with paper
            x = nn.functional.pad(x, (0, self.min_width() - x.shape[-1]), value=PAPER_VALUE)
        columns = torch.arange(x.shape[-1], device=x.device)
        padded = columns[None, :] >= lengths.to(x.device)[:, None]  # (batch, width)
        x = x.masked_fill(padded[:, None, None, :], PAPER_VALUE)
        y = self.blocks(x)  # (batch, C, H', W')
        B, C, H, W = y.shape
        y = y.permute(0, 3, 2, 1).reshape(B, W, H * C)  # (batch, W', H' * C), rows concatenated
        return y, self.output_lengths(lengths).clamp(max=W)
