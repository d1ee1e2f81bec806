"""Every benchmark in quick mode (tiny sizes): it runs, prints its table and writes figures as
JSON with the expected keys and shapes. No timing is asserted, not even that it is positive:
benchmarks measure, tests do not, and a fast idle machine must pass as a slow busy one does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from keyscribe.bench import BENCHMARKS, run_benchmark

EXTRA = {"train_throughput": ["--steps", "1", "--encoders", "tdsconv,gru"]}


def _figure(value: object) -> bool:
    """A timing or ratio as the JSON carries it: a number, or None where it had no meaning."""
    return value is None or isinstance(value, int | float)


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
        assert [(r["model"], r["precision"]) for r in figures["rows"]] == [
            ("tdsconv", "fp32"),
            ("tdsconv", "bf16"),
            ("tdsconv (reference 2-D)", "fp32"),
            ("gru", "fp32"),
            ("gru", "bf16"),
        ]
        assert all(_figure(r["step_s"]) and _figure(r["frames_per_s"]) for r in figures["rows"])
        comparison = figures["tdsconv_vs_reference"]
        assert comparison["max_abs_diff"] < 1e-4  # numerics, not speed
        assert all(_figure(comparison[k]) for k in ("whole_model_speedup", "encoder_speedup"))
        roofline = comparison["roofline"]  # both formulations do the same arithmetic
        assert roofline["flops_per_step"]["ours"] == roofline["flops_per_step"]["reference"] > 0
        assert all(_figure(roofline[k]) for k in ("best_possible_speedup", "ours_share_of_least"))
    elif name == "deformable":
        assert {r["net"] for r in figures["layers"]} == {"crnn", "lstm"}
        assert len(figures["layers"]) == 7 + 5
        for t in figures["totals"].values():
            assert all(_figure(t[k]) for k in ("conv_fb", "layer_fb", "layer_fb_x_conv"))
    elif name == "decode":
        assert [r["decoder"] for r in figures["results"]][0] == "greedy"
        assert all(_figure(r["x_real_time"]) for r in figures["results"])
    elif name == "transcribe":
        cases = [(r["decoder"], r["runtime"], r["precision"]) for r in figures["rows"]]
        assert cases == [
            ("greedy", "torch", "fp32"),
            ("greedy", "torch", "bf16"),
            ("greedy", "onnx", "fp32"),
        ]
        assert all(_figure(r["x_real_time_cpu"]) and r["signal_s"] == 6 for r in figures["rows"])
        assert all(r["cer"] >= 0 for r in figures["rows"]) and "bf16" in figures["cpu_support"]
    elif name == "memory":
        assert figures["transcribe_peak_rss_mb"] >= figures["baseline_peak_rss_mb"] > 0
    elif name == "rnn_paths":
        assert all(r["max_abs_diff"] < 1e-5 and _figure(r["speedup"]) for r in figures["rows"])
    elif name == "htr_throughput":
        assert _figure(figures["train_lines_per_s"]) and _figure(figures["transcribe_lines_per_s"])


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


def test_decode_with_an_lm_reports_agreement_reference_and_streaming(tmp_path: Path) -> None:
    lm = Path(__file__).parent / "fixtures" / "lm" / "tiny.arpa"
    out = tmp_path / "decode.json"
    run_benchmark(
        "decode", ["--quick", "--backends", "python", "--lm", str(lm), "--json", str(out)]
    )
    figures = json.loads(out.read_text())
    names = [r["decoder"] for r in figures["results"]]
    assert names[:4] == ["greedy", "beam", "beam+lm", "beam+lm exact"]
    assert "pruned vs exact (best differs)" in figures["agreement"]
    streaming = figures["streaming"]
    assert streaming["chunk_ms"] == 40 and streaming["equal_to_offline"] is True
    assert streaming["beam_size"] == 4 and streaming["cer"] == streaming["offline_cer"]
    assert _figure(streaming["mean_chunk_cpu_ms"]) and _figure(streaming["p95_chunk_cpu_ms"])
    if "emg2qwerty reference" in names:  # with the kenlm package
        assert names[-2:] == ["beam+lm emg2qwerty-style", "emg2qwerty reference"]
        assert "ours vs emg2qwerty reference" in figures["agreement"]
        speedup = figures["speedup_vs_reference"]
        assert set(speedup) == {"beam+lm", "beam+lm exact", "beam+lm emg2qwerty-style"}
        assert all(_figure(v) for v in speedup.values())
