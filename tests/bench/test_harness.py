"""The timing helpers every benchmark uses: a timing covers at least MIN_TIMED_S, and a ratio over
a time that is not positive is a missing figure, never a ZeroDivisionError."""

from __future__ import annotations

import pytest

from keyscribe.bench import harness
from keyscribe.bench.deformable import print_table, ratios


def test_measure_repeats_until_both_clocks_advance() -> None:
    calls = []
    timing = harness.measure(lambda: calls.append(1), min_calls=3)
    assert timing.calls == len(calls) >= 3
    assert timing.wall * timing.calls >= harness.MIN_TIMED_S
    assert timing.cpu * timing.calls >= harness.MIN_TIMED_S


def test_measure_stops_when_a_clock_never_advances(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(harness.time, "process_time", lambda: 0.0)
    timing = harness.measure(lambda: None, max_calls=50)
    assert timing.calls == 50 and timing.cpu == 0.0


def test_ratio_of_a_zero_time_is_missing() -> None:
    assert harness.ratio(3.0, 2.0) == 1.5
    assert harness.ratio(3.0, 0.0) is None
    assert harness.ratio(float("nan"), 1.0) is None
    assert harness.show_ratio(None) == "-" and harness.show_ratio(1.534) == "1.53x"


def test_deformable_table_with_zero_convolution_time(capsys: pytest.CaptureFixture[str]) -> None:
    row = {"net": "lstm", "layer": "conv1", "batch": 1, "cin": 1, "cout": 16, "h": 8, "w": 8}
    for name in ("conv", "op_auto", "layer"):
        row[f"{name}_fwd"] = row[f"{name}_fb"] = 0.0 if name == "conv" else 1.0
    row.update(ratios(row, ["auto"]))
    assert row["layer_fb_x_conv"] is None
    totals = {k: v for k, v in row.items() if k.endswith(("_fwd", "_fb", "_x_conv"))}
    machine = {
        "cpu": "x",
        "cores": 1,
        "threads": 1,
        "torch": "t",
        "commit": "c",
        "load_average": [0.0],
    }
    result = {
        "machine": machine,
        "load_average_end": 0.0,
        "clock": "cpu",
        "methods": ["auto"],
        "kernel_available": False,
        "layers": [row],
        "totals": {"lstm": totals},
    }
    print_table(result)
    printed = capsys.readouterr().out
    assert " - " in printed and "compiled kernel missing (no numba)" in printed
