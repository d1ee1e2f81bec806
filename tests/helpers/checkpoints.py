"""Tiny configs and untrained checkpoints: a model built from a config and saved in the layout
keyscribe's training writes, no training needed."""

from __future__ import annotations

from pathlib import Path

import torch

from keyscribe import builders
from keyscribe.atomic import atomic_torch_save
from keyscribe.config import to_plain
from keyscribe.domain import get_domain

REPO = Path(__file__).resolve().parents[2]
LINES = REPO / "tests" / "fixtures" / "htr" / "lines"
EMG_TINY = [
    "model.frontend.mlp_features=[16]",
    "model.encoder.block_channels=[4]",
    "model.encoder.kernel_width=4",
    "data.window_length=2000",
    "data.padding=[0,0]",
    "data.num_workers=0",
    "data.batch_size=4",
    "trainer.progress_bar=false",
    "trainer.max_time_minutes=null",
    "trainer.max_epochs=1",
]
HTR_TINY = {
    "domain": "htr",
    "data": {"height": 16, "batch_size": 4, "augment": {"enabled": False}},
    "model": {
        "frontend": {
            "kind": "puigcerver",
            "channels": [4, 4],
            "pool_widths": [2, 1],
            "pool_heights": [2, 2],
            "dropout": 0.0,
        },
        "encoder": {"kind": "lstm", "hidden_size": 8, "num_layers": 1, "dropout": 0.0},
    },
    "trainer": {"max_epochs": 1, "progress_bar": False},
}


def save_untrained(cfg, path: Path) -> Path:
    """A checkpoint exactly as CTCSystem saves one, with freshly initialised weights."""
    alphabet = get_domain(cfg.domain).alphabet(cfg)
    torch.manual_seed(0)
    model = builders.build_model(cfg, alphabet)
    state = {f"model.{k}": v for k, v in model.state_dict().items()}
    meta = {
        "config": to_plain(cfg),
        "domain": cfg.domain,
        "format": 1,
        "alphabet": alphabet.to_dict(),
    }
    atomic_torch_save({"state_dict": state, "keyscribe": meta, "epoch": 0}, path)
    return path
