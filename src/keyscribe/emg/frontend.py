"""sEMG front end: spectrogram batch norm and the rotation-invariant per-band MLP.

(batch, frames, band, channel, freq) -> (batch, frames, band * mlp_features[-1]), as the
emg2qwerty reference's first modules (module names kept so reference weights map 1:1).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


class SpectrogramNorm(nn.Module):
    """BatchNorm2d per electrode channel, statistics over (batch, freq, frames)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.batch_norm = nn.BatchNorm2d(channels)

    def forward(self, x: Tensor) -> Tensor:
        B, T, bands, C, freq = x.shape  # (batch, frames, band, channel, freq)
        norm = self.batch_norm
        if not self.training and norm.running_var is not None and norm.running_mean is not None:
            # with running statistics the norm is an affine map per electrode channel: applied
            # in place of layout, without the two permuted copies BatchNorm2d's layout needs
            scale = torch.rsqrt(norm.running_var + norm.eps)
            if norm.weight is not None:
                scale = scale * norm.weight
            shift = -norm.running_mean * scale
            if norm.bias is not None:
                shift = shift + norm.bias
            return torch.addcmul(shift.view(bands, C, 1), x, scale.view(bands, C, 1))
        y = x.permute(0, 2, 3, 4, 1).reshape(B, bands * C, freq, T)
        y = self.batch_norm(y)
        return y.reshape(B, bands, C, freq, T).permute(0, 4, 1, 2, 3)


class RotationInvariantMLP(nn.Module):
    """MLP applied to the band at each electrode rotation in ``offsets``, pooled over rotations.

    (batch, frames, channel, freq) -> (batch, frames, mlp_features[-1]). Pooling over rotations
    makes the features insensitive to the band sitting one electrode off between sessions.
    """

    def __init__(
        self,
        in_features: int,
        mlp_features: Sequence[int],
        pooling: str = "mean",
        offsets: Sequence[int] = (-1, 0, 1),
    ) -> None:
        super().__init__()
        if pooling not in ("mean", "max"):
            raise ValueError(f"pooling must be 'mean' or 'max', got {pooling!r}")
        layers: list[nn.Module] = []
        for out_features in mlp_features:
            layers += [nn.Linear(in_features, out_features), nn.ReLU()]
            in_features = out_features
        self.mlp = nn.Sequential(*layers)
        self.pooling = pooling
        self.offsets = tuple(offsets) or (0,)

    def forward(self, x: Tensor) -> Tensor:
        B, T, C, F = x.shape  # (batch, frames, channel, freq)
        first = self.mlp[0]
        assert isinstance(first, nn.Linear)
        # Rolling the input by o equals rolling the first layer's weights by -o along the
        # channel axis, so all rotations come from one matmul without copying the input.
        w = first.weight.view(-1, C, F)  # (out, channel, freq)
        w_rot = torch.cat([w.roll(-o, dims=1) for o in self.offsets]).view(-1, C * F)
        b_rot = first.bias.repeat(len(self.offsets))
        y = nn.functional.linear(x.reshape(B, T, C * F), w_rot, b_rot)  # (batch, frames, rot * out)
        y = self.mlp[1:](y.view(B, T, len(self.offsets), -1))  # (batch, frames, rotation, features)
        if self.pooling == "max":
            return y.max(dim=2).values
        # the mean as a sum of slices: a reduction over a 3-long inner axis is ~5x slower (~8x
        # in bf16) than two elementwise adds
        rotations = y.unbind(dim=2)
        total = rotations[0]
        for rotation in rotations[1:]:
            total = total + rotation
        return total / len(rotations)


class MultiBandRotationInvariantMLP(nn.Module):
    """One RotationInvariantMLP per band: (batch, frames, band, channel, freq) -> (..., band, features)."""

    def __init__(
        self,
        in_features: int,
        mlp_features: Sequence[int],
        pooling: str = "mean",
        offsets: Sequence[int] = (-1, 0, 1),
        num_bands: int = 2,
    ) -> None:
        super().__init__()
        self.mlps = nn.ModuleList(
            RotationInvariantMLP(in_features, mlp_features, pooling, offsets)
            for _ in range(num_bands)
        )

    def forward(self, x: Tensor) -> Tensor:
        bands = x.unbind(2)
        return torch.stack([mlp(b) for mlp, b in zip(self.mlps, bands, strict=True)], dim=2)


class EmgSpectrogramFrontend(nn.Module):
    """Spectrogram norm + per-band rotation-invariant MLP, flattened over bands.

    (batch, frames, band, channel, freq), lengths -> (batch, frames, band * mlp[-1]), lengths.
    """

    def __init__(
        self,
        num_bands: int = 2,
        channels: int = 16,
        freq_bins: int = 33,
        mlp_features: Sequence[int] = (384,),
        pooling: str = "mean",
        offsets: Sequence[int] = (-1, 0, 1),
    ) -> None:
        super().__init__()
        self.norm = SpectrogramNorm(num_bands * channels)
        self.mlp = MultiBandRotationInvariantMLP(
            channels * freq_bins, mlp_features, pooling, offsets, num_bands
        )
        self.out_features = num_bands * list(mlp_features)[-1]

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        x = self.mlp(self.norm(x))  # (batch, frames, band, features)
        return x.flatten(start_dim=2), lengths
