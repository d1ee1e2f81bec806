"""``keyscribe decode`` on saved log-probabilities: output, exactness, and one-line errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from keyscribe.cli import main
from keyscribe.emg.keys import EMG_ALPHABET, text_to_labels

BLANK = EMG_ALPHABET.blank


def run_cli(args, monkeypatch, capsys) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["keyscribe", *map(str, args)])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def spelled(text: str, sure: float = 0.9, rival: str | None = None) -> np.ndarray:
    """(time, 99) log-probs: each key for one frame, then a blank frame; the rest of each frame's
    mass on the blank (or on ``rival`` for key frames)."""
    rows = []
    for label in text_to_labels(text):
        key = np.full(EMG_ALPHABET.num_classes, 1e-9)
        key[label] = sure
        key[EMG_ALPHABET.index(rival) if rival else BLANK] += 1 - sure
        blank = np.full(EMG_ALPHABET.num_classes, 1e-9)
        blank[BLANK] = 1.0
        rows += [key, blank]
    p = np.array(rows)
    return np.log(p / p.sum(axis=1, keepdims=True))


def test_greedy_and_beam_json(tmp_path, monkeypatch, capsys):
    path = tmp_path / "the.npy"
    np.save(path, spelled("the", rival="x").astype(np.float32))
    code, out, _ = run_cli(
        ["decode", path, "--domain", "emg", "--decoder", "greedy", "--json"], monkeypatch, capsys
    )
    assert code == 0
    greedy = json.loads(out)
    assert greedy["label_ids"] == text_to_labels("the") and greedy["text"] == "the"
    assert set(greedy) == {"label_ids", "text", "score", "nbest"}
    args = ["decode", path, "--domain", "emg", "--json", "--nbest", "4", "--backend", "python"]
    code, out, _ = run_cli(args, monkeypatch, capsys)
    assert code == 0
    beam = json.loads(out)
    assert beam["text"] == "the" and len(beam["nbest"]) == 4
    assert beam["nbest"][0] == {k: beam[k] for k in ("label_ids", "text", "score")}
    assert len({tuple(h["label_ids"]) for h in beam["nbest"]}) == 4
    scores = [h["score"] for h in beam["nbest"]]
    assert scores == sorted(scores, reverse=True)


def test_unpruned_scores_are_exact_ctc_log_probabilities(tmp_path, monkeypatch, capsys):
    """Without an LM and with the thresholds off, each n-best score is the CTC log-probability
    of its labels (summed over alignments), as torch's CTC loss computes it."""
    rng = np.random.default_rng(3)
    x = np.full((6, EMG_ALPHABET.num_classes), -40.0)
    x[:, [BLANK, 0, 1]] = rng.normal(size=(6, 3))  # blank, "a", "b" share the mass
    lp = x - np.logaddexp.reduce(x, axis=1, keepdims=True)
    path = tmp_path / "ab.npy"
    np.save(path, lp)
    args = ["decode", path, "--domain", "emg", "--json", "--backend", "python", "--beam-size"]
    args += [
        "200",
        "--top-k",
        "3",
        "--beam-threshold",
        "1e9",
        "--token-threshold",
        "1e9",
        "--nbest",
        "12",
    ]
    code, out, _ = run_cli(args, monkeypatch, capsys)
    assert code == 0
    for hyp in json.loads(out)["nbest"]:
        labels = hyp["label_ids"]
        loss = torch.nn.functional.ctc_loss(
            torch.tensor(lp)[:, None],
            torch.tensor([labels or [0]]),
            torch.tensor([len(lp)]),
            torch.tensor([len(labels)]),
            blank=BLANK,
            reduction="sum",
        )
        assert hyp["score"] == pytest.approx(-float(loss), abs=1e-6)


def _not_npy(p: Path) -> Path:
    p.write_text("not an array")
    return p


def _rank(p: Path) -> Path:
    np.save(p, np.zeros(99, np.float32))
    return p


def _classes(p: Path) -> Path:
    np.save(p, np.log(np.full((4, 30), 1 / 30)))
    return p


def _nan(p: Path) -> Path:
    x = spelled("a")
    x[1, 5] = np.nan
    np.save(p, x)
    return p


def _ints(p: Path) -> Path:
    np.save(p, np.zeros((3, 99), np.int64))
    return p


@pytest.mark.parametrize(
    "make, problem",
    [
        (_not_npy, "not a .npy array"),
        (_rank, "expected (time, classes)"),
        (_classes, "has 30 classes per frame, the alphabet has 99"),
        (_nan, "NaN in frame 1"),
        (_ints, "expected float32 or float64"),
    ],
)
def test_bad_files_get_one_line(make, problem, tmp_path, monkeypatch, capsys):
    path = make(tmp_path / "bad.npy")
    code, out, err = run_cli(["decode", path, "--domain", "emg"], monkeypatch, capsys)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"keyscribe: error: {path}: ")
    assert problem in lines[0]


def test_htr_needs_an_alphabet_and_missing_lm_is_named(tmp_path, monkeypatch, capsys):
    path = tmp_path / "a.npy"
    np.save(path, spelled("a"))
    code, _, err = run_cli(["decode", path, "--domain", "htr"], monkeypatch, capsys)
    assert code == 2 and "--alphabet" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli(["decode", path], monkeypatch, capsys)
    assert code == 2 and "--domain" in err
    args = ["decode", path, "--domain", "emg", "--lm", tmp_path / "no.arpa"]
    code, _, err = run_cli(args, monkeypatch, capsys)
    assert code == 2 and "language model not found" in err


def test_scores_are_normalised_log_probabilities(tmp_path, monkeypatch, capsys):
    """Unnormalised scores (logits) decode like their log-softmax."""
    lp = spelled("hi", rival="u")
    np.save(tmp_path / "lp.npy", lp)
    np.save(tmp_path / "logits.npy", lp + 3.0)
    results = []
    for name in ("lp.npy", "logits.npy"):
        args = ["decode", tmp_path / name, "--domain", "emg", "--json", "--backend", "python"]
        code, out, _ = run_cli(args, monkeypatch, capsys)
        assert code == 0
        results.append(json.loads(out))
    assert results[0]["label_ids"] == results[1]["label_ids"] == text_to_labels("hi")
    assert results[0]["score"] == pytest.approx(results[1]["score"])
