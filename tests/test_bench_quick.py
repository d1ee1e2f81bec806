"""Every benchmark in quick mode (tiny sizes): it runs, prints its table and writes figures as
JSON. No timing is asserted: benchmarks measure, tests do not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from keyscribe.bench import BENCHMARKS, run_benchmark

EXTRA = {"train_throughput": ["--steps", "1", "--encoders", "tdsconv,gru"]}


def _positive(value: float) -> bool:
    return value > 0 and value == value  # not NaN


@pytest.mark.parametrize("name", list(BENCHMARKS))
def test_quick_run_produces_figures(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / f"{name}.json"
    returned = run_benchmark(
        name, ["--quick", "--threads", "1", *EXTRA.get(name, []), "--json", str(out)]
    )
    figures = json.loads(out.read_text())
    assert figures == json.loads(json.dumps(returned))
    assert figures["machine"]["threads"] == 1 and figures["machine"]["cores"] >= 1
    printed = capsys.readouterr().out
    assert "thread(s), commit" in printed and "load average" in printed  # the machine line
    assert "|" in printed  # a table
    if name == "train_throughput":
        assert [r["model"] for r in figures["rows"]] == [
            "tdsconv",
            "tdsconv (reference 2-D)",
            "gru",
        ]
        assert all(_positive(r["frames_per_s"]) for r in figures["rows"])
        assert figures["tdsconv_vs_reference"]["max_abs_diff"] < 1e-4
    elif name == "deformable":
        assert {r["net"] for r in figures["layers"]} == {"crnn", "lstm"}
        assert all(_positive(t["layer_fb"]) for t in figures["totals"].values())
    elif name == "decode":
        assert [r["decoder"] for r in figures["results"]][0] == "greedy"
        assert all(_positive(r["real_time_factor"]) for r in figures["results"])
    elif name == "transcribe":
        assert [r["decoder"] for r in figures["rows"]] == ["greedy", "beam"]
        assert all(_positive(r["rtf"]) and r["signal_s"] == 6 for r in figures["rows"])
    elif name == "memory":
        assert figures["transcribe_peak_rss_mb"] >= figures["baseline_peak_rss_mb"] > 0
    elif name == "rnn_paths":
        assert all(r["max_abs_diff"] < 1e-5 and _positive(r["speedup"]) for r in figures["rows"])
    elif name == "htr_throughput":
        assert _positive(figures["train_lines_per_s"]) and _positive(
            figures["transcribe_lines_per_s"]
        )


def test_bare_json_prints_only_json(capsys: pytest.CaptureFixture[str]) -> None:
    run_benchmark("decode", ["--quick", "--backends", "python", "--json"])
    figures = json.loads(capsys.readouterr().out)
    assert [r["backend"] for r in figures["results"]] == ["-", "python"]


def test_cli_lists_and_runs_benchmarks() -> None:
    from typer.testing import CliRunner

    from keyscribe.cli import app

    runner = CliRunner()
    listed = runner.invoke(app, ["bench"])
    assert listed.exit_code == 0 and all(name in listed.output for name in BENCHMARKS)
    assert runner.invoke(app, ["bench", "nope"]).exit_code == 2
    ran = runner.invoke(app, ["bench", "decode", "--quick", "--backends", "python", "--json"])
    assert ran.exit_code == 0, ran.output
    assert json.loads(ran.output)["results"][1]["decoder"] == "beam"
