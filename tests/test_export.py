"""ONNX export: parity with torch on two input lengths (dynamic axes), and transcribe --runtime onnx."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from helpers.checkpoints import EMG_TINY, LINES, REPO, save_untrained
from helpers.cli import run_cli
from helpers.sessions import key, write_session
from keyscribe import api

EMG_ENCODERS = {
    "tdsconv": ["model.encoder.block_channels=[4]", "model.encoder.kernel_width=4"],
    "lstm": ["model.encoder={kind: lstm, hidden_size: 8, num_layers: 1}"],
    "gru": ["model.encoder={kind: gru, hidden_size: 8, num_layers: 2}"],
}


def _emg_ckpt(root: Path, encoder: str) -> Path:
    sets = [EMG_TINY[0], *EMG_TINY[3:], *EMG_ENCODERS[encoder], f"out_dir={root}"]
    return save_untrained(
        api.load_config(REPO / "configs/emg/quickstart.yaml", sets), root / "m.ckpt"
    )


def _htr_deformable_ckpt(root: Path) -> Path:
    tree = {
        "domain": "htr",
        "data": {"height": 32, "batch_size": 4, "augment": {"enabled": False}},
        "model": {
            "frontend": {"kind": "crnn", "conv": "deformable", "channels": [2] * 7, "dropout": 0.0},
            "encoder": {"kind": "lstm", "hidden_size": 8, "num_layers": 1},
        },
    }
    (root / "htr.yaml").write_text(yaml.safe_dump(tree), encoding="utf-8")
    cfg = api.load_config(
        root / "htr.yaml", [f"data.train={LINES}", f"data.val={LINES}", f"out_dir={root}"]
    )
    path = save_untrained(cfg, root / "htr.ckpt")
    ckpt = torch.load(path, weights_only=False)
    gen = torch.Generator().manual_seed(0)
    for name, value in ckpt["state_dict"].items():  # non-zero offsets: really deformed sampling
        if "offset_conv" in name:
            value.copy_(torch.randn(value.shape, generator=gen) * 0.3)
    torch.save(ckpt, path)
    return path


@pytest.mark.parametrize("model", ["tdsconv", "lstm", "gru", "htr_crnn_deformable"])
def test_export_matches_torch_on_two_lengths(model: str, tmp_path: Path) -> None:
    ckpt = _htr_deformable_ckpt(tmp_path) if model.startswith("htr") else _emg_ckpt(tmp_path, model)
    result = api.export(ckpt, tmp_path / "m.onnx")
    assert (tmp_path / "m.onnx").stat().st_size > 0
    assert result["max_abs_diff"] < 1e-4
    batch_sizes, lengths = zip(*[(s[0], s[1]) for s in result["parity_shapes"]], strict=True)
    assert len(set(lengths)) == 2 and len(set(batch_sizes)) == 2  # dynamic batch and time axes


def test_transcribe_with_onnx_runtime_equals_torch(tmp_path: Path, monkeypatch, capsys) -> None:
    ckpt = _emg_ckpt(tmp_path, "tdsconv")
    session = write_session(tmp_path / "s.hdf5", 6000, [key("a", 500), key("b", 3000)])
    code, out, err = run_cli(["export", ckpt, "--out", tmp_path / "m.onnx"], monkeypatch, capsys)
    assert code == 0 and "max abs diff" in out
    torch_result = api.load_model(ckpt).transcribe(session)[0]
    onnx_result = api.load_model(ckpt).use_runtime("onnx").transcribe(session)[0]  # beside it
    assert onnx_result["label_ids"] == torch_result["label_ids"]
    code, out, err = run_cli(
        ["transcribe", ckpt, session, "--runtime", "onnx", "--json"], monkeypatch, capsys
    )
    assert code == 0 and f'"text": {torch_result["text"]!r}'.replace("'", '"') in out


def test_missing_files_are_one_line_errors(tmp_path: Path, monkeypatch, capsys) -> None:
    code, _, err = run_cli(
        ["export", tmp_path / "no.ckpt", "--out", tmp_path / "m.onnx"], monkeypatch, capsys
    )
    assert code != 0 and "no.ckpt" in err and "Traceback" not in err
    ckpt = _emg_ckpt(tmp_path, "tdsconv")
    session = write_session(tmp_path / "s.hdf5", 4000)
    args = ["transcribe", ckpt, session, "--runtime", "onnx", "--onnx", tmp_path / "gone.onnx"]
    code, _, err = run_cli(args, monkeypatch, capsys)
    assert (
        code != 0
        and "gone.onnx: ONNX model not found" in err
        and len(err.strip().splitlines()) == 1
    )
