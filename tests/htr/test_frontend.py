"""Appendix Tables 1 (CRNN) and 2 (1D-LSTM): shapes after every block, output lengths, parameters."""

from __future__ import annotations

import pytest
import torch

from keyscribe import api
from keyscribe.config import read_config_tree
from keyscribe.htr.frontend import LineConvFrontend, crnn_layers, puigcerver_layers

W = 203  # an odd width exercises every floor


def _stages(frontend: LineConvFrontend, height: int, width: int) -> list[tuple[int, ...]]:
    x = torch.zeros(1, 1, height, width)
    shapes = []
    for block in frontend.blocks:
        x = block(x)
        shapes.append(tuple(x.shape[1:]))
    return shapes


def test_crnn_stages_follow_table_1() -> None:
    frontend = LineConvFrontend(crnn_layers(), height=60).eval()
    w4 = W // 2 // 2
    assert _stages(frontend, 60, W) == [
        (64, 30, W // 2),  # conv 64, BN, ReLU, max-pool 2x2 /(2,2)
        (128, 15, w4),  # conv 128, BN, ReLU, max-pool 2x2 /(2,2)
        (256, 15, w4),  # conv 256, BN, ReLU
        (256, 7, w4 + 1),  # conv 256, ReLU, max-pool 2x2 /(2,1) pad (0,1)
        (512, 7, w4 + 1),  # conv 512, BN, ReLU
        (512, 3, w4 + 2),  # conv 512, ReLU, max-pool 2x2 /(2,1) pad (0,1)
        (512, 2, w4 + 1),  # conv 512 2x2 no padding, BN, ReLU: the paper's 2 x W x 512 map
    ]
    y, lengths = frontend(torch.zeros(2, W, 1, 60), torch.tensor([W, 150]))
    assert y.shape == (2, w4 + 1, 1024)  # W columns of H * C = 2 * 512 features
    assert lengths.tolist() == [w4 + 1, 150 // 4 + 1]


def test_puigcerver_stages_follow_table_2() -> None:
    frontend = LineConvFrontend(puigcerver_layers(), height=128).eval()
    assert _stages(frontend, 128, W) == [
        (16, 64, W // 2),
        (32, 32, W // 4),
        (48, 16, W // 8),
        (64, 16, W // 8),
        (80, 16, W // 8),  # the paper's 16 x W x 80 map
    ]
    y, lengths = frontend(torch.zeros(2, W, 1, 128), torch.tensor([W, 150]))
    assert y.shape == (2, W // 8, 1280) and lengths.tolist() == [W // 8, 150 // 8]


def test_features_are_rows_of_channels_and_padding_does_not_leak() -> None:
    frontend = LineConvFrontend(puigcerver_layers(), height=128).eval()
    line = torch.rand(1, 120, 1, 128) * 2 - 1
    alone, _ = frontend(line, torch.tensor([120]))
    padded = torch.cat([line, torch.rand(1, 80, 1, 128)], dim=1)  # garbage right padding
    batched, lengths = frontend(padded, torch.tensor([120]))
    # columns whose receptive field stays inside the line are identical
    assert torch.allclose(alone[:, :12], batched[:, :12], atol=1e-5)
    feature_map = frontend.blocks(line.permute(0, 2, 3, 1))  # (1, C, H', W')
    assert torch.equal(alone[0, 3, :80], feature_map[0, :, 0, 3])  # row 0's 80 channels first


@pytest.mark.parametrize(
    ("config", "frontend", "encoder", "hidden"),
    [
        ("crnn-std", 5_551_744, 12_599_296, 1024),
        ("crnn-def", 5_551_744 + 213_654, 12_599_296, 1024),
        ("lstm1d-std", 93_024, 9_457_664, 512),
        ("lstm1d-def", 93_024 + 26_172, 9_457_664, 512),
    ],
)
def test_parameter_counts(config: str, frontend: int, encoder: int, hidden: int) -> None:
    """Std counts from the tables; DefConv adds k^2 * c_in * 2k^2 offset weights (+ 2k^2 biases)
    per convolution (section 3.1)."""
    pytest.importorskip("keyscribe.models.deformable")
    from keyscribe import builders
    from keyscribe.alphabet import Alphabet

    tree = read_config_tree(f"configs/htr/exp/peraire_{config.replace('-', '_')}.yaml")
    cfg = api.config_from_tree(tree)
    alphabet = Alphabet(tuple(chr(0x100 + i) for i in range(79)), blank=0)  # c = 80, as RIMES
    model = builders.build_model(cfg, alphabet)
    assert api.count_parameters(model.frontend) == frontend
    assert api.count_parameters(model.encoder) == encoder
    assert api.count_parameters(model.head) == hidden * 80 + 80
