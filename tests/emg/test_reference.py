"""A checkpoint in the emg2qwerty reference layout loads and gives the reference's outputs.

The reference network is re-expressed here independently, time-first as the reference runs it,
with the reference's parameter names, so a renamed or re-shaped weight would fail this test.
"""

from pathlib import Path

import torch
from torch import nn

from keyscribe.api import load_model


class RefTDSConv(nn.Module):
    def __init__(self, channels: int, width: int, k: int) -> None:
        super().__init__()
        self.channels, self.width = channels, width
        self.conv2d = nn.Conv2d(channels, channels, (1, k))
        self.layer_norm = nn.LayerNorm(channels * width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (T, N, C)
        T, N, C = x.shape
        y = x.movedim(0, -1).reshape(N, self.channels, self.width, T)
        y = self.conv2d(y).relu().reshape(N, C, -1).movedim(-1, 0)
        return self.layer_norm(y + x[-y.shape[0] :])


class RefFC(nn.Module):
    def __init__(self, n: int) -> None:
        super().__init__()
        self.fc_block = nn.Sequential(nn.Linear(n, n), nn.ReLU(), nn.Linear(n, n))
        self.layer_norm = nn.LayerNorm(n)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer_norm(self.fc_block(x) + x)


def reference_forward(state: dict, x: torch.Tensor, blocks: int, channels: int, k: int) -> torch.Tensor:
    """x: (T, N, bands, C, freq) -> log-probs (T', N, classes), computed the reference's way."""
    T, N, bands, C, F = x.shape
    bn = nn.BatchNorm2d(bands * C).eval()
    bn.load_state_dict({k[len("model.0.batch_norm.") :]: v for k, v in state.items() if k.startswith("model.0.")})
    y = bn(x.movedim(0, -1).reshape(N, bands * C, F, T)).reshape(N, bands, C, F, T).movedim(-1, 0)
    outs = []
    for b in range(bands):
        w, bias = state[f"model.1.mlps.{b}.mlp.0.weight"], state[f"model.1.mlps.{b}.mlp.0.bias"]
        rolled = torch.stack([y[:, :, b].roll(o, dims=2) for o in (-1, 0, 1)], dim=2).flatten(3)
        outs.append(torch.relu(rolled @ w.T + bias).mean(dim=2))
    h = torch.stack(outs, dim=2).flatten(start_dim=2)  # (T, N, 2 * mlp)
    features = h.shape[-1]
    enc = nn.Sequential(
        *[m for _ in range(blocks) for m in (RefTDSConv(channels, features // channels, k), RefFC(features))]
    )
    enc.load_state_dict({k[len("model.3.tds_conv_blocks.") :]: v for k, v in state.items() if k.startswith("model.3.")})
    h = enc(h)
    return (h @ state["model.4.weight"].T + state["model.4.bias"]).log_softmax(-1)


def test_reference_checkpoint_loads_and_matches(tmp_path: Path) -> None:
    torch.manual_seed(0)
    mlp, blocks, channels, k = 32, 2, 8, 4
    shapes = {
        "model.0.batch_norm.weight": (32,),
        "model.0.batch_norm.bias": (32,),
        "model.0.batch_norm.running_mean": (32,),
        "model.0.batch_norm.running_var": (32,),
        "model.4.weight": (99, 2 * mlp),
        "model.4.bias": (99,),
    }
    for b in range(2):
        shapes[f"model.1.mlps.{b}.mlp.0.weight"] = (mlp, 16 * 33)
        shapes[f"model.1.mlps.{b}.mlp.0.bias"] = (mlp,)
    for i in range(blocks):
        c, f = 2 * i, 2 * i + 1
        shapes[f"model.3.tds_conv_blocks.{c}.conv2d.weight"] = (channels, channels, 1, k)
        shapes[f"model.3.tds_conv_blocks.{c}.conv2d.bias"] = (channels,)
        shapes[f"model.3.tds_conv_blocks.{c}.layer_norm.weight"] = (2 * mlp,)
        shapes[f"model.3.tds_conv_blocks.{c}.layer_norm.bias"] = (2 * mlp,)
        for j in (0, 2):
            shapes[f"model.3.tds_conv_blocks.{f}.fc_block.{j}.weight"] = (2 * mlp, 2 * mlp)
            shapes[f"model.3.tds_conv_blocks.{f}.fc_block.{j}.bias"] = (2 * mlp,)
        shapes[f"model.3.tds_conv_blocks.{f}.layer_norm.weight"] = (2 * mlp,)
        shapes[f"model.3.tds_conv_blocks.{f}.layer_norm.bias"] = (2 * mlp,)
    state = {name: torch.randn(shape) * 0.3 for name, shape in shapes.items()}
    state["model.0.batch_norm.running_var"] = torch.rand(32) + 0.5
    state["model.0.batch_norm.num_batches_tracked"] = torch.tensor(10)
    ckpt = {
        "state_dict": state,
        "hyper_parameters": {"in_features": 528, "mlp_features": [mlp], "block_channels": [channels] * blocks, "kernel_width": k},
        "pytorch-lightning_version": "1.8.6",
    }
    path = tmp_path / "reference.ckpt"
    torch.save(ckpt, path)

    recognizer = load_model(path)
    x = torch.randn(40, 1, 2, 16, 33)  # (T, N, bands, C, freq)
    with torch.no_grad():
        expected = reference_forward(state, x, blocks, channels, k)[:, 0]
        ours, lengths = recognizer.model(x.movedim(0, 1), torch.tensor([40]))
    assert int(lengths[0]) == expected.shape[0] == 40 - blocks * (k - 1)
    torch.testing.assert_close(ours[0], expected, rtol=1e-4, atol=1e-4)
