"""--device cpu|cuda|auto and progress bars: the CPU path, ``auto`` falling back to the CPU where
torch sees no GPU, clear errors for a GPU that is not there, bars only when asked for."""

from __future__ import annotations

import io
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


class _Stream(io.StringIO):
    """A stderr that says whether it is a terminal."""

    def __init__(self, terminal: bool) -> None:
        super().__init__()
        self.terminal = terminal

    def isatty(self) -> bool:
        return self.terminal


def _stderr(monkeypatch: pytest.MonkeyPatch, terminal: bool, *args: str) -> str:
    """What ``keyscribe ARGS`` (in this process) writes to a stderr that is or is not a terminal."""
    from keyscribe.cli import main

    stream = _Stream(terminal)
    monkeypatch.setattr(sys, "stderr", stream)
    monkeypatch.setattr(sys, "argv", ["keyscribe", *args])
    try:
        main()
    except SystemExit as exc:
        assert not exc.code, stream.getvalue()
    return stream.getvalue()


def test_progress_bars_on_a_terminal_only_without_json(
    checkpoint: Path, sessions: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """evaluate over many sessions and transcribe over a folder or many files show a bar on a
    terminal; --json keeps them quiet, and so does a stderr that is no terminal."""
    files = [str(sessions / f"s{i}.hdf5") for i in range(3)]
    runs = [  # what the bar counts, the command
        ("sessions", ["evaluate", str(checkpoint), str(sessions)]),
        ("sessions", ["transcribe", str(checkpoint), str(sessions)]),
        ("inputs", ["transcribe", str(checkpoint), *files]),
    ]
    for counted, args in runs:
        shown = _stderr(monkeypatch, True, *args)
        assert f"{counted}:" in shown and "/3 " in shown, shown  # "0/3 [00:00<?" at the start
        assert _stderr(monkeypatch, True, *args, "--json") == ""
        assert _stderr(monkeypatch, False, *args) == ""


def test_sessions_go_in_batches_of_chunks(
    checkpoint: Path, sessions: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--batch-size for sEMG: that many chunks of a session per network call, same results."""
    from keyscribe.emg.streaming import chunked

    monkeypatch.setattr(chunked, "CHUNK_FRAMES", 50)  # ~340 output frames a session: 7 chunks
    results: dict[int, list] = {}
    calls: dict[int, list[int]] = {}
    for batch in (1, 4):
        recognizer = api.load_model(checkpoint)
        calls[batch] = seen = []
        recognizer.model.register_forward_hook(
            lambda m, args, out, seen=seen: seen.append(args[0].shape[0])
        )
        results[batch] = [r.to_json() for r in recognizer.transcribe(sessions, batch_size=batch)]
    assert set(calls[1]) == {1} and max(calls[4]) == 4 and len(calls[4]) < len(calls[1])
    keys = ("id", "text", "label_ids", "confidences")
    assert [[r[k] for k in keys] for r in results[1]] == [[r[k] for k in keys] for r in results[4]]


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
    done = _cli(
        "evaluate",
        str(checkpoint),
        str(sessions),
        "--device",
        "auto",
        "--batch-size",
        "2",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["items"] == 3
    assert "sessions" not in done.stderr  # --json (and no terminal): no progress bar
    bad = _cli("transcribe", str(checkpoint), str(sessions / "s0.hdf5"), "--device", "gpu")
    assert bad.returncode == 2 and bad.stderr.startswith("keyscribe: error: --device must be cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is here: --device cuda works")
def test_cli_cuda_without_a_gpu_is_one_line(checkpoint: Path, sessions: Path) -> None:
    for command in ("evaluate", "transcribe", "stream"):
        target = sessions if command == "evaluate" else sessions / "s0.hdf5"
        done = _cli(command, str(checkpoint), str(target), "--device", "cuda", "--batch-size", "2")
        assert done.returncode == 2, done.stderr
        assert (
            done.stderr
            == "keyscribe: error: --device cuda: torch sees no CUDA GPU here (try --device auto)\n"
        )


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is here: --device cuda works")
def test_train_on_cuda_without_a_gpu_stops_before_training(tmp_path: Path) -> None:
    out = tmp_path / "run"
    config = str(ROOT / "configs/emg/quickstart.yaml")
    done = _cli("train", config, "--out", str(out), "--device", "cuda", "--max-steps", "1")
    assert done.returncode == 2, done.stderr
    assert (
        done.stderr
        == "keyscribe: error: --device cuda: torch sees no CUDA GPU here (try --device auto)\n"
    )
    assert not out.exists()


def test_precision_after_the_device(checkpoint: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    recognizer = api.load_model(checkpoint).use_device("auto").use_precision("bf16")
    assert recognizer.precision == "bf16" and recognizer.device.type == "cpu"
    with pytest.raises(ConfigError, match="choose the device before the precision"):
        api.load_model(checkpoint).use_precision("int8").use_device(torch.device("meta"))
