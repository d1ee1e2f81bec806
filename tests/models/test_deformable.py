"""DeformConv2d / deform_conv2d: loop parity, gradcheck, zero and integer offsets vs nn.Conv2d."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from keyscribe.models import deformable
from keyscribe.models.deformable import DeformConv2d, deform_conv2d

HAS_NUMBA = deformable.kernel_available()
needs_numba = pytest.mark.skipif(not HAS_NUMBA, reason="numba is not installed")
METHODS = ["gather", "grid_sample", pytest.param("kernel", marks=needs_numba)]


def loop_deform_conv2d(x, offset, weight, bias, stride, padding, dilation):
    """Direct, unvectorised Dai et al. deformable convolution (bilinear, zeros outside)."""
    n, c, h, w = x.shape
    o, _, kh, kw = weight.shape
    ho, wo = offset.shape[2:]
    out = torch.zeros(n, o, ho, wo, dtype=x.dtype)

    def pixel(b, yy, xx):
        if 0 <= yy < h and 0 <= xx < w:
            return x[b, :, yy, xx]
        return torch.zeros(c, dtype=x.dtype)

    for b in range(n):
        for i in range(ho):
            for j in range(wo):
                acc = torch.zeros(o, dtype=x.dtype)
                for ki in range(kh):
                    for kj in range(kw):
                        k = ki * kw + kj
                        py = (
                            i * stride[0]
                            - padding[0]
                            + ki * dilation[0]
                            + offset[b, 2 * k, i, j].item()
                        )
                        px = (
                            j * stride[1]
                            - padding[1]
                            + kj * dilation[1]
                            + offset[b, 2 * k + 1, i, j].item()
                        )
                        y0, x0 = math.floor(py), math.floor(px)
                        ly, lx = py - y0, px - x0
                        val = (
                            (1 - ly) * (1 - lx) * pixel(b, y0, x0)
                            + (1 - ly) * lx * pixel(b, y0, x0 + 1)
                            + ly * (1 - lx) * pixel(b, y0 + 1, x0)
                            + ly * lx * pixel(b, y0 + 1, x0 + 1)
                        )
                        acc += weight[:, :, ki, kj] @ val
                out[b, :, i, j] = acc + (bias if bias is not None else 0)
    return out


def _out(size, k, s, p, d):
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    ("kernel", "stride", "padding", "dilation", "hw"),
    [
        ((3, 3), (1, 1), (1, 1), (1, 1), (5, 7)),
        ((2, 2), (1, 1), (0, 0), (1, 1), (4, 6)),
        ((3, 2), (2, 1), (1, 0), (1, 2), (7, 6)),
    ],
)
def test_matches_loop_implementation(method, kernel, stride, padding, dilation, hw):
    g = torch.Generator().manual_seed(0)
    n, c, o = 2, 3, 4
    x = torch.randn(n, c, *hw, generator=g, dtype=torch.float64)
    weight = torch.randn(o, c, *kernel, generator=g, dtype=torch.float64)
    bias = torch.randn(o, generator=g, dtype=torch.float64)
    ho, wo = (_out(hw[a], kernel[a], stride[a], padding[a], dilation[a]) for a in range(2))
    # large offsets: many sampling points fall partly or wholly outside the image
    offset = 2.5 * torch.randn(
        n, 2 * kernel[0] * kernel[1], ho, wo, generator=g, dtype=torch.float64
    )
    got = deform_conv2d(x, offset, weight, bias, stride, padding, dilation, method=method)
    want = loop_deform_conv2d(x, offset, weight, bias, stride, padding, dilation)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("stride", "padding"), [(1, 1), (2, 0)])
def test_gradcheck(method, stride, padding):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 2, 4, 5, generator=g, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(3, 2, 3, 3, generator=g, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(3, generator=g, dtype=torch.float64, requires_grad=True)
    ho, wo = _out(4, 3, stride, padding, 1), _out(5, 3, stride, padding, 1)
    # fractional offsets away from integers (bilinear kinks) and incl. points outside the image
    raw = torch.rand(2, 18, ho, wo, generator=g, dtype=torch.float64) * 0.6 + 0.2
    shift = torch.randint(-3, 3, raw.shape, generator=g).double()
    offset = (raw + shift).requires_grad_()

    def fn(x, offset, weight, bias):
        return deform_conv2d(x, offset, weight, bias, stride, padding, 1, method=method)

    assert torch.autograd.gradcheck(fn, (x, offset, weight, bias), eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    ("kernel", "stride", "padding", "hw"),
    [
        (3, 1, 1, (6, 11)),
        (3, 2, 1, (9, 5)),
        (3, 1, 0, (7, 8)),
        (2, 1, 0, (3, 13)),
        (2, 2, 1, (6, 7)),
        ((1, 3), 1, (0, 1), (5, 9)),
        (5, (2, 3), 2, (10, 17)),
    ],
)
def test_zero_offsets_equal_conv2d(method, kernel, stride, padding, hw):
    torch.manual_seed(2)
    conv = torch.nn.Conv2d(3, 5, kernel, stride, padding)
    x = torch.randn(2, 3, *hw)
    want = conv(x)
    offset = torch.zeros(2, 2 * conv.kernel_size[0] * conv.kernel_size[1], *want.shape[2:])
    got = deform_conv2d(x, offset, conv.weight, conv.bias, stride, padding, method=method)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_module_at_init_equals_conv2d_and_keeps_offsets():
    torch.manual_seed(3)
    layer = DeformConv2d(4, 6, 3, stride=1, padding=1)
    conv = torch.nn.Conv2d(4, 6, 3, padding=1)
    conv.load_state_dict({"weight": layer.weight.detach(), "bias": layer.bias.detach()})
    x = torch.randn(2, 4, 12, 30)
    torch.testing.assert_close(layer(x), conv(x), rtol=1e-4, atol=1e-5)
    assert layer.last_offsets is not None
    assert layer.last_offsets.shape == (2, 18, 12, 30)
    assert not layer.last_offsets.requires_grad
    assert torch.count_nonzero(layer.last_offsets) == 0
    # the offset conv learns: its parameters get gradients through the bilinear sampling
    layer.offset_conv.weight.data.normal_(std=0.1)
    layer(x).square().sum().backward()
    assert layer.offset_conv.weight.grad.abs().sum() > 0
    assert layer.weight.grad.shape == layer.weight.shape


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("dy", "dx"), [(1, 0), (0, -2), (-1, 3), (2, 2)])
def test_integer_offsets_equal_shifted_conv(method, dy, dx):
    """Offsetting every kernel cell by (dy, dx) = convolving the input shifted by (-dy, -dx)."""
    torch.manual_seed(4)
    conv = torch.nn.Conv2d(2, 3, 3, padding=1)
    x = torch.randn(1, 2, 8, 10)
    offset = torch.zeros(1, 18, 8, 10)
    offset[:, 0::2], offset[:, 1::2] = dy, dx
    got = deform_conv2d(x, offset, conv.weight, conv.bias, 1, 1, method=method)
    # reference: zero-pad generously, crop the window shifted by (dy, dx), unpadded conv
    h, w, big = x.shape[2], x.shape[3], 4
    xz = F.pad(x, (big, big, big, big))
    top, left = big - 1 + dy, big - 1 + dx
    window = xz[..., top : top + h + 2, left : left + w + 2]
    torch.testing.assert_close(got, F.conv2d(window, conv.weight, conv.bias), rtol=1e-4, atol=1e-5)


def test_methods_agree_on_gradients():
    torch.manual_seed(5)
    x = torch.randn(2, 3, 9, 14, dtype=torch.float64)
    off = torch.randn(2, 18, 9, 14, dtype=torch.float64) * 2
    w = torch.randn(4, 3, 3, 3, dtype=torch.float64)
    grads = []
    for method in ["gather", "grid_sample", *(["kernel"] if HAS_NUMBA else [])]:
        inputs = [t.clone().requires_grad_() for t in (x, off, w)]
        deform_conv2d(*inputs[:2], inputs[2], None, 1, 1, method=method).pow(2).sum().backward()
        grads.append([t.grad for t in inputs])
    for other in grads[1:]:
        for a, b in zip(grads[0], other, strict=True):
            torch.testing.assert_close(a, b)


def test_bad_arguments():
    x = torch.randn(1, 2, 5, 5)
    w = torch.randn(3, 2, 3, 3)
    with pytest.raises(ValueError, match="offset must have shape"):
        deform_conv2d(x, torch.zeros(1, 9, 5, 5), w, None, 1, 1)
    with pytest.raises(ValueError, match="input channels"):
        deform_conv2d(x, torch.zeros(1, 18, 5, 5), torch.randn(3, 4, 3, 3), None, 1, 1)
    with pytest.raises(ValueError, match="too small"):
        deform_conv2d(torch.randn(1, 2, 1, 1), torch.zeros(1, 18, 1, 1), w)
    with pytest.raises(ValueError, match="method"):
        deform_conv2d(x, torch.zeros(1, 18, 5, 5), w, None, 1, 1, method="nope")


def _grads(method, x, offset, weight, bias, stride=1, padding=1, dilation=1):
    """Output and the gradients of (x, offset, weight, bias) of a weighted sum of the output."""
    inputs = [t.detach().clone().requires_grad_() for t in (x, offset, weight, bias)]
    out = deform_conv2d(*inputs, stride, padding, dilation, method=method)
    probe = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view(out.shape)
    (out * probe).sum().backward()
    return [out.detach()] + [t.grad for t in inputs]


@needs_numba
@pytest.mark.parametrize(
    ("c", "o", "kernel", "stride", "padding", "dilation", "hw"),
    [
        (20, 7, 3, 1, 1, 1, (9, 23)),  # a vectorised block of 16 channels + 4 more
        (16, 5, 3, 2, 0, 2, (12, 17)),
        (1, 4, (2, 3), 1, (0, 1), 1, (6, 11)),  # the one-channel path
        (33, 3, 1, 1, 0, 1, (5, 7)),
    ],
)
def test_kernel_matches_torch_path_float32(
    monkeypatch, c, o, kernel, stride, padding, dilation, hw
):
    """The compiled path against grid_sample (the reference) in float32: outputs and all four
    gradients, offsets large enough that many points fall partly or wholly outside the image,
    several tiles per image."""
    monkeypatch.setattr(deformable._kernel_module(), "TILE_ELEMENTS", 200)
    g = torch.Generator().manual_seed(7)
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    pad = (padding, padding) if isinstance(padding, int) else padding
    x = torch.randn(2, c, *hw, generator=g)
    weight = torch.randn(o, c, kh, kw, generator=g)
    bias = torch.randn(o, generator=g)
    ho = _out(hw[0], kh, stride, pad[0], dilation)
    wo = _out(hw[1], kw, stride, pad[1], dilation)
    offset = 3.0 * torch.randn(2, 2 * kh * kw, ho, wo, generator=g)
    args = (x, offset, weight, bias, stride, padding, dilation)
    got, want = _grads("kernel", *args), _grads("grid_sample", *args)
    for a, b, name in zip(got, want, ["out", "input", "offset", "weight", "bias"], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4, msg=name)


@needs_numba
def test_kernel_takes_channels_last_offsets_and_inputs_without_grad():
    torch.manual_seed(8)
    layer = DeformConv2d(16, 8, 3, padding=1)
    layer.offset_conv.weight.data.normal_(std=0.3)
    x = torch.randn(2, 16, 7, 19).to(memory_format=torch.channels_last)
    offset = layer.offset_conv(x).detach()
    want = deform_conv2d(x, offset, layer.weight, layer.bias, 1, 1, method="grid_sample")
    offset.requires_grad_()
    got = deform_conv2d(x, offset, layer.weight, layer.bias, 1, 1, method="kernel")
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
    got.sum().backward()  # x needs no gradient: only the offsets' and the weights'
    assert offset.grad is not None and torch.isfinite(offset.grad).all()
    assert layer.weight.grad is not None and x.grad is None


@needs_numba
def test_kernel_propagates_nan_offsets():
    """A NaN offset makes its outputs NaN (as in the torch paths), never a wild memory read."""
    x = torch.randn(1, 16, 5, 6)
    w = torch.randn(4, 16, 3, 3)
    offset = torch.zeros(1, 18, 5, 6)
    offset[0, 4, 2, 3] = float("nan")
    offset[0, 5, 1, 1] = float("inf")
    out = deform_conv2d(x, offset, w, None, 1, 1, method="kernel")
    assert torch.isnan(out[0, :, 2, 3]).all() and torch.isnan(out[0, :, 1, 1]).all()
    assert torch.isfinite(out[0, :, 0]).all()


@needs_numba
def test_kernel_under_bf16_autocast():
    """Under CPU autocast the kernel computes in float32 and returns the input's dtype; the
    gradients reach every parameter, finite and close to float32's."""
    torch.manual_seed(9)
    layer = DeformConv2d(16, 8, 3, padding=1)
    layer.offset_conv.weight.data.normal_(std=0.1)
    x = torch.randn(2, 16, 6, 20)
    want = layer(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = layer(x)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, want, rtol=0.05, atol=0.1)  # the offsets come from bf16
    got.square().sum().backward()
    for p in layer.parameters():
        assert p.grad is not None and p.grad.dtype == torch.float32 and torch.isfinite(p.grad).all()
    out = deform_conv2d(
        x.bfloat16(), torch.zeros(2, 18, 6, 20), layer.weight.bfloat16(), None, 1, 1
    )
    assert out.dtype == torch.bfloat16


def test_auto_picks_the_kernel_from_16_channels_and_falls_back_without_numba(monkeypatch):
    x16, x8 = torch.zeros(1, 16, 4, 4), torch.zeros(1, 8, 4, 4)
    assert deformable._auto_method(x8, 8) == "grid_sample"
    assert deformable._auto_method(x16, 16) == ("kernel" if HAS_NUMBA else "grid_sample")
    monkeypatch.setattr(deformable, "_kernel_module", lambda: None)
    assert deformable._auto_method(x16, 16) == "grid_sample"
    assert deformable._auto_method(torch.zeros(1, 64, 4, 4), 64) == "gather"
    layer = DeformConv2d(16, 4, 3, padding=1)
    assert layer(x16).shape == (1, 4, 4, 4)  # the torch path
    with pytest.raises(ValueError, match="numba"):
        deform_conv2d(x16, torch.zeros(1, 18, 4, 4), layer.weight, None, 1, 1, method="kernel")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    torch.manual_seed(6)
    layer = DeformConv2d(3, 4, 3, padding=1)
    layer.offset_conv.weight.data.normal_(std=0.3)
    x = torch.randn(2, 3, 10, 20)
    want = layer(x)
    got = layer.cuda()(x.cuda()).cpu()
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
