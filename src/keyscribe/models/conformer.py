"""Conformer encoder with rotary positions (beyond the paper's tables; ``conv_kernel`` 0 gives a
Transformer): (batch, time, features), lengths -> (batch, time', d_model), lengths."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from keyscribe.models.encoders import lengths_mask


def apply_rotary(x: Tensor) -> Tensor:
    """Rotary position embedding (Su et al. 2021) on ``(batch, heads, time, head_dim)``: each
    pair of dimensions is rotated by an angle proportional to the frame index, so attention
    scores depend on relative offsets only."""
    T, D = x.shape[-2], x.shape[-1]
    half = D // 2
    inv_freq = 10000.0 ** (-torch.arange(half, device=x.device, dtype=x.dtype) / half)
    angles = torch.arange(T, device=x.device, dtype=x.dtype)[:, None] * inv_freq  # (time, half)
    cos, sin = angles.cos(), angles.sin()
    x1, x2 = x[..., :half], x[..., half : 2 * half]
    rotated = torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)
    return torch.cat([rotated, x[..., 2 * half :]], dim=-1)


class RotarySelfAttention(nn.Module):
    """Multi-head self-attention with rotary positions and a key padding mask.

    (batch, time, dim), valid (batch, time) bool -> (batch, time, dim).
    """

    def __init__(self, dim: int, num_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"num_heads {num_heads} must divide d_model {dim}")
        self.num_heads, self.dropout = num_heads, dropout
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: Tensor, valid: Tensor) -> Tensor:
        B, T, D = x.shape  # (batch, time, dim)
        q, k, v = (
            self.qkv(x).view(B, T, 3, self.num_heads, D // self.num_heads).permute(2, 0, 3, 1, 4)
        )
        q, k = apply_rotary(q), apply_rotary(k)  # (batch, heads, time, head_dim)
        y = nn.functional.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=valid[:, None, None, :],
            dropout_p=self.dropout if self.training else 0.0,
        )
        return self.out(y.transpose(1, 2).reshape(B, T, D))


class ConformerBlock(nn.Module):
    """Conformer block (Gulati et al. 2020): half feed-forward, rotary self-attention, depthwise
    convolution module, half feed-forward, LayerNorm. ``conv_kernel=0`` drops the convolution
    module and gives a pre-norm Transformer block with two half-step feed-forwards.

    (batch, time, dim), valid (batch, time) -> (batch, time, dim).
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        ff_mult: int = 4,
        conv_kernel: int = 15,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()

        def feed_forward() -> nn.Sequential:
            return nn.Sequential(
                nn.LayerNorm(dim),
                nn.Linear(dim, ff_mult * dim),
                nn.SiLU(),
                nn.Dropout(dropout),
                nn.Linear(ff_mult * dim, dim),
                nn.Dropout(dropout),
            )

        self.ff1, self.ff2 = feed_forward(), feed_forward()
        self.attn_norm = nn.LayerNorm(dim)
        self.attn = RotarySelfAttention(dim, num_heads, dropout)
        self.attn_dropout = nn.Dropout(dropout)
        self.conv_kernel = conv_kernel
        if conv_kernel:
            self.conv_norm = nn.LayerNorm(dim)
            self.pointwise_in = nn.Conv1d(dim, 2 * dim, 1)
            self.depthwise = nn.Conv1d(dim, dim, conv_kernel, padding=conv_kernel // 2, groups=dim)
            self.depthwise_norm = nn.LayerNorm(dim)
            self.pointwise_out = nn.Conv1d(dim, dim, 1)
            self.conv_dropout = nn.Dropout(dropout)
        self.out_norm = nn.LayerNorm(dim)

    def _conv(self, x: Tensor, valid: Tensor) -> Tensor:
        y = self.conv_norm(x).transpose(1, 2)  # (batch, dim, time)
        y = nn.functional.glu(self.pointwise_in(y), dim=1)
        # padded frames do not leak into valid ones; an even kernel gives one extra frame
        y = self.depthwise(y * valid[:, None])[..., : x.shape[1]]
        y = nn.functional.silu(self.depthwise_norm(y.transpose(1, 2))).transpose(1, 2)
        return self.conv_dropout(self.pointwise_out(y).transpose(1, 2))  # (batch, time, dim)

    def forward(self, x: Tensor, valid: Tensor) -> Tensor:
        x = x + 0.5 * self.ff1(x)
        x = x + self.attn_dropout(self.attn(self.attn_norm(x), valid))
        if self.conv_kernel:
            x = x + self._conv(x, valid)
        x = x + 0.5 * self.ff2(x)
        return self.out_norm(x)


class ConformerEncoder(nn.Module):
    """Conformer / Transformer encoder with rotary positions (beyond the paper: its "future
    directions" ask for attention-based encoders of long-range dependencies).

    The input is projected to ``d_model`` by a convolution of kernel and stride
    ``time_reduction`` (1: a per-frame linear map), which shortens attention's quadratic cost.
    (batch, time, features), lengths -> (batch, time // time_reduction, d_model), lengths.
    """

    def __init__(
        self,
        num_features: int,
        d_model: int = 144,
        num_layers: int = 4,
        num_heads: int = 4,
        ff_mult: int = 4,
        conv_kernel: int = 15,
        dropout: float = 0.1,
        time_reduction: int = 1,
    ) -> None:
        super().__init__()
        self.time_reduction = time_reduction
        self.project = nn.Conv1d(num_features, d_model, time_reduction, stride=time_reduction)
        self.blocks = nn.ModuleList(
            ConformerBlock(d_model, num_heads, ff_mult, conv_kernel, dropout)
            for _ in range(num_layers)
        )
        self.out_features = d_model

    def output_lengths(self, lengths: Tensor) -> Tensor:
        return lengths // self.time_reduction

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        y = self.project(x.transpose(1, 2)).transpose(1, 2)  # (batch, time', d_model)
        lengths = self.output_lengths(lengths)
        valid = lengths_mask(lengths.clamp(min=1), y.shape[1])  # (batch, time'); never all masked
        for block in self.blocks:
            y = block(y, valid)
        return y * valid[..., None], lengths
