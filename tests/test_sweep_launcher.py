"""keyscribe sweep --launcher submitit, local mode: one job (process) per config, the same report."""

from pathlib import Path

import pytest

from keyscribe.errors import ConfigError
from keyscribe.sweep import LauncherOptions, SweepOptions, run_sweep
from test_sweep import _configs

pytest.importorskip("submitit")


def test_submitit_local_jobs_write_the_same_report(synth_dir: Path, tmp_path: Path) -> None:
    configs = _configs(tmp_path / "configs")
    out = tmp_path / "sweep"
    options = SweepOptions([f"data.root={synth_dir}", "trainer.num_threads=1"], epochs_scale=0.05)
    launcher = LauncherOptions("submitit", cluster="local", timeout_min=10)
    log: list[str] = []
    rows = run_sweep([configs], out, options, log=log.append, launcher=launcher)

    assert [r["run"] for r in rows] == ["a-tdsconv", "b-gru"]
    assert all(
        r["status"] == "done" and r["epochs"] == 2 and r["val_cer"] is not None for r in rows
    )
    assert len((out / "results.csv").read_text().splitlines()) == 3
    assert "| a-tdsconv | tiny TDSConv | done | 2 / 2 |" in (out / "results.md").read_text()
    assert (out / "plots" / "val_cer.png").read_bytes()[:4] == b"\x89PNG"
    assert log[0].startswith("submitted 2 runs to local")
    assert sorted(line.split(":")[0] for line in log[1:]) == ["a-tdsconv", "b-gru"]
    assert len(list((out / "submitit").glob("*/*_result.pkl"))) == 2  # each ran as its own job

    log.clear()  # finished runs are skipped, nothing is submitted
    run_sweep([configs], out, options, log=log.append, launcher=launcher)
    assert all("finished earlier, skipped" in line for line in log) and len(log) == 2


def test_launcher_options_are_checked() -> None:
    with pytest.raises(ConfigError, match="launcher must be"):
        LauncherOptions("ray")
    with pytest.raises(ConfigError, match="cluster must be"):
        LauncherOptions("submitit", cluster="k8s")
