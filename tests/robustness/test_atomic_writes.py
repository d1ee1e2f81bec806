"""A writer killed mid-write (SIGKILL: no cleanup, no finally) leaves the previous file intact:
checkpoints through ``atomic_torch_save``, and results, page copies and LMs through the same
temp-file + fsync + rename."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from keyscribe.atomic import atomic_torch_save

WRITER = r"""
import os, sys, time, torch
from keyscribe.atomic import atomic_torch_save
target, mode = sys.argv[1], sys.argv[2]
if mode == "stall-in-fsync":  # the temp file is complete, the rename has not happened yet
    real = os.fsync
    def stalled(fd):
        real(fd)
        print("in-fsync", flush=True)
        time.sleep(60)
    os.fsync = stalled
version = 1
while True:
    version += 1
    print("writing", version, flush=True)
    atomic_torch_save({"version": version, "weights": torch.full((2_000_000,), float(version))}, target)
"""

PYTHONPATH = str(Path(__file__).resolve().parents[2] / "src")


def _writer(target: Path, mode: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": PYTHONPATH}
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(target), mode],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


def _check_intact(target: Path, versions: set[int]) -> int:
    ckpt = torch.load(target, weights_only=False)
    assert ckpt["version"] in versions
    assert torch.equal(ckpt["weights"], torch.full((2_000_000,), float(ckpt["version"])))
    return ckpt["version"]


def test_kill_during_fsync_keeps_previous_checkpoint(tmp_path: Path) -> None:
    target = tmp_path / "last.ckpt"
    atomic_torch_save({"version": 1, "weights": torch.full((2_000_000,), 1.0)}, target)
    proc = _writer(target, "stall-in-fsync")
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline().strip() for _ in range(2)]
        assert lines == ["writing 2", "in-fsync"]
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert _check_intact(target, {1}) == 1
    leftovers = list(tmp_path.glob(".last.ckpt.*.tmp"))
    assert len(leftovers) == 1  # the killed write's temp file: never read, safe to delete


def test_kill_at_a_random_point_keeps_a_whole_checkpoint(tmp_path: Path) -> None:
    """8 MB saves in a loop, killed at a random moment: the file is always one whole version.
    (One run: each writer pays ~5 s of imports on the 2-core CI machine.)"""
    seed = 8
    target = tmp_path / "last.ckpt"
    atomic_torch_save({"version": 1, "weights": torch.full((2_000_000,), 1.0)}, target)
    proc = _writer(target, "loop")
    try:
        assert proc.stdout is not None
        for _ in range(random.Random(seed).randint(1, 4)):
            proc.stdout.readline()
        time.sleep(random.Random(seed).uniform(0.0, 0.05))
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    _check_intact(target, set(range(1, 1000)))
