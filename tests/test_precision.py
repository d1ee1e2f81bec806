"""Inference precision: ``--precision fp32|bf16|int8`` for transcribe, evaluate, stream and
export. bf16 really computes in bf16 and int8 really quantises, while log-probs stay fp32 and
close to fp32's; switching back gives fp32's outputs exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from helpers.checkpoints import EMG_TINY, REPO, save_untrained
from helpers.cli import run_cli
from helpers.sessions import key, write_session
from keyscribe import api
from keyscribe.precision import CpuSupport, cpu_support, with_precision


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("precision")
    cfg = api.load_config(REPO / "configs/emg/quickstart.yaml", [*EMG_TINY, f"out_dir={root}"])
    return save_untrained(cfg, root / "emg.ckpt")


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("precision_session")
    return write_session(root / "s.hdf5", 6000, [key("a", 500), key("b", 3000)])


def test_cpu_support_says_what_bf16_gets() -> None:
    support = cpu_support()
    assert support.capability == torch.backends.cpu.get_cpu_capability()
    native = CpuSupport("AVX512", ("avx512_bf16",), True).bf16_note()
    emulated = CpuSupport("AVX2", (), False).bf16_note()
    assert "native" in native and "avx512_bf16" in native
    assert "NOT native" in emulated and "fp32" in emulated


def _log_probs(recognizer: api.Recognizer, session: Path) -> torch.Tensor:
    sample = recognizer.dataset(session)[0]
    log_probs, length = recognizer.log_probs(sample)
    return log_probs[:length]


def test_bf16_and_int8_change_the_compute_not_the_output_type(ckpt: Path, session: Path) -> None:
    recognizer = api.load_model(ckpt)
    fp32 = _log_probs(recognizer, session)
    head_dtypes: list[torch.dtype] = []
    recognizer.model.head.register_forward_hook(lambda _m, _a, out: head_dtypes.append(out.dtype))
    bf16 = _log_probs(recognizer.use_precision("bf16"), session)
    assert head_dtypes == [torch.bfloat16] and bf16.dtype == torch.float32
    assert torch.allclose(bf16, fp32, atol=0.1) and not torch.equal(bf16, fp32)
    assert torch.equal(_log_probs(recognizer.use_precision("fp32"), session), fp32)
    quantised = recognizer.use_precision("int8")
    int8 = _log_probs(quantised, session)
    assert "quantized" in type(quantised.model.head).__module__
    assert recognizer.precision == "fp32"  # use_precision gives a new recognizer
    assert int8.dtype == torch.float32 and torch.allclose(int8, fp32, atol=0.1)
    assert torch.equal(_log_probs(recognizer.use_precision("fp32"), session), fp32)


def test_int8_leaves_the_loaded_model_alone(ckpt: Path) -> None:
    model = api.load_model(ckpt).model
    quantized = with_precision(model, "int8")
    assert quantized is not model and isinstance(model.head, torch.nn.Linear)


def test_cli_precision_for_transcribe_evaluate_stream(
    ckpt: Path, session: Path, monkeypatch, capsys
) -> None:
    for command, precision in (("transcribe", "int8"), ("evaluate", "bf16"), ("stream", "bf16")):
        code, out, err = run_cli(
            [command, ckpt, session, "--precision", precision, "--json"], monkeypatch, capsys
        )
        assert code == 0, err
        result = json.loads(out)
        assert {"transcribe": "text", "evaluate": "cer", "stream": "chunks"}[command] in result
        if command == "evaluate":
            assert result["precision"] == precision


def test_cli_refuses_unknown_precisions(ckpt: Path, session: Path, monkeypatch, capsys) -> None:
    code, _, err = run_cli(["transcribe", ckpt, session, "--precision", "fp8"], monkeypatch, capsys)
    assert code == 2 and err.startswith("keyscribe: error:") and "precision" in err
    code, _, err = run_cli(
        ["transcribe", ckpt, session, "--precision", "bf16", "--runtime", "onnx"],
        monkeypatch,
        capsys,
    )
    assert code == 2 and "torch runtime" in err and "Traceback" not in err


def test_export_int8_and_refused_bf16(ckpt: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    fp32 = api.export(ckpt, tmp_path / "fp32.onnx")
    int8 = api.export(ckpt, tmp_path / "int8.onnx", precision="int8")
    assert int8["precision"] == "int8" and int8["max_abs_diff"] <= int8["tolerance"] == 0.5
    onnx = pytest.importorskip("onnx")
    ops = {node.op_type for node in onnx.load(tmp_path / "int8.onnx").graph.node}
    assert "DynamicQuantizeLinear" in ops or "MatMulInteger" in ops
    assert fp32["max_abs_diff"] < 1e-4
    code, _, err = run_cli(
        ["export", ckpt, "--out", tmp_path / "b.onnx", "--precision", "bf16"], monkeypatch, capsys
    )
    assert code == 2 and "bf16" in err and not (tmp_path / "b.onnx").exists()
