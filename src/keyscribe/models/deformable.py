"""Deformable convolution (Dai et al. 2017) in plain PyTorch, no torchvision.

Each kernel cell ``k = i * kw + j`` of the output position ``(h, w)`` samples the input at

    y = h * stride_h - pad_h + i * dilation_h + offset[:, 2k]
    x = w * stride_w - pad_w + j * dilation_w + offset[:, 2k + 1]

with bilinear interpolation; input pixels outside the image count as zeros (so zero offsets give
exactly ``nn.Conv2d`` with zero padding). The offset channel layout ``(dy, dx)`` per cell is the
one torchvision and the original implementation use.

Implementation: the deformed "columns" (every input channel at every kernel cell's sampling
point) are multiplied by the weights. Three ways, picked by ``method="auto"``:

- ``kernel`` (CPU, from 16 input channels, needs numba): ``models.deformable_kernel``, compiled
  loops that sample each point once for all channels and never hold the whole columns, around
  oneDNN matmuls, with a fused backward (col2im scatter and offset gradient in one pass).
- ``grid_sample`` (CUDA, and CPU below 16 channels or without numba): one ``F.grid_sample``
  call and one batched matmul; its fused kernel computes the positions once per point.
- ``gather`` (CPU without numba, from 48 channels): ``F.embedding_bag`` over a channels-last
  table of pixels (4 weighted corners per point), one matmul.

The two torch paths are the reference the kernel is tested against, and the fallback where numba
is missing or the graph is traced (ONNX export, torch.compile). Tried and dropped as slower on
CPU: index_select + weighted sums, index_add_ backward, sparse CSR matmul. Figures in
docs/benchmarks.md (bench/deformable.py).
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["DeformConv2d", "deform_conv2d", "kernel_available"]

IntPair = int | tuple[int, int]

# From bench/deformable.py on 2 EPYC cores, one thread: gather beats grid_sample from about 48
# channels; the compiled kernel beats both from 16 (at 1-8 channels grid_sample is faster).
AUTO_GATHER_CHANNELS = 48
AUTO_KERNEL_CHANNELS = 16


def _pair(value: IntPair, name: str) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) for v in pair):
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    return pair[0], pair[1]


def _out_size(size: int, kernel: int, stride: int, pad: int, dilation: int) -> int:
    return (size + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1


@lru_cache(maxsize=64)
def _gather_plan(
    hw: tuple[int, int],
    out_hw: tuple[int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
    device: torch.device,
    dtype: torch.dtype,
) -> tuple[Tensor, Tensor, Tensor]:
    """Undeformed sampling positions in the zero-padded input (1 row/column before, 2 after):
    y (H_out, 1, K) and x (1, W_out, K), and the flat-index steps of the 4 bilinear corners."""
    w, (ho, wo), (kh, kw) = hw[1], out_hw, kernel
    ky = (torch.arange(kh) * dilation[0]).repeat_interleave(kw)  # (K,)
    kx = (torch.arange(kw) * dilation[1]).repeat(kh)
    py = torch.arange(ho) * stride[0] - padding[0] + 1  # +1: the padded border
    px = torch.arange(wo) * stride[1] - padding[1] + 1
    y = (py[:, None, None] + ky[None, None, :]).to(device=device, dtype=dtype)
    x = (px[None, :, None] + kx[None, None, :]).to(device=device, dtype=dtype)
    corners = torch.tensor([0, 1, w + 3, w + 4], device=device)
    return y, x, corners


def _pad_hw(hw: tuple[int, int]) -> tuple[int, int]:
    return hw[0] + 3, hw[1] + 3


def deform_conv2d(
    input: Tensor,
    offset: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: IntPair = 0,
    dilation: IntPair = 1,
    method: str = "auto",
) -> Tensor:
    """Deformable 2-D convolution with bilinear sampling.

    input (N, C, H, W); offset (N, 2*kh*kw, H_out, W_out), channel 2k = dy and 2k+1 = dx of
    kernel cell k (row-major); weight (O, C, kh, kw); bias (O,) or None. Returns (N, O, H_out, W_out)
    (in channels-last memory layout with ``method="kernel"`` or ``"gather"``).

    ``method="kernel"``: compiled CPU loops (numba) around oneDNN matmuls, computed in float32
    (float64 for float64 input) and returned in the input's dtype; fastest on CPU from ~16
    channels. ``method="gather"``: the input, zero-padded and channels-last, is a table of pixel
    vectors; ``F.embedding_bag`` sums the 4 bilinear corners of every sampling point with their
    weights, giving (N*H_out*W_out, kh*kw*C) columns for one matmul.
    ``method="grid_sample"``: one ``F.grid_sample`` call, then one batched matmul; fastest on CPU
    for few channels (its fused kernel computes the sampling positions once per point).
    ``method="auto"`` (default): grid_sample on CUDA; on CPU the kernel from 16 input channels
    when numba is installed and nothing traces the graph, else grid_sample below 48 channels
    and gather from 48.
    """
    stride, padding, dilation = (
        _pair(stride, "stride"),
        _pair(padding, "padding"),
        _pair(dilation, "dilation"),
    )
    if input.dim() != 4 or weight.dim() != 4:
        raise ValueError(
            f"expected 4-D input and weight, got {tuple(input.shape)} and {tuple(weight.shape)}"
        )
    n, c, h, w = input.shape
    o, cw, kh, kw = weight.shape
    if cw != c:
        raise ValueError(f"weight expects {cw} input channels, input has {c}")
    ho = _out_size(h, kh, stride[0], padding[0], dilation[0])
    wo = _out_size(w, kw, stride[1], padding[1], dilation[1])
    if ho < 1 or wo < 1:
        raise ValueError(f"input {h}x{w} is too small for kernel {kh}x{kw} with padding {padding}")
    k = kh * kw
    if tuple(offset.shape) != (n, 2 * k, ho, wo):
        raise ValueError(f"offset must have shape {(n, 2 * k, ho, wo)}, got {tuple(offset.shape)}")
    args = (input, offset, weight, bias, stride, padding, dilation, (ho, wo))
    if method == "auto":
        method = _auto_method(input, c)
    if method == "kernel":
        kernel = _kernel_module()
        if kernel is None or input.device.type != "cpu":
            raise ValueError("method='kernel' needs numba and CPU tensors")
        return kernel.deform_conv2d_cpu(*args)
    if method == "gather":
        return _deform_gather(*args)
    if method == "grid_sample":
        return _deform_grid_sample(*args)
    raise ValueError(f"method must be 'auto', 'kernel', 'gather' or 'grid_sample', got {method!r}")


@lru_cache(maxsize=1)
def _kernel_module():
    """``models.deformable_kernel`` when numba is installed, else None (the torch paths)."""
    try:
        from keyscribe.models import deformable_kernel
    except ImportError:
        return None
    return deformable_kernel


def kernel_available() -> bool:
    """Whether the compiled CPU path (``method="kernel"``) can run here: numba is installed."""
    return _kernel_module() is not None


def _auto_method(input: Tensor, channels: int) -> str:
    if input.device.type != "cpu":
        return "grid_sample"
    tracing = torch.jit.is_tracing() or torch.jit.is_scripting() or torch.compiler.is_compiling()
    if channels >= AUTO_KERNEL_CHANNELS and not tracing and _kernel_module() is not None:
        return "kernel"
    return "gather" if channels >= AUTO_GATHER_CHANNELS else "grid_sample"


class _TableGrad(torch.autograd.Function):
    """Identity on the sampled columns; its backward sends their gradient to the table rows the
    bilinear corners read.

    Corner j of sampling point r reads table row ``flat[r] + shift[j]``, so one stable sort of
    ``flat`` (a quarter of the corner indices) groups the points by row; one ``embedding_bag``
    with a bag per (corner, row) sums their weighted gradients (the transposed gather), and each
    corner's sums are added in at the corner's shift.
    On CPU this beats both embedding_bag's own backward (a sort of all corner indices) and
    ``index_add_``.
    """

    @staticmethod
    def forward(
        ctx, cols: Tensor, table: Tensor, flat: Tensor, weights: Tensor, shifts: tuple[int, ...]
    ) -> Tensor:
        ctx.save_for_backward(flat, weights)
        ctx.rows = table.shape[0]
        ctx.shifts = shifts
        return cols.view_as(cols)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, Tensor | None, None, None, None]:
        flat, weights = ctx.saved_tensors
        grad_table = None
        if ctx.needs_input_grad[1]:
            order = torch.sort(flat, stable=True).indices
            counts = torch.bincount(flat, minlength=ctx.rows)
            starts = torch.cumsum(counts, 0) - counts
            # one call: bag (corner, row) of 4 * rows bags
            rows, r = ctx.rows, flat.shape[0]
            index = order.repeat(4)
            offsets = (
                starts.unsqueeze(0) + torch.arange(4, device=flat.device).unsqueeze(1) * r
            ).view(-1)
            bags = F.embedding_bag(
                index, grad, offsets, mode="sum", per_sample_weights=weights[order].t().reshape(-1)
            ).view(4, rows, -1)
            grad_table = bags[0].clone()
            for corner, shift in enumerate(ctx.shifts[1:], start=1):
                grad_table[shift:] += bags[corner, : rows - shift]
        return grad, grad_table, None, None, None


def _deform_gather(input, offset, weight, bias, stride, padding, dilation, out_hw):
    n, c, h, w = input.shape
    o, _, kh, kw = weight.shape
    (ho, wo), k = out_hw, kh * kw
    hp, wp = _pad_hw((h, w))
    # sampling positions in float32 at least: half precision cannot hold x + 0.3 at x ~ 1000
    pos_dtype = torch.float64 if input.dtype == torch.float64 else torch.float32
    base_y, base_x, corners = _gather_plan(
        (h, w), out_hw, (kh, kw), stride, padding, dilation, input.device, pos_dtype
    )
    # (N, H_out, W_out, K, 2): free when the offset conv ran channels-last
    off = offset.permute(0, 2, 3, 1).to(pos_dtype).contiguous().view(n, ho, wo, k, 2)
    # Positions in the padded input, clamped into its zero border: a point outside the image
    # then reads zeros (value and gradient), exactly as with unbounded zero padding.
    y = (base_y + off[..., 0]).clamp_(0, hp - 2)
    x = (base_x + off[..., 1]).clamp_(0, wp - 2)
    y0, x0 = y.detach().floor(), x.detach().floor()
    ly, lx = y - y0, x - x0
    wy = torch.stack((1 - ly, ly), dim=-1)  # (..., 2)
    wx = torch.stack((1 - lx, lx), dim=-1)
    weights = (wy.unsqueeze(-1) * wx.unsqueeze(-2)).view(-1, 4).to(input.dtype)  # 00 01 10 11
    batch = torch.arange(n, device=input.device).view(n, 1, 1, 1) * (hp * wp)
    flat = torch.addcmul(x0, y0, torch.tensor(float(wp), dtype=y0.dtype, device=y0.device))
    if hp * wp >= 2**24 and flat.dtype != torch.float64:  # beyond exact float32 integers
        flat = y0.long() * wp + x0.long()
    flat = flat.long().add_(batch).view(-1)
    index = flat.unsqueeze(1) + corners  # (N*L*K, 4)
    table = F.pad(input, (1, 2, 1, 2)).permute(0, 2, 3, 1).reshape(n * hp * wp, c)
    cols = F.embedding_bag(index, table.detach(), per_sample_weights=weights, mode="sum")
    if table.requires_grad:
        cols = _TableGrad.apply(cols, table, flat, weights.detach(), (0, 1, wp, wp + 1))
    cols = cols.view(n * ho * wo, k * c)
    w2d = weight.permute(0, 2, 3, 1).reshape(o, k * c)
    out = cols @ w2d.t() if bias is None else torch.addmm(bias, cols, w2d.t())
    return out.view(n, ho, wo, o).permute(0, 3, 1, 2)


@lru_cache(maxsize=64)
def _base_grid(
    hw: tuple[int, int],
    out_hw: tuple[int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
    device: torch.device,
    dtype: torch.dtype,
) -> tuple[Tensor, Tensor]:
    """The undeformed sampling grid in grid_sample units, (kh*kw, H_out, W_out, 2) as (x, y),
    and the scale turning pixel offsets (x, y) into those units."""
    (h, w), (ho, wo), (kh, kw) = hw, out_hw, kernel
    f64 = torch.float64
    ky = (torch.arange(kh, dtype=f64) * dilation[0]).repeat_interleave(kw)  # (K,)
    kx = (torch.arange(kw, dtype=f64) * dilation[1]).repeat(kh)
    py = torch.arange(ho, dtype=f64) * stride[0] - padding[0]  # (H_out,)
    px = torch.arange(wo, dtype=f64) * stride[1] - padding[1]
    y = (ky[:, None, None] + py[None, :, None]).expand(-1, ho, wo)
    x = (kx[:, None, None] + px[None, None, :]).expand(-1, ho, wo)
    # align_corners=False: pixel p sits at (2p + 1) / size - 1; also right for size 1
    grid = torch.stack(((2 * x + 1) / w - 1, (2 * y + 1) / h - 1), dim=-1)
    scale = torch.tensor([2.0 / w, 2.0 / h], dtype=f64)
    return grid.to(device=device, dtype=dtype), scale.to(device=device, dtype=dtype)


def _deform_grid_sample(input, offset, weight, bias, stride, padding, dilation, out_hw):
    n, c, h, w = input.shape
    o, _, kh, kw = weight.shape
    (ho, wo), k = out_hw, kh * kw
    base, scale = _base_grid(
        (h, w), out_hw, (kh, kw), stride, padding, dilation, input.device, input.dtype
    )
    # (N, K, 2=(dy, dx), H_out, W_out) -> (N, K, H_out, W_out, 2=(dx, dy)) in grid units
    off = offset.reshape(n, k, 2, ho, wo).flip(2).permute(0, 1, 3, 4, 2)
    grid = torch.addcmul(base, off, scale).view(n, k * ho, wo, 2)
    cols = F.grid_sample(input, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    # (N, C, K*H_out, W_out) is already (N, C*K, L) in memory, the order of weight.view(O, C*K)
    cols = cols.view(n, c * k, ho * wo)
    w2d = weight.reshape(o, c * k)
    if bias is None:
        out = torch.matmul(w2d, cols)
    else:
        out = torch.baddbmm(bias.view(1, o, 1).expand(n, o, ho * wo), w2d.expand(n, o, c * k), cols)
    return out.view(n, o, ho, wo)


class DeformConv2d(nn.Module):
    """A deformable convolution that owns its offset convolution.

    The offset convolution (same kernel, stride, padding and dilation; 2 offsets per kernel cell)
    starts at zero, so a fresh layer computes exactly ``nn.Conv2d`` with the same weights.
    ``last_offsets`` holds the detached offsets of the latest forward, (N, 2*kh*kw, H_out, W_out),
    for figures.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntPair,
        stride: IntPair = 1,
        padding: IntPair = 0,
        dilation: IntPair = 1,
        bias: bool = True,
    ) -> None:
        super().__init__()
        if in_channels < 1 or out_channels < 1:
            raise ValueError("in_channels and out_channels must be positive")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.stride = _pair(stride, "stride")
        self.padding = _pair(padding, "padding")
        self.dilation = _pair(dilation, "dilation")
        kh, kw = self.kernel_size
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kh, kw))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.offset_conv = nn.Conv2d(
            in_channels, 2 * kh * kw, self.kernel_size, self.stride, self.padding, self.dilation
        )
        self.last_offsets: Tensor | None = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """nn.Conv2d's initialisation for the weights; zeros for the offset convolution."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.in_channels * self.kernel_size[0] * self.kernel_size[1]
            bound = 1 / math.sqrt(fan_in)
            nn.init.uniform_(self.bias, -bound, bound)
        nn.init.zeros_(self.offset_conv.weight)
        if self.offset_conv.bias is not None:
            nn.init.zeros_(self.offset_conv.bias)

    def forward(self, x: Tensor) -> Tensor:
        offset = self.offset_conv(x)
        self.last_offsets = offset.detach()
        return deform_conv2d(
            x, offset, self.weight, self.bias, self.stride, self.padding, self.dilation
        )

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, dilation={self.dilation}, "
            f"bias={self.bias is not None}"
        )
