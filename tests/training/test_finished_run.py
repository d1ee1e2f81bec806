"""A run that has ended stays as it is: ``train --resume`` on it changes nothing on disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.checkpoints import EMG_TINY
from helpers.cli import run_cli


def _snapshot(run: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}


def test_resume_of_a_finished_run_changes_nothing(
    synth_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run = tmp_path / "run"
    args = ["train", "configs/emg/quickstart.yaml", "--data", synth_dir, "--out", run]
    sets = [a for s in EMG_TINY for a in ("--set", s)]
    code, out, _ = run_cli([*args, *sets, "--max-epochs", "2", "--json"], monkeypatch, capsys)
    assert code == 0, out
    before = _snapshot(run)
    assert b'"train_cer"' in before["results.json"]

    code, out, err = run_cli([*args, *sets, "--max-epochs", "2", "--resume"], monkeypatch, capsys)
    assert code == 0, err
    assert "complete" in out + err
    assert _snapshot(run) == before  # results.json, checkpoints and config byte for byte
