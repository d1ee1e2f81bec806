"""The HTR evaluation report: alignment and confusions, and the page in a real browser (one row
per line, sorting by CER reorders, the filter and a confusion entry hide rows, page boxes lead to
their rows, the offsets overlay of a deformable model)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image, ImageDraw
from typer.testing import CliRunner

from helpers.checkpoints import HTR_TINY, save_untrained
from keyscribe import api
from keyscribe.cli import app
from keyscribe.reports import write_report
from keyscribe.reports.htr import align, confusion_counts
from keyscribe.reports.page import image_uri
from reports.browser import not_blank

LINES = Path(__file__).parents[1] / "fixtures" / "htr" / "lines"
PAIRS = [  # reference, hypothesis
    ("Mon cher ami", "Mon cher ami"),
    ("je suis en retard", "je sais en retard"),
    ("pour accuser", "pour acuser"),
    ("la lettre", "la lettre."),
    ("nous avons", "nous avens"),
]


def test_align_marks_each_edit() -> None:
    assert align("chat", "chut") == [
        ["c", "c", "="],
        ["h", "h", "="],
        ["a", "u", "s"],
        ["t", "t", "="],
    ]
    assert [op for *_, op in align("abc", "ac")] == ["=", "d", "="]
    assert [op for *_, op in align("ac", "abc")] == ["=", "i", "="]
    assert confusion_counts([align(r, h) for r, h in PAIRS]) == [
        ["", ".", 1], ["c", "", 1], ["o", "e", 1], ["u", "a", 1]]  # fmt: skip


def page_evaluation(tmp_path: Path) -> Path:
    """An evaluation of five lines, three of them from a page drawn here."""
    page = Image.new("L", (600, 400), 235)
    draw = ImageDraw.Draw(page)
    polygons = []
    for k in range(3):
        y = 40 + 110 * k
        draw.line([(40, y + 30), (540, y + 25)], fill=30, width=6)
        polygons.append([[30, y], [560, y], [560, y + 60], [30, y + 60]])
    page.save(tmp_path / "page.png")
    images = sorted(LINES.glob("*.jpg"))
    items = []
    for i, (ref, hyp) in enumerate(PAIRS):
        line = np.asarray(Image.open(images[i]).convert("L").resize((320, 40)))
        item = {
            "id": f"line{i}",
            "text": hyp,
            "reference_text": ref,
            "confidences": [round(0.5 + 0.1 * (j % 5), 2) for j in range(len(hyp))],
            "frames": [4 * j for j in range(len(hyp))],
            "num_frames": 4 * len(hyp) + 2,
            "image": image_uri(line),
            "height": 40,
            "width": 320,
        }
        if i < 3:
            item["page"] = {"xml": str(tmp_path / "page.xml"), "image": str(tmp_path / "page.png"),
                            "polygon": polygons[i]}  # fmt: skip
        items.append(item)
    scores = {"data": "lines", "domain": "htr", "lines": 5, "items": 5, "cer": 7.5, "wer": 30.0,
              "results": items}  # fmt: skip
    path = tmp_path / "eval.json"
    path.write_text(json.dumps(scores), encoding="utf-8")
    return path


def rows(browser, visible_only: bool = True) -> list[str]:
    return browser.js(
        "return [...document.querySelectorAll('#rows .line-row')]"
        + (".filter(r => !r.hidden)" if visible_only else "")
        + ".map(r => r.dataset.id)"
    )


def test_htr_report_in_a_browser(tmp_path: Path, browser) -> None:
    out = write_report(page_evaluation(tmp_path), tmp_path / "htr.html")
    assert browser.open(out) == {"errors": [], "requests": []}
    assert rows(browser) == [f"line{i}" for i in range(5)]
    browser.js(
        "const s = document.getElementById('sort'); s.value = 'cer-desc'; s.dispatchEvent(new Event('change'))"
    )
    cers = browser.js(
        "return [...document.querySelectorAll('#rows .line-row')].map(r => +r.dataset.cer)"
    )
    assert cers == sorted(cers, reverse=True) and cers[0] > 0 == cers[-1]
    assert rows(browser)[-1] == "line0"
    # the filter box hides what does not match
    search = browser.driver.find_element("id", "filter")
    search.send_keys("retard")
    assert rows(browser) == ["line1"]
    browser.js(
        "const f = document.getElementById('filter'); f.value = ''; f.dispatchEvent(new Event('input'))"
    )
    assert len(rows(browser)) == 5
    # a confusion entry keeps the lines with that error, a second click shows all again
    entries = browser.js(
        "return [...document.querySelectorAll('.conf-item')].map(b => b.textContent)"
    )
    assert len(entries) == 4
    browser.js(
        "[...document.querySelectorAll('.conf-item')].find(b => b.textContent.startsWith('o \u2192 e')).click()"
    )
    assert rows(browser) == ["line4"]
    assert "o \u2192 e" in browser.js(
        "return document.getElementById('active-confusion').textContent"
    )
    browser.js("document.querySelector('.conf-item.active').click()")
    assert len(rows(browser)) == 5
    # the page view: one box per page line, coloured by CER; a click brings its row
    assert browser.js("return document.querySelectorAll('#pages polygon').length") == 3
    browser.js(
        "document.querySelector('#pages polygon[data-row=\"1\"]').dispatchEvent(new MouseEvent('click'))"
    )
    assert browser.js("return document.getElementById('row-1').classList.contains('flash')")
    assert browser.js("return document.querySelectorAll('#rows img.line').length") == 5
    assert not_blank(browser.screenshot())
    assert browser.open(out, width=400)["errors"] == []
    assert not_blank(browser.screenshot())


@pytest.fixture(scope="module")
def deformable_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("deformable")
    tree = json.loads(json.dumps(HTR_TINY))
    tree["model"]["frontend"]["deformable_layers"] = [1]
    config = root / "tiny.yaml"
    config.write_text(yaml.safe_dump(tree), encoding="utf-8")
    cfg = api.load_config(config, [f"data.train={LINES}", f"data.val={LINES}", f"out_dir={root}"])
    return save_untrained(cfg, root / "htr.ckpt")


def test_evaluate_report_of_a_deformable_model(
    deformable_ckpt: Path, tmp_path: Path, browser
) -> None:
    out, saved = tmp_path / "eval.html", tmp_path / "eval.json"
    args = [
        "evaluate",
        str(deformable_ckpt),
        str(LINES),
        "--report",
        str(out),
        "--json",
        "--per-item",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    saved.write_text(result.stdout, encoding="utf-8")
    scores = json.loads(result.stdout)
    assert scores["deformable_layers"] == [1] and scores["lines"] == 10
    item = scores["results"][0]
    assert item["image"].startswith("data:image/") and len(item["frames"]) == len(item["text"])
    assert item["offsets"][0]["layer"] == 1 and item["offsets"][0]["grids"]
    assert browser.open(out) == {"errors": [], "requests": []}
    assert len(rows(browser)) == 10
    assert browser.js("return document.querySelectorAll('.img-wrap .heat').length") == 0
    browser.js("document.getElementById('offsets').click()")
    assert browser.js("return document.querySelectorAll('.img-wrap .heat').length") == 10
    assert browser.js("return document.querySelectorAll('.img-wrap svg.grid circle').length") > 10
    # the saved evaluation gives the same report
    again = CliRunner().invoke(app, ["report", str(saved), "--out", str(tmp_path / "again.html")])
    assert again.exit_code == 0, again.output
    assert browser.open(tmp_path / "again.html") == {"errors": [], "requests": []}
    assert len(rows(browser)) == 10


def test_lines_without_a_reference_have_no_cer() -> None:
    from keyscribe.reports.htr import report_data

    data = report_data({"results": [{"id": "a", "text": "vu", "reference_text": ""}]})
    assert data["rows"][0]["cer"] is None and data["confusions"] == []
    assert [op for *_, op in data["rows"][0]["align"]] == ["n", "n"]
