"""DeformConv2d / deform_conv2d: loop parity, gradcheck, zero and integer offsets vs nn.Conv2d."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from keyscribe.models.deformable import DeformConv2d, deform_conv2d

METHODS = ["gather", "grid_sample"]


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
    for method in METHODS:
        inputs = [t.clone().requires_grad_() for t in (x, off, w)]
        deform_conv2d(*inputs[:2], inputs[2], None, 1, 1, method=method).pow(2).sum().backward()
        grads.append([t.grad for t in inputs])
    for a, b in zip(*grads, strict=True):
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


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    torch.manual_seed(6)
    layer = DeformConv2d(3, 4, 3, padding=1)
    layer.offset_conv.weight.data.normal_(std=0.3)
    x = torch.randn(2, 3, 10, 20)
    want = layer(x)
    got = layer.cuda()(x.cuda()).cpu()
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
