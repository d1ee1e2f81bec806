"""The sEMG reports: key errors and times, and the pages in a real browser (one timeline per
session drawing its reference and decoded keys, zoom, the stream latency plot)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from helpers.sessions import key, write_easy_session, write_session
from keyscribe.cli import app
from keyscribe.emg.keytimes import frame_times, reference_key_times
from keyscribe.reports import write_report
from keyscribe.reports.emg import key_errors, spectrogram_strip
from reports.browser import not_blank


def test_key_errors_and_times(tmp_path: Path) -> None:
    ref_ops, hyp_ops, pairs = key_errors("abcd", "abxdd")
    assert ref_ops == ["=", "=", "s", "="] and hyp_ops.count("i") == 1 and len(pairs) == 4
    # output frame t of a model that trims 10 frames sits at the centre of the frames it reads
    assert frame_times([0, 5], 90, 1600 + 64 - 16, 64, 16, 2000.0) == [0.056, 0.096]
    session = write_session(tmp_path / "s.hdf5", 4000, [key("a", 100), key("Key.shift", 900),
                                                      key("b", 2500), key("c", 5000)])  # fmt: skip
    keys = reference_key_times(session)
    assert keys["keys"] == "a\u21e7b" and keys["times"] == [0.05, 0.45, 1.25]  # c: after the end
    strip = spectrogram_strip(session)
    assert strip["rows"] == 2 * 33 + 2 and strip["tiles"][0]["src"].startswith("data:image/")
    assert spectrogram_strip(tmp_path / "gone.hdf5") is None


def evaluation(tmp_path: Path) -> Path:
    sessions = [write_session(tmp_path / f"s{i}.hdf5", 16000, [key(c, 1500 * j + 400)
                for j, c in enumerate("hello")], seed=i) for i in range(2)]  # fmt: skip
    items = []
    for i, path in enumerate(sessions):
        decoded = "hello" if i == 0 else "hxllo\u232b"
        items.append({
            "id": f"s{i}:0", "text": decoded, "reference_text": "hello",
            "typed_text": decoded.replace("\u232b", "")[:-1] if i else decoded,
            "reference_typed_text": "hello",
            "confidences": [0.9, 0.4, 0.8, 0.95, 0.7, 0.5][: len(decoded)],
            "times": [0.25 + 0.75 * j for j in range(len(decoded))],
            "reference_times": [0.2 + 0.75 * j for j in range(5)],
            "session": str(path), "duration_s": 8.0,
        })  # fmt: skip
    scores = {"data": str(tmp_path), "domain": "emg", "items": 2, "cer": 20.0, "wer": 50.0,
              "results": items}  # fmt: skip
    path = tmp_path / "eval.json"
    path.write_text(json.dumps(scores), encoding="utf-8")
    return path


def drawn(browser) -> list[tuple[int, int]]:
    return browser.js(
        "return [...document.querySelectorAll('.session')].map(s => "
        "[s.querySelectorAll('.key-ref').length, s.querySelectorAll('.key-hyp').length])"
    )


def test_emg_report_in_a_browser(tmp_path: Path, browser) -> None:
    out = write_report(evaluation(tmp_path), tmp_path / "emg.html")
    assert browser.open(out) == {"errors": [], "requests": []}
    assert drawn(browser) == [[5, 5], [5, 6]]  # the first 20 s: every key
    errors = browser.js(
        "return [...document.querySelectorAll('.session')][1].querySelectorAll('.key-hyp[data-op=i], .key-hyp[data-op=s]').length"
    )
    assert errors == 2  # x for e, and the inserted backspace
    assert browser.js("return document.querySelectorAll('.timeline svg image').length") >= 2
    # zoom in twice around the middle: keys outside the view are not drawn
    browser.js("document.querySelector('.tl-controls button[title=\"zoom in\"]').click()")
    browser.js("document.querySelector('.tl-controls button[title=\"zoom in\"]').click()")
    assert drawn(browser)[0][0] < 5
    assert not_blank(browser.screenshot())
    assert browser.open(out, width=400)["errors"] == []
    assert not_blank(browser.screenshot())


def test_evaluate_and_stream_reports(emg_ckpt: Path, tmp_path: Path, browser) -> None:
    session = write_easy_session(tmp_path / "easy.hdf5", seconds=6.0)
    out = tmp_path / "eval.html"
    result = CliRunner().invoke(
        app, ["evaluate", str(emg_ckpt), str(session), "--report", str(out), "--json", "--per-item"]
    )
    assert result.exit_code == 0, result.output
    item = json.loads(result.stdout)["results"][0]
    assert len(item["reference_times"]) == len(item["reference_text"]) > 10
    assert len(item["times"]) == len(item["text"]) == len(item["confidences"])
    assert browser.open(out) == {"errors": [], "requests": []}
    assert drawn(browser)[0][0] == len(item["reference_text"])
    streamed = CliRunner().invoke(app, ["stream", str(emg_ckpt), str(session), "--json"])
    assert streamed.exit_code == 0, streamed.output
    saved = tmp_path / "stream.json"
    saved.write_text(streamed.stdout, encoding="utf-8")
    replay = json.loads(streamed.stdout)
    assert len(replay["chunk_compute_ms"]) == replay["chunks"]
    assert (
        CliRunner().invoke(app, ["report", str(saved), "--out", str(tmp_path / "s.html")]).exit_code
        == 0
    )
    assert browser.open(tmp_path / "s.html") == {"errors": [], "requests": []}
    assert browser.js("return document.querySelectorAll('#latency path.series').length") == 1
    assert drawn(browser)[0][0] == len(item["reference_text"])


@pytest.fixture(scope="module")
def emg_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from helpers.checkpoints import EMG_TINY, REPO, save_untrained
    from keyscribe import api

    root = tmp_path_factory.mktemp("emg_ckpt")
    cfg = api.load_config(
        REPO / "configs" / "emg" / "quickstart.yaml", [*EMG_TINY, f"out_dir={root}"]
    )
    return save_untrained(cfg, root / "emg.ckpt")
