"""The deformable convolution on CPU as compiled loops (numba) around torch's matmuls.

At 1-80 input channels a sampling-based deformable convolution is memory-bound: what costs is
moving the columns (9x the input for a 3x3 kernel) through memory, not the arithmetic. So the op
never holds them whole: it walks the output in tiles of whole rows small enough to stay in the
core's cache, and for each tile

- forward: ``_im2col`` samples the tile's columns (each kernel cell's bilinear point computed
  once and applied to all channels of a channels-last, zero-padded copy of the input) and one
  ``addmm`` multiplies them by the weights into the output;
- backward: ``_im2col`` samples the columns again (cheaper than keeping them), ``addmm_`` adds
  their product with the output gradient to the weight gradient, one ``mm`` gives their gradient,
  and ``_col2im`` scatters it into the input's 4 corners while summing the offsets' gradient
  over the channels, in one pass.

Sampling positions are clamped into the zero border (1 row/column before, 2 after), so a point
outside the image reads zeros and gets a zero offset gradient, as with ``nn.Conv2d``'s zero
padding and in the pure-torch paths of ``models.deformable``, the reference the tests compare
with. The loops are serial (numba's ``parallel=False``; the matmuls use torch's threads), run in
float32 (float64 for float64 input), and are compiled on first use and cached on disk
(``cache=True``): no C++ compiler at run time.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numba
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["deform_conv2d_cpu"]

BLOCK = 16  # channels per vectorised step: one AVX-512 register of float32
TILE_ELEMENTS = (
    1 << 18
)  # column values per tile (1 MB of float32): big enough for the matmuls' pace
_JIT = dict(cache=True, nogil=True, fastmath={"reassoc", "contract", "nsz"}, error_model="numpy")


@numba.njit(**_JIT, inline="always")
def _point(yu, xu, ymax, xmax):  # pragma: no cover - compiled
    """A sampling point (yu, xu) in the padded table -> its top-left corner (y0, x0), the
    fractions (ly, lx), and 0 (NaN for a NaN or infinite position, to be added to the weights)."""
    y = yu if yu > 0.0 else 0.0  # NaN -> 0 here, then NaN weights
    x = xu if xu > 0.0 else 0.0
    y = y if y < ymax else ymax
    x = x if x < xmax else xmax
    y0, x0 = math.floor(y), math.floor(x)
    finite = abs(yu) < 1e30 and abs(xu) < 1e30  # False for NaN (fastmath would fold yu - yu)
    return y0, x0, y - y0, x - x0, 0.0 if finite else np.nan


@numba.njit(**_JIT, inline="always")
def _scatter(dst, d, src, q, weight, c_):  # pragma: no cover - compiled
    """dst[d, :] += weight * src[q, :], in blocks of constant length (each one vector op)."""
    for c0 in range(0, c_ - c_ % BLOCK, BLOCK):
        for c in range(c0, c0 + BLOCK):
            dst[d, c] += weight * src[q, c]
    for c in range(c_ - c_ % BLOCK, c_):
        dst[d, c] += weight * src[q, c]


@numba.njit(**_JIT)
def _im2col(table, hp, wp, offset, base_y, base_x, n, i0, i1, cols):  # pragma: no cover
    """Columns of output rows i0 <= i < i1 of image n: row ``((i - i0) * Wo + j) * K + k`` of
    cols (rows, C) samples kernel cell k of output (i, j).

    table (N*Hp*Wp, C): the zero-padded channels-last input; offset (N, 2K, Ho, Wo); base_y
    (Ho, K), base_x (K, Wo): the undeformed positions in the table."""
    k2, wo = offset.shape[1], offset.shape[3]
    k_, c_ = k2 // 2, table.shape[1]
    dt = table.dtype.type
    ymax, xmax = hp - 2, wp - 2
    for i in range(i0, i1):
        for j in range(wo):
            for k in range(k_):
                yu = base_y[i, k] + offset[n, 2 * k, i, j]
                xu = base_x[k, j] + offset[n, 2 * k + 1, i, j]
                y0, x0, ly, lx, nan = _point(yu, xu, ymax, xmax)
                w00, w01 = dt((1 - ly) * (1 - lx) + nan), dt((1 - ly) * lx + nan)
                w10, w11 = dt(ly * (1 - lx) + nan), dt(ly * lx + nan)
                p = (n * hp + y0) * wp + x0
                p1, p2, p3 = p + 1, p + wp, p + wp + 1
                q = ((i - i0) * wo + j) * k_ + k
                if c_ == 1:  # one channel: straight-line code, no loop to set up
                    cols[q, 0] = (
                        w00 * table[p, 0]
                        + w01 * table[p1, 0]
                        + w10 * table[p2, 0]
                        + w11 * table[p3, 0]
                    )
                    continue
                for c0 in range(0, c_ - c_ % BLOCK, BLOCK):  # constant trip counts
                    for c in range(c0, c0 + BLOCK):
                        cols[q, c] = (
                            w00 * table[p, c]
                            + w01 * table[p1, c]
                            + w10 * table[p2, c]
                            + w11 * table[p3, c]
                        )
                for c in range(c_ - c_ % BLOCK, c_):
                    cols[q, c] = (
                        w00 * table[p, c]
                        + w01 * table[p1, c]
                        + w10 * table[p2, c]
                        + w11 * table[p3, c]
                    )


@numba.njit(**_JIT)
def _col2im(
    table, hp, wp, offset, base_y, base_x, n, i0, i1, grad_cols, grad_table, grad_offset
):  # pragma: no cover - compiled
    """The backward of ``_im2col`` for the same rows: adds into grad_table (N*Hp*Wp, C) unless
    it is empty, and writes grad_offset[n, :, i0:i1] (zero where the position was clamped)."""
    k2, wo = offset.shape[1], offset.shape[3]
    k_, c_ = k2 // 2, table.shape[1]
    dt = table.dtype.type
    ymax, xmax = hp - 2, wp - 2
    input_grad = grad_table.shape[0] > 0
    for i in range(i0, i1):
        for j in range(wo):
            for k in range(k_):
                yu = base_y[i, k] + offset[n, 2 * k, i, j]
                xu = base_x[k, j] + offset[n, 2 * k + 1, i, j]
                y0, x0, ly64, lx64, nan = _point(yu, xu, ymax, xmax)
                ly, lx = dt(ly64), dt(lx64)
                w00, w01 = dt((1 - ly64) * (1 - lx64) + nan), dt((1 - ly64) * lx64 + nan)
                w10, w11 = dt(ly64 * (1 - lx64) + nan), dt(ly64 * lx64 + nan)
                p = (n * hp + y0) * wp + x0
                p1, p2, p3 = p + 1, p + wp, p + wp + 1
                q = ((i - i0) * wo + j) * k_ + k
                if c_ == 1:  # one channel: straight-line code, no loops to set up
                    g = grad_cols[q, 0]
                    if input_grad:
                        grad_table[p, 0] += w00 * g
                        grad_table[p1, 0] += w01 * g
                        grad_table[p2, 0] += w10 * g
                        grad_table[p3, 0] += w11 * g
                    t00, t01, t10, t11 = table[p, 0], table[p1, 0], table[p2, 0], table[p3, 0]
                    d0, d1 = t01 - t00, t11 - t10
                    gx = g * (d0 + ly * (d1 - d0))
                    gy = g * ((t10 - t00) + lx * (d1 - d0))
                else:
                    if input_grad:
                        _scatter(grad_table, p, grad_cols, q, w00, c_)
                        _scatter(grad_table, p1, grad_cols, q, w01, c_)
                        _scatter(grad_table, p2, grad_cols, q, w10, c_)
                        _scatter(grad_table, p3, grad_cols, q, w11, c_)
                    # d(value)/d(ly) and d(value)/d(lx), summed over the channels
                    gy = ly - ly
                    gx = gy
                    for c0 in range(0, c_ - c_ % BLOCK, BLOCK):
                        for c in range(c0, c0 + BLOCK):
                            t00, t01 = table[p, c], table[p1, c]
                            t10, t11 = table[p2, c], table[p3, c]
                            d0, d1 = t01 - t00, t11 - t10
                            gx += grad_cols[q, c] * (d0 + ly * (d1 - d0))
                            gy += grad_cols[q, c] * ((t10 - t00) + lx * (d1 - d0))
                    for c in range(c_ - c_ % BLOCK, c_):
                        t00, t01, t10, t11 = table[p, c], table[p1, c], table[p2, c], table[p3, c]
                        d0, d1 = t01 - t00, t11 - t10
                        gx += grad_cols[q, c] * (d0 + ly * (d1 - d0))
                        gy += grad_cols[q, c] * ((t10 - t00) + lx * (d1 - d0))
                # a clamped position passes no gradient
                grad_offset[n, 2 * k, i, j] = gy if 0.0 <= yu <= ymax else 0.0
                grad_offset[n, 2 * k + 1, i, j] = gx if 0.0 <= xu <= xmax else 0.0


@lru_cache(maxsize=64)
def _base(
    out_hw: tuple[int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
    dtype: torch.dtype,
) -> tuple[np.ndarray, np.ndarray]:
    """Undeformed positions in the padded table (+1: its border): y (H_out, K), x (K, W_out)."""
    (ho, wo), (kh, kw) = out_hw, kernel
    ky = (torch.arange(kh) * dilation[0]).repeat_interleave(kw)  # (K,)
    kx = (torch.arange(kw) * dilation[1]).repeat(kh)
    y = (torch.arange(ho) * stride[0] - padding[0] + 1)[:, None] + ky
    x = (torch.arange(wo) * stride[1] - padding[1] + 1)[:, None] + kx
    return y.to(dtype).numpy(), x.t().contiguous().to(dtype).numpy()


def _tiles(n: int, ho: int, row_elements: int) -> list[tuple[int, int, int]]:
    """(image, first row, end row) tiles of at most TILE_ELEMENTS column values (>= 1 row)."""
    rows = max(1, TILE_ELEMENTS // row_elements)
    return [(b, i, min(i + rows, ho)) for b in range(n) for i in range(0, ho, rows)]


def _onednn_linear() -> bool:
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")


ONEDNN = _onednn_linear()


def _linear(x: Tensor, w: Tensor, bias: Tensor | None = None) -> Tensor:
    """x (M, K) @ w (N, K).T (+ bias): oneDNN's matmul for float32 where torch has it (about 2x
    MKL's single-thread rate on AMD CPUs, whose AVX-512 MKL does not use), else F.linear."""
    if ONEDNN and x.dtype == torch.float32:
        return torch.ops.mkldnn._linear_pointwise(x, w, bias, "none", [], "")
    return F.linear(x, w, bias)


