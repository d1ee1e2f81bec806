"""Every encoder kind: shapes and lengths, padding that never leaks, overfitting a tiny batch."""

import pytest
import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from keyscribe import builders
from keyscribe.decoding.greedy import decode_greedy
from keyscribe.models.ctc import CTCModel
from keyscribe.models.encoders import RecurrentEncoder
from keyscribe.models.macs import count_macs

FEATURES = 8
TINY = {
    "tdsconv": {"kind": "tdsconv", "block_channels": [4], "kernel_width": 3},
    "lstm": {"kind": "lstm", "hidden_size": 16, "num_layers": 2},
    "gru": {"kind": "gru", "hidden_size": 12, "num_layers": 2},
    "tdsconv_lstm": {
        "kind": "tdsconv_lstm",
        "block_channels": [4],
        "kernel_width": 3,
        "lstm_hidden_size": 16,
        "lstm_dropout": 0.0,
    },
    "convresnet": {
        "kind": "convresnet",
        "dimensions": [8, 16],
        "repetitions": [1, 1],
        "strides": [1, 2],
        "bottleneck": [False, True],
    },
    "convresnet_gru": {
        "kind": "convresnet_gru",
        "dimensions": [8],
        "repetitions": [1],
        "strides": [2],
        "gru_hidden_size": 12,
    },
    "conformer": {
        "kind": "conformer",
        "d_model": 16,
        "num_layers": 1,
        "num_heads": 2,
        "conv_kernel": 5,
        "dropout": 0.0,
    },
    "transformer": {
        "kind": "conformer",
        "d_model": 16,
        "num_layers": 1,
        "num_heads": 2,
        "conv_kernel": 0,
        "time_reduction": 2,
    },
}


class Identity(nn.Module):
    out_features = FEATURES

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        return x, lengths


def test_every_registered_kind_is_covered() -> None:
    assert {spec["kind"] for spec in TINY.values()} >= set(builders.ENCODERS)


@pytest.mark.parametrize("name", sorted(TINY))
def test_shapes_lengths_and_padding(name: str) -> None:
    torch.manual_seed(0)
    encoder = builders.build_encoder(TINY[name], FEATURES).eval()
    x = torch.randn(2, 30, FEATURES)
    lengths = torch.tensor([30, 17])
    y, out_lengths = encoder(x, lengths)
    assert y.shape[0] == 2 and y.shape[2] == encoder.out_features
    assert out_lengths.tolist() == encoder.output_lengths(lengths).tolist()
    assert y.shape[1] == int(out_lengths.max())
    # The short item alone gives the same frames as when padded into the batch.
    alone, alone_lengths = encoder(x[1:, :17], lengths[1:])
    n = int(alone_lengths[0])
    torch.testing.assert_close(y[1, :n], alone[0, :n], atol=1e-5, rtol=1e-4)


def test_frame_sizes_scale_with_the_frame_rate() -> None:
    spec = {"kind": "tdsconv", "block_channels": [4], "kernel_width": 32}
    assert (
        builders.build_encoder(spec, FEATURES, frame_scale=0.5)
        .output_lengths(torch.tensor([100]))
        .item()
        == 85
    )
    assert builders.build_encoder(spec, FEATURES).output_lengths(torch.tensor([100])).item() == 69


def test_rnn_macs_are_counted() -> None:
    encoder = builders.build_encoder({"kind": "lstm", "hidden_size": 4, "num_layers": 1}, 3)
    # 2 directions x 4 gates x (3 inputs + 4 hidden) x 4 hidden per valid frame
    assert count_macs(encoder, torch.randn(2, 10, 3), torch.tensor([10, 6])) == 16 * 2 * 4 * 7 * 4


@pytest.mark.parametrize("name", sorted(TINY))
def test_overfits_a_tiny_batch(name: str) -> None:
    torch.manual_seed(0)
    classes, blank = 5, 4
    model = CTCModel(Identity(), builders.build_encoder(TINY[name], FEATURES), classes)
    x = torch.randn(2, 32, FEATURES)
    lengths = torch.tensor([32, 32])
    targets = torch.tensor([[0, 1, 2], [3, 1, 0]])
    target_lengths = torch.tensor([3, 3])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(250):
        log_probs, out_lengths = model(x, lengths)
        loss = nn.functional.ctc_loss(
            log_probs.transpose(0, 1), targets, out_lengths, target_lengths, blank=blank
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    with torch.no_grad():
        for _ in range(20):  # let BatchNorm running statistics catch up with the final weights
            model(x, lengths)
        model.eval()
        log_probs, out_lengths = model(x, lengths)
    assert losses[-1] < 0.2 * losses[0], losses[::10]
    assert decode_greedy(log_probs, out_lengths, blank) == targets.tolist()


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [True, False])
def test_cpu_per_layer_path_equals_the_packed_rnn(cell: str, bidirectional: bool) -> None:
    """The CPU path (one call per layer and direction on the padded batch) gives the outputs and
    gradients of the packed ``nn.LSTM``/``nn.GRU`` call that CUDA and export use."""
    torch.manual_seed(0)
    encoder = RecurrentEncoder(FEATURES, cell, 5, num_layers=2, bidirectional=bidirectional).train()
    x = torch.randn(3, 12, FEATURES, requires_grad=True)
    lengths = torch.tensor([7, 12, 3])  # unsorted, with padding
    y, _ = encoder(x, lengths)
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    reference, _ = pad_packed_sequence(encoder.rnn(packed)[0], batch_first=True, total_length=12)
    torch.testing.assert_close(y, reference, atol=1e-6, rtol=1e-5)
    weights = torch.randn_like(y)
    grads = torch.autograd.grad((y * weights).sum(), [x, *encoder.rnn.parameters()])
    reference_grads = torch.autograd.grad((reference * weights).sum(), [x, *encoder.rnn.parameters()])
    for got, want in zip(grads, reference_grads, strict=True):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)
