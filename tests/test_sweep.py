"""keyscribe sweep: two tiny configs -> runs, results.csv, results.md, plots; reruns resume or skip."""

from pathlib import Path

from keyscribe.report import markdown_table, read_metrics
from keyscribe.sweep import SweepOptions, load_run_config, run_sweep

REPO = Path(__file__).resolve().parents[1]
TINY = """base: {base}
description: "{description}"
data: {{window_length: 4000, padding: [0, 0], batch_size: 16, num_workers: 0}}
model:
  frontend: {{mlp_features: [16]}}
  encoder: {encoder}
optim: {{warmup_epochs: 2}}
trainer: {{max_epochs: 40, limit_train_batches: 2, progress_bar: false, max_time_minutes: null}}
"""


def _configs(folder: Path) -> Path:
    folder.mkdir()
    base = REPO / "configs/emg/quickstart.yaml"
    encoders = {
        "a-tdsconv": ("tiny TDSConv", "{kind: tdsconv, block_channels: [8], kernel_width: 4}"),
        "b-gru": ("tiny BiGRU", "{kind: gru, hidden_size: 8, num_layers: 1}"),
    }
    for name, (description, encoder) in encoders.items():
        (folder / f"{name}.yaml").write_text(
            TINY.format(base=base, description=description, encoder=encoder)
        )
    return folder


def test_sweep_writes_tables_and_plots_and_resumes(synth_dir: Path, tmp_path: Path) -> None:
    configs = _configs(tmp_path / "configs")
    out = tmp_path / "sweep"
    options = SweepOptions([f"data.root={synth_dir}"], epochs_scale=0.05)  # 40 epochs -> 2
    assert load_run_config(configs / "a-tdsconv.yaml", out / "x", options).optim.warmup_epochs == 0
    log: list[str] = []
    rows = run_sweep([configs], out, options, log=log.append)

    assert [r["run"] for r in rows] == ["a-tdsconv", "b-gru"]
    assert all(r["status"] == "done" and r["epochs"] == 2 and r["max_epochs"] == 2 for r in rows)
    assert all(
        r["val_cer"] is not None and r["test_cer"] is not None and r["parameters"] > 0 for r in rows
    )
    csv_lines = (out / "results.csv").read_text().splitlines()
    assert csv_lines[0].startswith(
        "run,description,status,epochs,max_epochs,steps,parameters,train_cer,val_cer,test_cer"
    )
    assert len(csv_lines) == 3
    md = (out / "results.md").read_text()
    assert "Epochs scaled by 0.05" in md and "| a-tdsconv | tiny TDSConv | done | 2 / 2 |" in md
    for png in ("a-tdsconv.png", "b-gru.png", "val_cer.png"):
        assert (out / "plots" / png).read_bytes()[:4] == b"\x89PNG"
    assert len(read_metrics(out / "a-tdsconv" / "logs" / "metrics.csv")["val/CER"]) == 2

    # A finished run is skipped; a run killed after an epoch (last.ckpt, no results) resumes.
    (out / "b-gru" / "results.json").unlink()
    log.clear()
    run_sweep([configs], out, options, log=log.append)
    assert "finished earlier, skipped" in log[0] and "resuming" in log[1]
    assert (out / "b-gru" / "results.json").exists()


def test_markdown_table_marks_missing_runs() -> None:
    row = dict.fromkeys(
        (
            "steps",
            "epochs",
            "max_epochs",
            "parameters",
            "train_cer",
            "val_cer",
            "test_cer",
            "best_val_loss",
            "wall_time_s",
        )
    )
    text = markdown_table([{**row, "run": "r", "description": "a | b", "status": "pending"}])
    assert "| r | a \\| b | pending | – / – |" in text


def test_sweep_over_split_files_reports_greedy_and_beam_lm_per_run_and_mean(
    synth_dir: Path, tmp_path: Path
) -> None:
    from keyscribe.sweep import parse_over

    config = _configs(tmp_path / "configs") / "a-tdsconv.yaml"
    user0 = synth_dir / "splits" / "user0.yaml"
    user1 = tmp_path / "user1.yaml"  # the same sessions under another name: a second "user"
    user1.write_text(user0.read_text().replace("user: user0", "user: user1"))
    out = tmp_path / "sweep"
    options = SweepOptions([f"data.root={synth_dir}"], epochs_scale=0.025, lm="auto")
    over = parse_over(f"data.splits={user0},{user1}")
    rows = run_sweep([config], out, options, log=lambda _: None, over=over)

    assert [r["run"] for r in rows] == ["user0", "user1"]
    assert all(r["status"] == "done" and r["test_cer_lm"] is not None for r in rows)
    saved = (out / "user1" / "config.yaml").read_text()
    assert f"splits: {user1}" in saved
    md = (out / "results.md").read_text()
    mean = sum(r["test_cer_lm"] for r in rows) / 2
    assert "| test CER beam + LM (%) |" in md
    assert f"| **mean** | {sum(r['val_cer'] for r in rows) / 2:.2f} |" in md and f"{mean:.2f} |" in md
    log: list[str] = []
    run_sweep([config], out, options, log=log.append, over=over)
    assert all("finished earlier, skipped" in line for line in log) and len(log) == 2


def test_parse_over_refuses_malformed_values() -> None:
    import pytest

    from keyscribe.errors import ConfigError
    from keyscribe.sweep import parse_over

    assert parse_over("data.splits=a/user0.yaml,a/user1.yaml") == (
        "data.splits",
        ["a/user0.yaml", "a/user1.yaml"],
    )
    for bad in ("data.splits", "=a,b", "data.splits="):
        with pytest.raises(ConfigError, match="--over must look like"):
            parse_over(bad)
