"""bf16 autocast training (``trainer.precision: bf16-mixed``) for every encoder kind and both
domains: the matmuls run in bf16, the log-softmax and the CTC loss stay fp32, and a training step
gives finite fp32 gradients."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from keyscribe import api, builders
from keyscribe.alphabet import Alphabet
from keyscribe.config import OptimConfig
from keyscribe.data.batch import Batch
from keyscribe.domain import get_domain
from keyscribe.errors import ConfigError
from keyscribe.training.schedule_clock import ScheduleClock
from keyscribe.training.system import CTCSystem

CONFIGS = Path(__file__).resolve().parents[2] / "configs"

TINY_ENCODERS: dict[str, str] = {  # every builders.ENCODERS kind, a few units wide
    "tdsconv": "{kind: tdsconv, block_channels: [4], kernel_width: 4}",
    "lstm": "{kind: lstm, hidden_size: 8, num_layers: 2}",
    "gru": "{kind: gru, hidden_size: 8, num_layers: 1}",
    "tdsconv_lstm": "{kind: tdsconv_lstm, block_channels: [4], kernel_width: 4, lstm_hidden_size: 8}",
    "convresnet": "{kind: convresnet, dimensions: [8], repetitions: [1], strides: [1]}",
    "convresnet_gru": (
        "{kind: convresnet_gru, dimensions: [8], repetitions: [1], strides: [1], gru_hidden_size: 8}"
    ),
    "conformer": "{kind: conformer, d_model: 16, num_layers: 1, num_heads: 2, conv_kernel: 3}",
}


def test_every_encoder_kind_is_covered() -> None:
    assert set(TINY_ENCODERS) == set(builders.ENCODERS)


def _emg(encoder: str) -> tuple[Any, Any]:
    cfg = api.load_config(
        CONFIGS / "emg/quickstart.yaml",
        ["model.frontend.mlp_features=[16]", f"model.encoder={encoder}", "data.window_length=400"],
    )
    return cfg, get_domain("emg").alphabet(cfg)


def _htr(frontend: str, conv: str) -> Any:
    channels = "[4,4,4,4,4,4,4]" if frontend == "crnn" else "[4,4,4,4,4]"
    cfg = api.load_config(
        CONFIGS / "htr/base.yaml",
        [
            f"model.frontend={{kind: {frontend}, conv: {conv}, channels: {channels}}}",
            "model.encoder={kind: lstm, hidden_size: 8, num_layers: 1}",
        ],
    )
    return cfg


def _batch(cfg: Any, num_classes: int, blank: int) -> Batch:
    example = get_domain(cfg.domain).example_input(cfg)  # (1, time, ...)
    gen = torch.Generator().manual_seed(0)
    inputs = torch.randn((2, *example.shape[1:]), generator=gen)
    lengths = torch.tensor([example.shape[1], example.shape[1] - 2])
    labels = [c for c in range(num_classes) if c != blank][:3]
    targets = torch.tensor([labels, labels[:2] + [0]])
    return Batch(inputs, lengths, targets, torch.tensor([3, 2]), ["a", "b"])


def _bf16_step(cfg: Any, alphabet: Any) -> None:
    torch.manual_seed(0)
    model = builders.build_model(cfg, alphabet).train()
    system = CTCSystem(model, alphabet, OptimConfig(), ScheduleClock(max_epochs=1))
    batch = _batch(cfg, alphabet.num_classes, alphabet.blank)
    head_dtypes: list[torch.dtype] = []
    model.head.register_forward_hook(lambda _m, _a, out: head_dtypes.append(out.dtype))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        log_probs, lengths, _ = model.emissions(batch.inputs, batch.input_lengths, shortcut=False)
        loss = system._ctc_loss(log_probs, lengths, batch)
    assert head_dtypes == [torch.bfloat16]  # the matmuls did run in bf16
    assert log_probs.dtype == torch.float32 and loss.dtype == torch.float32
    assert torch.isfinite(loss)
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(g is not None and g.dtype == torch.float32 for g in grads)
    assert all(torch.isfinite(g).all() for g in grads if g is not None)


@pytest.mark.parametrize("kind", list(TINY_ENCODERS))
def test_bf16_training_step_emg(kind: str) -> None:
    _bf16_step(*_emg(TINY_ENCODERS[kind]))


@pytest.mark.parametrize("frontend", ["crnn", "puigcerver"])
@pytest.mark.parametrize("conv", ["std", "deformable"])
def test_bf16_training_step_htr(frontend: str, conv: str) -> None:
    _bf16_step(_htr(frontend, conv), Alphabet.from_texts(["abc de"]))


def test_unknown_trainer_precision_is_refused() -> None:
    with pytest.raises(ConfigError, match="trainer.precision"):
        api.load_config(CONFIGS / "emg/quickstart.yaml", ["trainer.precision=bf17"])


def test_bf16_mixed_lightning_runs_train_both_domains(tmp_path: Path) -> None:
    from helpers.sessions import write_easy_dataset

    (tmp_path / "easy").mkdir()
    lines = Path(__file__).resolve().parents[1] / "fixtures" / "htr" / "lines"
    htr = api.config_from_tree(
        {
            "domain": "htr",
            "out_dir": str(tmp_path / "htr"),
            "data": {"height": 32, "batch_size": 5, "train": str(lines), "val": str(lines)},
            "model": {
                "frontend": {"kind": "puigcerver", "channels": [4, 4, 8, 8, 8]},
                "encoder": {"kind": "lstm", "hidden_size": 8, "num_layers": 1},
            },
            "trainer": {"max_epochs": 1, "precision": "bf16-mixed", "progress_bar": False},
        }
    )
    emg = api.load_config(
        CONFIGS / "emg/quickstart.yaml",
        [
            "model.frontend.mlp_features=[16]",
            f"model.encoder={TINY_ENCODERS['tdsconv']}",
            "data.window_length=2000",
            "data.padding=[0,0]",
            "data.batch_size=4",
            "data.num_workers=0",
            f"data.root={write_easy_dataset(tmp_path / 'easy')}",
            f"out_dir={tmp_path / 'emg'}",
            "trainer.max_epochs=1",
            "trainer.max_time_minutes=null",
            "trainer.precision=bf16-mixed",
            "trainer.progress_bar=false",
        ],
    )
    for cfg in (htr, emg):
        results = api.train(cfg)
        assert results["steps"] >= 1 and results["best_checkpoint"] is not None
