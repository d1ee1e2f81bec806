import pytest
import torch

from keyscribe import builders
from keyscribe.api import count_parameters, load_config
from keyscribe.emg.keys import EMG_ALPHABET
from keyscribe.models.encoders import TDSConv2dBlock


def _baseline():
    cfg = load_config("configs/emg/baseline-tdsconv.yaml")
    return builders.build_model(cfg, EMG_ALPHABET)


def test_baseline_parameter_count_matches_reference() -> None:
    assert count_parameters(_baseline()) == 5_293_315


def test_baseline_frames_and_lengths() -> None:
    model = _baseline().eval()
    x = torch.randn(2, 247, 2, 16, 33)
    log_probs, lengths = model(x, torch.tensor([247, 200]))
    assert log_probs.shape == (2, 123, 99)
    assert lengths.tolist() == [123, 76]
    torch.testing.assert_close(log_probs.exp().sum(-1), torch.ones(2, 123))


def _reference_block(block: TDSConv2dBlock, x: torch.Tensor) -> torch.Tensor:
    """emg2qwerty's formulation with the block's weights: time-first, the (1, k) Conv2d over
    (batch, channels, width, time)."""
    B, T, F = x.shape
    y = x.permute(0, 2, 1).reshape(B, block.channels, block.width, T)
    y = torch.relu(block.conv2d(y)).reshape(B, F, -1).permute(0, 2, 1)
    return block.layer_norm(y + x[:, -y.shape[1] :])


@pytest.mark.parametrize(("channels", "width", "kernel"), [(4, 3, 5), (24, 2, 8), (1, 6, 2)])
def test_conv_block_equals_the_reference_formulation(
    channels: int, width: int, kernel: int
) -> None:
    torch.manual_seed(0)
    block = TDSConv2dBlock(channels, width, kernel)
    x = torch.randn(3, 17, channels * width, requires_grad=True)
    weights = torch.randn(3, 17 - kernel + 1, channels * width)
    ours, reference = block(x), _reference_block(block, x)
    torch.testing.assert_close(ours, reference, atol=1e-5, rtol=1e-5)
    with torch.no_grad():  # inference runs the grouped form, training the batched one
        torch.testing.assert_close(block(x), reference, atol=1e-5, rtol=1e-5)
    params = [x, *block.parameters()]
    grads = torch.autograd.grad((ours * weights).sum(), params)
    reference_grads = torch.autograd.grad((reference * weights).sum(), params)
    for got, want in zip(grads, reference_grads, strict=True):
        torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
    assert list(block.state_dict()) == [
        "conv2d.weight",
        "conv2d.bias",
        "layer_norm.weight",
        "layer_norm.bias",
    ]
