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


def test_several_files_in_batches_as_one_by_one(tmp_path, monkeypatch, capsys):
    """Greedy in padded batches on the device and beam search file by file give each file what
    decoding it alone gives; results come back in the order given, each naming its file."""
    texts = ["the", "a", "quick", "", "fox"]  # different lengths, one with no frame at all
    paths = []
    for i, text in enumerate(texts):
        paths.append(tmp_path / f"{i}.npy")
        emissions = spelled(text) if text else np.zeros((0, EMG_ALPHABET.num_classes))
        np.save(paths[-1], emissions)
    for decoder in ("greedy", "beam"):
        alone = []
        for path in paths:
            args = ["decode", path, "--domain", "emg", "--decoder", decoder, "--json"]
            code, out, err = run_cli(args, monkeypatch, capsys)
            assert code == 0, err
            alone.append(json.loads(out))
        for batch in ("1", "2", "16"):
            args = ["decode", *paths, "--domain", "emg", "--decoder", decoder, "--json"]
            code, out, err = run_cli(
                [*args, "--batch-size", batch, "--device", "cpu"], monkeypatch, capsys
            )
            assert code == 0, err
            together = json.loads(out)
            assert [r.pop("emissions") for r in together] == [str(p) for p in paths]
            assert [r["text"] for r in together] == texts
            for one, many in zip(alone, together, strict=True):
                assert one["label_ids"] == many["label_ids"] and one["text"] == many["text"]
                assert many["score"] == pytest.approx(one["score"], abs=1e-9)
    assert err == ""  # no terminal here: no progress bar


def test_greedy_batch_equals_greedy_hypothesis():
    from keyscribe.decoding.saved import greedy_hypothesis
    from keyscribe.saved_batches import greedy_batch

    rng = np.random.default_rng(0)
    arrays = [rng.normal(size=(n, EMG_ALPHABET.num_classes)) * 4 for n in (7, 0, 30, 1)]
    arrays[2][:, BLANK] += 6  # mostly blanks: labels between them
    batched = greedy_batch(arrays, EMG_ALPHABET, torch.device("cpu"))
    for array, hyp in zip(arrays, batched, strict=True):
        single = greedy_hypothesis(array, EMG_ALPHABET)
        assert hyp.label_ids == single.label_ids and hyp.text == single.text
        assert hyp.score == pytest.approx(single.score, abs=1e-9)


def test_a_bad_file_among_several_is_named(tmp_path, monkeypatch, capsys):
    good, bad = tmp_path / "good.npy", tmp_path / "bad.npy"
    np.save(good, spelled("ab"))
    np.save(bad, np.zeros((3, 5)))
    code, out, err = run_cli(
        ["decode", good, bad, "--domain", "emg", "--json"], monkeypatch, capsys
    )
    assert code == 2 and out == ""
    assert err == f"keyscribe: error: {bad}: has 5 classes per frame, the alphabet has 99\n"


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is here: --device cuda works")
def test_decode_on_cuda_without_a_gpu_is_one_line(tmp_path, monkeypatch, capsys):
    path = tmp_path / "ab.npy"
    np.save(path, spelled("ab"))
    code, _, err = run_cli(
        ["decode", path, "--domain", "emg", "--device", "cuda"], monkeypatch, capsys
    )
    assert code == 2
    assert (
        err == "keyscribe: error: --device cuda: torch sees no CUDA GPU here (try --device auto)\n"
    )
