"""KenLM binary LMs (``.bin``) through the ``kenlm`` package: same scores and same search as the
ARPA file they were built from.

``tests/fixtures/lm/tiny.bin`` is ``tiny.arpa`` converted by KenLM's ``build_binary`` (how:
tests/fixtures/lm/README.md). When ``build_binary`` is on the PATH, a test also builds a fresh one.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from keyscribe.alphabet import Alphabet
from keyscribe.decoding.beam import BeamDecoder, BeamOptions
from keyscribe.decoding.charlm import BOS, EOS, SPACE, UNK, CharLM
from keyscribe.decoding.lm_build import build_arpa
from keyscribe.decoding.scorers import CharLMScorer, KenLMScorer, load_scorer
from keyscribe.emg.keys import EMG_ALPHABET, lm_view

pytest.importorskip("kenlm")

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "lm"
LETTERS = Alphabet(tuple("abcdefghijklmnopqrstuvwxyz "), blank=0)


def test_binary_scores_equal_the_arpa_it_was_built_from():
    arpa = CharLM.load(FIXTURES / "tiny.arpa")
    binary = load_scorer(FIXTURES / "tiny.bin")
    assert isinstance(binary, KenLMScorer) and binary.order == arpa.order
    assert binary.has_space() and binary.has("t") and not binary.has("Q")
    assert binary.unk() == pytest.approx(arpa.score("", UNK), abs=1e-5)
    for typed in ["", "th", "the", "the ", "a cat", "zq"]:
        state = binary.start()
        for token in typed:  # KenLM's state after <s> and the typed tokens
            state, _ = binary.step(state, token)
        for token in ["t", "h", "e", SPACE, "a", EOS, "Q"]:
            _, score = binary.step(state, token)
            assert score == pytest.approx(arpa.score(BOS + typed, token), abs=1e-5), (typed, token)


def test_beam_search_with_the_binary_equals_with_the_arpa():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, LETTERS.num_classes)) * 2
    x[:, 0] += 2
    lp = x - np.logaddexp.reduce(x, axis=1, keepdims=True)
    options = BeamOptions(
        beam_size=8, nbest=4, lm_weight=1.0, insertion_bonus=1.0, backend="python"
    )
    found = [
        BeamDecoder(LETTERS, options, FIXTURES / name).decode(lp)
        for name in ("tiny.arpa", "tiny.bin")
    ]
    assert [h.label_ids for h in found[0]] == [h.label_ids for h in found[1]]
    assert [h.score for h in found[0]] == pytest.approx([h.score for h in found[1]], abs=1e-4)


def test_native_arpa_and_python_arpa_agree_with_backspaces():
    native = load_scorer(FIXTURES / "tiny.arpa", native=True)
    python = load_scorer(FIXTURES / "tiny.arpa", native=False)
    assert isinstance(native, KenLMScorer) and isinstance(python, CharLMScorer)
    from keyscribe.decoding.lmsteps import LMSteps
    from keyscribe.emg.keys import text_to_labels

    for typed in ("the cat", "thx⌫e ca⌫at", "a⏎⌫b", "⌫⌫the"):
        a = LMSteps(lm_view(EMG_ALPHABET), native).replay(text_to_labels(typed))
        b = LMSteps(lm_view(EMG_ALPHABET), python).replay(text_to_labels(typed))
        assert a[1] == pytest.approx(b[1], abs=1e-4) and a[2] == b[2]


def test_a_file_that_is_no_lm_is_refused(tmp_path):
    bad = tmp_path / "x.bin"
    bad.write_bytes(b"mmap lm http://kheafield.com/code format version 5\n\0" + b"\0" * 20)
    with pytest.raises(ValueError, match="KenLM"):
        load_scorer(bad)


@pytest.mark.skipif(shutil.which("build_binary") is None, reason="KenLM's build_binary not on PATH")
def test_a_freshly_built_binary_loads(tmp_path):
    arpa = tmp_path / "lm.arpa"
    build_arpa(["a cat sat", "the hat"] * 5, 3, arpa, discounts=(0.5, 1.0, 1.5))
    binary = tmp_path / "lm.bin"
    subprocess.run(["build_binary", str(arpa), str(binary)], check=True, capture_output=True)
    scorer = load_scorer(binary)
    assert isinstance(scorer, KenLMScorer)
    _, score = scorer.step(scorer.start(), "a")
    assert score == pytest.approx(CharLM.load(arpa).score(BOS, "a"), abs=1e-5)


def test_an_arpa_above_kenlms_compiled_order_loads_with_the_same_scores(tmp_path):
    # the kenlm package reads up to KENLM_MAX_ORDER (6 unless rebuilt); keyscribe builds 8-grams
    arpa = tmp_path / "eight.arpa"
    build_arpa(["the cat sat on the mat", "a cat and a hat", "that is the thing"] * 3, 8, arpa)
    scorer = load_scorer(arpa)
    reference = CharLM.load(arpa)
    assert scorer.order == reference.order == 8
    state = scorer.start()
    for token in "the ca":
        state, score = scorer.step(state, token)
    _, score = scorer.step(state, "t")
    assert score == pytest.approx(reference.score(BOS + "the ca", "t"), abs=1e-5)
