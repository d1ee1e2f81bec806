"""A training run SIGKILLed at random points and resumed with ``--resume`` ends with exactly the
weights and metrics of the same run left alone (bit-identical on CPU), with all training
randomness on: shuffling, window jitter, band rotation, SpecAugment, dropout — and even when
the resumed run loads its data in a worker process while the uninterrupted one did not."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from helpers.sessions import write_easy_dataset

REPO = Path(__file__).resolve().parents[2]
CONFIG = """\
base: {base}
seed: 7
data:
  root: {root}
  window_length: 2000
  padding: [200, 100]
  batch_size: 4
model:
  frontend: {{mlp_features: [16]}}
  encoder: {{kind: lstm, hidden_size: 8, num_layers: 2, dropout: 0.5}}
optim: {{lr: 3.0e-3, warmup_epochs: 2}}
trainer: {{max_epochs: {epochs}, progress_bar: false, log_every_n_steps: 1, num_threads: 1}}
"""
EPOCHS = 12


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = write_easy_dataset(tmp_path_factory.mktemp("resume"), train_seconds=16)
    path = root / "config.yaml"
    path.write_text(CONFIG.format(base=REPO / "configs/emg/base.yaml", root=root, epochs=EPOCHS))
    return path


def _train(config: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "keyscribe", "train", str(config), "--out", str(out), *extra]


ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _epoch(run: Path) -> int:
    try:
        return torch.load(run / "last.ckpt", weights_only=False)["epoch"]
    except (FileNotFoundError, EOFError, RuntimeError):
        return -1


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=False)["state_dict"]


def test_killed_and_resumed_run_equals_uninterrupted_run(config: Path, tmp_path: Path) -> None:
    whole = tmp_path / "whole"
    ref = subprocess.run(_train(config, whole, "--json"), env=ENV, capture_output=True, text=True)
    assert ref.returncode == 0, ref.stderr[-2000:]

    # kill within half an epoch of the progress seen, however fast this machine runs an epoch
    epoch_seconds = json.loads((whole / "results.json").read_text())["train_seconds"] / EPOCHS

    killed = tmp_path / "killed"
    workers = ("--set", "data.num_workers=1")
    rng = random.Random(0)
    kills = 0
    while kills < 3:
        before = _epoch(killed)
        proc = subprocess.Popen(
            _train(config, killed, "--resume", *workers),
            env=ENV,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None and _epoch(killed) <= before:
            time.sleep(0.05)  # wait for progress, then kill somewhere in the next epoch
        time.sleep(rng.uniform(0.0, min(0.6, 0.5 * epoch_seconds)))
        if proc.poll() is not None:
            pytest.fail(
                f"run ended before being killed: {proc.stderr.read()[-2000:] if proc.stderr else ''}"
            )
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
    assert 0 <= _epoch(killed) < EPOCHS - 1
    stale = killed / ".last.ckpt.killedwriter.tmp"  # what a kill inside a checkpoint write leaves
    stale.write_bytes(b"partial")
    done = subprocess.run(
        _train(config, killed, "--resume", "--json", *workers),
        env=ENV,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert not stale.exists()

    for name in ("last.ckpt", "best.ckpt"):
        a, b = _weights(whole / name), _weights(killed / name)
        assert a.keys() == b.keys()
        different = [k for k in a if not torch.equal(a[k], b[k])]
        assert not different, f"{name}: {different}"
    results = [json.loads((run / "results.json").read_text()) for run in (whole, killed)]
    for key in ("epochs", "steps", "train_cer", "val_cer", "test_cer"):
        assert results[0][key] == results[1][key], key
    assert (
        results[0]["epochs"] == EPOCHS and results[0]["steps"] > EPOCHS
    )  # several steps per epoch
