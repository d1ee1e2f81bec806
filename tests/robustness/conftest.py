"""Shared pieces of the fuzz suite: tiny untrained checkpoints (no training: a model built from a
config and saved in the checkpoint layout keyscribe writes), and a CLI runner that checks the
"one line naming the file, exit status != 0, no traceback" contract."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
import yaml

from fixtures.sessions import key, write_session
from keyscribe import api, builders
from keyscribe.cli import main
from keyscribe.config import to_plain
from keyscribe.training.checkpoint_io import atomic_torch_save

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
    alphabet = builders.domain_spec(cfg.domain).alphabet(cfg)
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


@pytest.fixture(scope="session")
def emg_config() -> Path:
    return REPO / "configs" / "emg" / "quickstart.yaml"


@pytest.fixture(scope="session")
def emg_ckpt(tmp_path_factory: pytest.TempPathFactory, emg_config: Path) -> Path:
    root = tmp_path_factory.mktemp("emg_ckpt")
    cfg = api.load_config(emg_config, [*EMG_TINY, f"out_dir={root}"])
    return save_untrained(cfg, root / "emg.ckpt")


@pytest.fixture(scope="session")
def htr_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("htr_cfg") / "tiny.yaml"
    path.write_text(yaml.safe_dump(HTR_TINY), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def htr_ckpt(tmp_path_factory: pytest.TempPathFactory, htr_config: Path) -> Path:
    root = tmp_path_factory.mktemp("htr_ckpt")
    cfg = api.load_config(
        htr_config, [f"data.train={LINES}", f"data.val={LINES}", f"out_dir={root}"]
    )
    return save_untrained(cfg, root / "htr.ckpt")


@pytest.fixture(scope="session")
def good_session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("good")
    return write_session(
        root / "good.hdf5", 4000, [key("a", 100), key("Key.space", 900), key("b", 2500)]
    )


def run_cli(
    args: list, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    """``keyscribe ARGS`` in-process -> (exit status, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["keyscribe", *map(str, args)])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    out, err = capsys.readouterr()
    return code, out, err


def assert_user_error(result: tuple[int, str, str], path: Path | str | None, *problems: str) -> str:
    """Exit status != 0, one stderr line ``keyscribe: error: <path>: <problem>``, no traceback."""
    code, _, err = result
    assert code != 0, err
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    if path is not None:
        assert str(path) in lines[0], lines[0]
    for problem in problems:
        assert problem in lines[0], lines[0]
    return lines[0]
