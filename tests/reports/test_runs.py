"""Run and sweep reports: curves read from metrics.csv, and the page in a real browser (one
table row per run, sorting by a column reorders them, every run's curves drawn)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from keyscribe.cli import app
from keyscribe.reports.runs import read_curves
from reports.browser import not_blank

METRICS = """epoch,lr-Adam,step,train/CER,train/loss_epoch,train/loss_step,val/CER,val/loss
,0.003,0,,,,,
0,,0,,,5.9,,
0,,1,,,5.1,,
0,,1,,,,{v0},4.0
0,,1,90.0,5.5,,,
,0.0015,2,,,,,
1,,2,,,3.2,,
1,,3,,,2.9,,
1,,3,,,,{v1},2.5
1,,3,40.0,3.0,,,
"""


def make_run(root: Path, name: str, val_cers: tuple[float, float], done: bool = True) -> Path:
    run = root / name
    (run / "logs").mkdir(parents=True)
    (run / "config.yaml").write_text(f"description: run {name}\ntrainer:\n  max_epochs: 2\n")
    (run / "logs" / "metrics.csv").write_text(METRICS.format(v0=val_cers[0], v1=val_cers[1]))
    if done:
        results = {"epochs": 2, "steps": 4, "parameters": 1234, "val_cer": val_cers[1],
                   "test_cer": val_cers[1] + 1, "train_seconds": 12.5}  # fmt: skip
        (run / "results.json").write_text(json.dumps(results))
    return run


def test_curves_share_the_epoch_axis(tmp_path: Path) -> None:
    curves = read_curves(make_run(tmp_path, "a", (70.0, 30.0)) / "logs" / "metrics.csv")
    assert curves["lr-Adam"] == [[0.0, 0.003], [1.0, 0.0015]]  # logged without an epoch
    assert curves["val/CER"] == [[0.0, 70.0], [1.0, 30.0]]
    steps = curves["train/loss_step"]  # inside their epoch, in order
    assert [x for x, _ in steps] == sorted(x for x, _ in steps) and 0 <= steps[1][0] < 1


def test_sweep_report_in_a_browser(tmp_path: Path, browser) -> None:
    sweep = tmp_path / "sweep"
    for name, cers in (
        ("b-mid", (80.0, 30.0)),
        ("a-worst", (90.0, 50.0)),
        ("c-best", (60.0, 10.0)),
    ):
        make_run(sweep, name, cers)
    make_run(sweep, "d-pending", (95.0, 95.0), done=False)
    out = tmp_path / "sweep.html"
    result = CliRunner().invoke(app, ["report", str(sweep), "--out", str(out)])
    assert result.exit_code == 0, result.output
    seen = browser.open(out)
    assert seen == {"errors": [], "requests": []}
    runs = browser.js(
        "return [...document.querySelectorAll('#results tbody tr')].map(r => r.dataset.run)"
    )
    assert runs == ["a-worst", "b-mid", "c-best", "d-pending"]
    browser.js("document.querySelector('#results th[data-key=val_cer]').click()")
    runs = browser.js(
        "return [...document.querySelectorAll('#results tbody tr')].map(r => r.dataset.run)"
    )
    # ascending; the unfinished run shows the best validation CER it logged (95)
    assert runs == ["c-best", "b-mid", "a-worst", "d-pending"]
    browser.js("document.querySelector('#results th[data-key=val_cer]').click()")
    runs = browser.js(
        "return [...document.querySelectorAll('#results tbody tr')].map(r => r.dataset.run)"
    )
    assert runs == ["d-pending", "a-worst", "b-mid", "c-best"]
    names = browser.js(
        "return [...document.querySelectorAll('#charts path.series')].map(p => p.dataset.name)"
    )
    assert {"a-worst val", "c-best train", "d-pending val", "b-mid Adam"} <= set(names)
    # unticking a run leaves its curves out
    browser.js(
        "document.querySelector('#results input[aria-label=\"show curves of a-worst\"]').click()"
    )
    names = browser.js(
        "return [...document.querySelectorAll('#charts path.series')].map(p => p.dataset.name)"
    )
    assert names and not any(n.startswith("a-worst") for n in names)
    assert not_blank(browser.screenshot())
    assert browser.messages()["errors"] == []


def test_run_report_and_bad_sources(tmp_path: Path, browser) -> None:
    run = make_run(tmp_path, "one", (70.0, 20.0))
    out = tmp_path / "run.html"
    assert CliRunner().invoke(app, ["report", str(run), "--out", str(out)]).exit_code == 0
    assert browser.open(out, width=420) == {"errors": [], "requests": []}
    assert browser.js("return document.querySelectorAll('#charts path.series').length") == 5
    assert not_blank(browser.screenshot())
    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(app, ["report", str(empty), "--out", str(out)])
    assert result.exit_code != 0


@pytest.mark.parametrize("text", ["[1, 2]", '{"cer": 3}', "not json"])
def test_report_refuses_other_json(tmp_path: Path, text: str) -> None:
    from keyscribe.errors import DataError
    from keyscribe.reports import write_report

    source = tmp_path / "x.json"
    source.write_text(text)
    with pytest.raises(DataError, match="x.json"):
        write_report(source, tmp_path / "x.html")
