"""The shipped htr-fr model loads by name (no pickle) and reads the shipped sample page, which
was left out of its training; ``keyscribe demo --only htr`` writes the page back."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import pytest
import torch

from helpers.cli import run_cli
from keyscribe import bundled
from keyscribe.htr.demo import sample_page, transcribe_sample_page
from keyscribe.htr.pages import read_page


def test_htr_fr_is_listed_with_its_card_lm_and_figures() -> None:
    model = bundled.registry()["htr-fr"]
    assert model.domain == "htr" and model.language == "fr"
    assert model.weights.is_file() and model.card.is_file() and model.lm and model.lm.is_file()
    size = model.weights.stat().st_size + model.lm.stat().st_size + model.card.stat().st_size
    assert size <= 10 * 1024 * 1024
    assert set(model.test_cer) == {"peraire", "copiste", "cremma-mss-20"}
    card = model.card.read_text(encoding="utf-8")
    assert "CC BY 4.0" in card and "01R_P1S7P178_001" in card


def test_htr_fr_transcribes_the_sample_page_without_pickle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_unpickling(*args, **kwargs):
        raise AssertionError("the bundled model must load without pickle")

    monkeypatch.setattr(torch, "load", no_unpickling)
    monkeypatch.setattr(pickle, "loads", no_unpickling)
    demo = transcribe_sample_page(tmp_path, "htr-fr")
    assert demo.lines == len(read_page(sample_page()).lines) == 14
    # an untrained or wrongly loaded model scores ~100 %; htr-fr never saw this page
    assert demo.cer < 50.0
    written = {line.id: line.text for line in read_page(demo.out).lines}
    assert sorted(written.values()) == sorted(text for _, text in demo.texts)


def test_demo_htr_prints_the_page_cer_and_writes_alto(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(["demo", "--only", "htr", "--out", tmp_path], monkeypatch, capsys)
    assert code == 0, err
    assert "page CER" in out and "htr-fr" in out
    written = tmp_path / "htr" / "01R_P1S7P178_001.keyscribe.xml"
    assert read_page(written).format == "alto"
    assert 'HPOS="' in written.read_text(encoding="utf-8").split("<String", 2)[1]  # word boxes


def test_docs_carry_the_shipped_card() -> None:
    """docs/models.md holds htr-fr's card (its headings one level down): the two stay the same."""
    card = bundled.registry()["htr-fr"].card.read_text(encoding="utf-8")
    body = re.sub(r"^## ", "### ", card.split("\n", 1)[1].strip("\n"), flags=re.M)
    docs = Path(__file__).resolve().parents[2] / "docs" / "models.md"
    assert body in docs.read_text(encoding="utf-8")