class _DeformConv2d(torch.autograd.Function):
    """input (N, C, H, W), offset (N, 2K, Ho, Wo), weight (O, C, kh, kw), bias (O,) or None ->
    (N, O, Ho, Wo) in channels-last memory; all in one float dtype, autocast off inside."""

    @staticmethod
    def forward(ctx, input, offset, weight, bias, geometry, out_hw):
        n, c, h, w = input.shape
        o, (ho, wo), k = weight.shape[0], out_hw, weight.shape[2] * weight.shape[3]
        table = input.new_zeros(n, h + 3, w + 3, c)
        table[:, 1 : h + 1, 1 : w + 1] = input.detach().permute(0, 2, 3, 1)
        offset = offset.detach()
        w2d = weight.detach().permute(0, 2, 3, 1).reshape(o, k * c)  # (O, K*C)
        b = None if bias is None else bias.detach()
        out = input.new_empty(n * ho * wo, o)
        tiles = _tiles(n, ho, wo * k * c)
        cols = input.new_empty((tiles[0][2] - tiles[0][1]) * wo * k, c)
        sampling = _sampling(table, offset, geometry, out_hw)
        with torch.autocast("cpu", enabled=False):
            for n_, i0, i1 in tiles:
                rows, at = (i1 - i0) * wo, (n_ * ho + i0) * wo
                tile = cols[: rows * k]
                _im2col(*sampling, n_, i0, i1, tile.numpy())
                out[at : at + rows] = _linear(tile.view(rows, k * c), w2d, b)
        ctx.save_for_backward(table, offset, weight)
        ctx.geometry, ctx.out_hw, ctx.has_bias = geometry, out_hw, bias is not None
        return out.view(n, ho, wo, o).permute(0, 3, 1, 2)

    @staticmethod
    def backward(ctx, grad_out):
        table, offset, weight = ctx.saved_tensors
        n, hp, wp, c = table.shape
        o, (ho, wo), k = weight.shape[0], ctx.out_hw, weight.shape[2] * weight.shape[3]
        need_input, need_offset, need_weight, need_bias = ctx.needs_input_grad[:4]
        grad_rows = grad_out.permute(0, 2, 3, 1).reshape(n * ho * wo, o)  # free if channels-last
        w2d_t = weight.permute(2, 3, 1, 0).reshape(k * c, o)  # (K*C, O)
        grad_table = torch.zeros_like(table) if need_input else table.new_empty(0, 1, 1, c)
        grad_offset = torch.zeros_like(offset, memory_format=torch.contiguous_format)
        grad_w2d = table.new_zeros(o, k * c) if need_weight else None
        tiles = _tiles(n, ho, wo * k * c)
        cols = table.new_empty((tiles[0][2] - tiles[0][1]) * wo * k, c)
        sampling = _sampling(table, offset, ctx.geometry, ctx.out_hw)
        with torch.autocast("cpu", enabled=False):
            for n_, i0, i1 in tiles:
                rows, at = (i1 - i0) * wo, (n_ * ho + i0) * wo
                grad_tile = grad_rows[at : at + rows]
                if need_weight:
                    tile = cols[: rows * k]
                    _im2col(*sampling, n_, i0, i1, tile.numpy())
                    tile = tile.view(rows, k * c)
                    if k * c < 32:  # tiny inner dimension: MKL with the columns transposed
                        grad_w2d.t().addmm_(tile.t(), grad_tile)
                    else:
                        grad_w2d += _linear(grad_tile.t(), tile.t())
                if need_input or need_offset:
                    grad_cols = _linear(grad_tile, w2d_t).view(rows * k, c)
                    _col2im(
                        *sampling, n_, i0, i1, grad_cols.numpy(), grad_table.view(-1, c).numpy(),
                        grad_offset.numpy(),
                    )  # fmt: skip
        grad_input = (
            grad_table[:, 1 : hp - 2, 1 : wp - 2].permute(0, 3, 1, 2) if need_input else None
        )
        grad_weight = None
        if need_weight:
            grad_weight = grad_w2d.view(o, *weight.shape[2:], c).permute(0, 3, 1, 2)
        grad_bias = grad_rows.sum(0) if ctx.has_bias and need_bias else None
        return grad_input, grad_offset if need_offset else None, grad_weight, grad_bias, None, None


def _sampling(table: Tensor, offset: Tensor, geometry: tuple, out_hw: tuple[int, int]) -> tuple:
    """The arguments ``_im2col`` and ``_col2im`` share, as numpy views."""
    n, hp, wp, c = table.shape
    base_y, base_x = _base(out_hw, *geometry, table.dtype)
    return table.view(-1, c).numpy(), hp, wp, offset.numpy(), base_y, base_x


def deform_conv2d_cpu(
    input: Tensor,
    offset: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
    out_hw: tuple[int, int],
) -> Tensor:
    """``models.deformable.deform_conv2d`` on CPU tensors (arguments checked there): computed in
    float32 (float64 for float64 input), returned in the input's dtype, channels-last memory."""
    dtype = torch.float64 if input.dtype == torch.float64 else torch.float32
    geometry = (tuple(weight.shape[2:]), stride, padding, dilation)
    offset = offset.contiguous()  # read along output rows; channels-last offsets would stride
    args = [t if t is None else t.to(dtype) for t in (input, offset, weight, bias)]
    out = _DeformConv2d.apply(*args, geometry, out_hw)
    return out.to(input.dtype)
