"""--device cpu|cuda|auto and progress bars: the CPU path, ``auto`` falling back to the CPU where
torch sees no GPU, clear errors for a GPU that is not there, bars only when asked for."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from helpers.checkpoints import EMG_TINY, save_untrained
from helpers.sessions import key, write_session
from keyscribe import api
from keyscribe.devices import module_device, resolve_device
from keyscribe.errors import ConfigError
from keyscribe.progress import progress, wanted

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cfg = api.load_config(ROOT / "configs/emg/quickstart.yaml", EMG_TINY)
    return save_untrained(cfg, tmp_path_factory.mktemp("ckpt") / "tiny.ckpt")


@pytest.fixture(scope="module")
def sessions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sessions")
    for i in range(3):
        write_session(folder / f"s{i}.hdf5", 6000, [key("a", 500), key("b", 3000)], seed=i)
    return folder


def test_auto_falls_back_to_the_cpu_without_a_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ConfigError, match="--device cuda: torch sees no CUDA GPU"):
        resolve_device("cuda")
    with pytest.raises(ConfigError, match="--device must be cpu, cuda"):
        resolve_device("tpu")
    with pytest.raises(ConfigError, match="--device must be cpu, cuda"):
        resolve_device("cpu:1")


def test_recognizer_on_auto_gives_the_cpu_results(
    checkpoint: Path, sessions: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    plain = api.load_model(checkpoint)
    moved = plain.use_device("auto")
    assert moved.device == torch.device("cpu") and module_device(moved.model).type == "cpu"
    a = [r.label_ids for r in plain.transcribe(sessions)]
    b = [r.label_ids for r in moved.transcribe(sessions, batch_size=1)]
    assert a == b and len(a) == 3
    report = api.evaluate(checkpoint, sessions, device="auto", batch_size=2)
    assert report.items == 3 and report.cer == api.evaluate(checkpoint, sessions).cer


def test_progress_bar_only_when_enabled(capsys: pytest.CaptureFixture[str]) -> None:
    assert list(progress(range(3), 3, "items", False)) == [0, 1, 2]
    assert capsys.readouterr().err == ""
    assert list(progress(range(3), 3, "items", True)) == [0, 1, 2]
    assert "items" in capsys.readouterr().err
    assert not wanted(quiet=True)


def test_evaluate_shows_progress_per_session(
    checkpoint: Path, sessions: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    api.evaluate(checkpoint, sessions, progress=True)
    assert "sessions" in capsys.readouterr().err
    api.evaluate(checkpoint, sessions, progress=False)
    assert capsys.readouterr().err == ""


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    code = "from keyscribe.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)


def test_cli_device_and_batch_size(checkpoint: Path, sessions: Path) -> None:
    done = _cli("evaluate", str(checkpoint), str(sessions), "--device", "auto", "--batch-size", "2", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["items"] == 3
    assert "sessions" not in done.stderr  # --json (and no terminal): no progress bar
    bad = _cli("transcribe", str(checkpoint), str(sessions / "s0.hdf5"), "--device", "gpu")
    assert bad.returncode == 2 and bad.stderr.startswith("keyscribe: error: --device must be cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is here: --device cuda works")
def test_cli_cuda_without_a_gpu_is_one_line(checkpoint: Path, sessions: Path) -> None:
    for command in ("evaluate", "transcribe"):
        target = sessions if command == "evaluate" else sessions / "s0.hdf5"
        done = _cli(command, str(checkpoint), str(target), "--device", "cuda")
        assert done.returncode == 2, done.stderr
        assert done.stderr == "keyscribe: error: --device cuda: torch sees no CUDA GPU here (try --device auto)\n"


def test_precision_after_the_device(checkpoint: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    recognizer = api.load_model(checkpoint).use_device("auto").use_precision("bf16")
    assert recognizer.precision == "bf16" and recognizer.device.type == "cpu"
    with pytest.raises(ConfigError, match="choose the device before the precision"):
        api.load_model(checkpoint).use_precision("int8").use_device(torch.device("meta"))
