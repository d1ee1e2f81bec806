"""End to end through the shared Lightning loop: CER falls, checkpoints reload, killed runs resume."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import keyscribe as ks
from helpers.sessions import write_easy_dataset
from keyscribe.domain import get_domain

TINY = [
    "model.frontend.mlp_features=[32]",
    "model.encoder.block_channels=[8]",
    "model.encoder.kernel_width=8",
    "data.batch_size=8",
    "data.window_length=2000",
    "data.padding=[0,0]",
    "data.num_workers=0",
    "trainer.progress_bar=false",
    "trainer.max_time_minutes=null",
    "data.band_rotation=[0]",
    "data.jitter_max_offset=0",
    "data.window_jitter=false",
    "data.spec_augment.n_time_masks=0",
    "data.spec_augment.n_freq_masks=0",
]


@pytest.fixture(scope="module")
def easy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Keys a-e each burst on their own electrode: learnable in a few hundred steps."""
    return write_easy_dataset(tmp_path_factory.mktemp("easy"))


def test_overfit_cer_falls_and_checkpoint_reloads(easy_dir: Path, tmp_path: Path) -> None:
    cfg = ks.load_config(
        "configs/emg/quickstart.yaml",
        [*TINY, f"data.root={easy_dir}", f"out_dir={tmp_path}", "trainer.max_epochs=400",
         "trainer.check_val_every_n_epoch=400", "optim.lr=0.01", "optim.scheduler=constant"],
    )
    torch.manual_seed(0)
    untrained = ks.api.Recognizer(ks.builders.build_model(cfg, get_domain("emg").alphabet(cfg)),
                                  get_domain("emg").alphabet(cfg), cfg)
    train_session = easy_dir / "a.hdf5"
    before = ks.api.evaluate_dataset(untrained, get_domain("emg").eval_dataset(cfg, train_session, untrained.alphabet))
    results = ks.train(cfg)
    assert results["epochs"] == 400 and results["steps"] == 400
    after = ks.evaluate(tmp_path / "last.ckpt", train_session)
    assert before["cer"] >= 90.0
    assert after["cer"] <= before["cer"] - 20.0, (before["cer"], after["cer"])
    assert (tmp_path / "best.ckpt").exists() and (tmp_path / "config.yaml").exists()
    assert "train/loss_epoch" in (tmp_path / "logs" / "metrics.csv").read_text()
    reloaded = ks.load_model(tmp_path / "last.ckpt")
    assert reloaded.config.model.encoder["block_channels"] == [8]


def test_killed_run_resumes(easy_dir: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    args = [sys.executable, "-m", "keyscribe", "train", "configs/emg/quickstart.yaml", "--data", str(easy_dir),
            "--out", str(run)] + [a for t in TINY for a in ("--set", t)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([*args, "--max-epochs", "100000"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if (run / "last.ckpt").exists() and torch.load(run / "last.ckpt", weights_only=False)["epoch"] >= 2:
            break
        time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed = torch.load(run / "last.ckpt", weights_only=False)  # intact despite the kill (atomic writes)
    target = killed["epoch"] + 4
    done = subprocess.run([*args, "--max-epochs", str(target), "--resume", "--json"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    final = torch.load(run / "last.ckpt", weights_only=False)
    assert final["epoch"] == target - 1  # continued from the killed run's epoch, not from zero
    assert final["global_step"] == killed["global_step"] + (target - 1 - killed["epoch"]) * 1
    assert not list(run.glob(".*.tmp"))


def test_training_again_into_a_run_directory_warns_before_replacing_its_checkpoints(
    easy_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = ks.load_config(
        "configs/emg/quickstart.yaml",
        [*TINY, f"data.root={easy_dir}", f"out_dir={tmp_path}", "trainer.max_steps=1", "trainer.max_epochs=1"],
    )
    with caplog.at_level("WARNING", logger="keyscribe.api"):
        ks.train(cfg)
        assert not [r for r in caplog.records if "earlier run" in r.getMessage()]
        ks.train(cfg)
    warned = [r.getMessage() for r in caplog.records if "earlier run" in r.getMessage()]
    assert warned == [f"{tmp_path}: holds best.ckpt and last.ckpt of an earlier run; this run starts over"
                      " and replaces them (--resume continues that run instead)"]
