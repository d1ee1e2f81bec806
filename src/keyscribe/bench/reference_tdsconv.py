"""The TDSConv encoder as emg2qwerty's ``modules.py`` formulates it: time-first ``(T, N, C)``
tensors and 2-D ``(1, k)`` convolutions over ``(N, channels, width, T)``. Written here (not
imported) so ``bench train_throughput`` can time it beside ours on the same weights."""

from __future__ import annotations

from torch import Tensor, nn

from keyscribe.models.encoders import TDSConv2dBlock, TDSConvEncoder


class ReferenceTDSConv2dBlock(nn.Module):
    """(T, N, C) -> (T - k + 1, N, C): the (1, k) Conv2d over (N, channels, width, T)."""

    def __init__(self, channels: int, width: int, kernel_width: int) -> None:
        super().__init__()
        self.channels, self.width = channels, width
        self.conv2d = nn.Conv2d(channels, channels, kernel_size=(1, kernel_width))
        self.relu = nn.ReLU()
        self.layer_norm = nn.LayerNorm(channels * width)

    def forward(self, inputs: Tensor) -> Tensor:
        T_in, N, C = inputs.shape  # (time, batch, channels * width)
        x = inputs.movedim(0, -1).reshape(N, self.channels, self.width, T_in)
        x = self.relu(self.conv2d(x))  # (N, channels, width, T_out)
        x = x.reshape(N, C, -1).movedim(-1, 0)  # (T_out, N, C)
        return self.layer_norm(x + inputs[-x.shape[0] :])


class ReferenceTDSFullyConnectedBlock(nn.Module):
    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.fc_block = nn.Sequential(
            nn.Linear(num_features, num_features), nn.ReLU(), nn.Linear(num_features, num_features)
        )
        self.layer_norm = nn.LayerNorm(num_features)

    def forward(self, x: Tensor) -> Tensor:
        return self.layer_norm(self.fc_block(x) + x)


class ReferenceTDSConvEncoder(nn.Module):
    """Same parameters (same state_dict keys) as TDSConvEncoder; runs time-first inside.

    (batch, time, features), lengths -> (batch, time - trim, features), lengths - trim."""

    def __init__(self, ours: TDSConvEncoder) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        for block in ours.blocks:
            if isinstance(block, TDSConv2dBlock):
                kernel_width = block.conv2d.kernel_size[1]
                blocks.append(ReferenceTDSConv2dBlock(block.channels, block.width, kernel_width))
            else:
                blocks.append(ReferenceTDSFullyConnectedBlock(ours.out_features))
        self.blocks = nn.Sequential(*blocks)
        self.trim, self.out_features = ours.trim, ours.out_features
        self.load_state_dict(ours.state_dict())

    def output_lengths(self, lengths: Tensor) -> Tensor:
        return (lengths - self.trim).clamp(min=0)

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        y = self.blocks(x.transpose(0, 1)).transpose(0, 1)  # time-first inside, as emg2qwerty
        return y, self.output_lengths(lengths)
