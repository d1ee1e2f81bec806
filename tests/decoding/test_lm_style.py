"""The emg2qwerty decoder's LM convention (``--lm-style emg2qwerty``) on hand-built cases.

The LM is word-internal (lower-case letters, each word a sentence, no space token). Rules being
checked, with the reference's settings (beam 50, top-10, weight 2, bonus 2, no thresholds):
a letter in the LM scores in context; any other key (space, ⏎, ⇧, a capital) ends the word with
``</s>`` and the next letter starts a fresh ``<s>``; such a key when no word is open scores the
unigram ``<unk>``; ⌫ takes back what the deleted key added (LM score and bonus), whatever it was;
every key but ⌫ earns the bonus; the end scores ``</s>`` if a word is open.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from keyscribe.cli import main
from keyscribe.decoding.beam import BeamDecoder, BeamOptions
from keyscribe.decoding.charlm import BOS, EOS, SPACE, UNK, CharLM
from keyscribe.decoding.lm_build import build_arpa
from keyscribe.decoding.lmsteps import LMSteps
from keyscribe.emg.keys import EMG_ALPHABET, lm_view, text_to_labels

WORDS = ["the", "cat", "then", "hen", "hat", "at", "a", "cab", "ab"] * 4
REFERENCE = dict(beam_size=50, top_k=10, lm_weight=2.0, insertion_bonus=2.0)
UNPRUNED = dict(beam_threshold=1e9, token_threshold=1e9, backend="python")


@pytest.fixture(scope="module")
def word_lm(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("lm") / "words.arpa"
    build_arpa(WORDS, 4, path, discounts=(0.5, 1.0, 1.5))
    return str(path)


def word(lm: CharLM, w: str) -> float:
    """log10 P(<s> w </s>) by hand, letter by letter."""
    return sum(lm.score(BOS + w[:i], c) for i, c in enumerate(w)) + lm.score(BOS + w, EOS)


def spelled(frames: list[dict[str, float]]) -> np.ndarray:
    """(time, 99) log-probs: each frame's given keys, a blank frame after each, the rest on the
    blank; every other class 1e-9."""
    rows = []
    for frame in frames:
        for probs in (frame, {}):
            p = np.full(EMG_ALPHABET.num_classes, 1e-9)
            for k, v in probs.items():
                p[EMG_ALPHABET.index(k)] = v
            p[EMG_ALPHABET.blank] += 1 - p.sum()
            rows.append(p)
    return np.log(np.array(rows))


def keys(text: str, sure: float = 0.999) -> list[dict[str, float]]:
    return [{k: sure} for k in text]


def decode(lm_path: str, lp: np.ndarray, **options):
    opts = BeamOptions(**{**REFERENCE, **UNPRUNED, **options})
    return BeamDecoder(EMG_ALPHABET, opts, lm_path, lm_view(EMG_ALPHABET)).decode(lp)[0]


def am_of(lp: np.ndarray, text: str) -> float:
    """Each key frame gives its key and each blank frame the blank: one dominant alignment."""
    import torch

    labels = text_to_labels(text)
    loss = torch.nn.functional.ctc_loss(
        torch.tensor(lp)[:, None],
        torch.tensor([labels]),
        torch.tensor([len(lp)]),
        torch.tensor([len(labels)]),
        blank=EMG_ALPHABET.blank,
        reduction="sum",
    )
    return -float(loss)


def test_auto_picks_emg2qwerty_for_a_word_internal_lm(word_lm, the_lm_with_space):
    lm = CharLM.load(word_lm)
    assert SPACE not in lm.vocabulary
    assert LMSteps(lm_view(EMG_ALPHABET), lm).style == "emg2qwerty"
    assert LMSteps(lm_view(EMG_ALPHABET), CharLM.load(the_lm_with_space)).style == "keyscribe"


@pytest.fixture(scope="module")
def the_lm_with_space(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("lm") / "sp.arpa"
    build_arpa(["the cat", "a hat"] * 4, 3, path, discounts=(0.5, 1.0, 1.5))
    return str(path)


def test_space_ends_the_word_and_the_lm_picks_two_words(word_lm):
    """t h e {n 0.5 | space 0.45} c a t: greedy types "thencat"; with the LM, "the" + "cat" as two
    words (space scores </s> after "the") beats the unknown word "thencat"."""
    frames = keys("the") + [{"n": 0.5, " ": 0.45}] + keys("cat")
    lp = spelled(frames)
    best = decode(word_lm, lp)
    assert best.text == "the cat"
    lm = CharLM.load(word_lm)
    assert best.lm_score == pytest.approx(word(lm, "the") + word(lm, "cat"), abs=1e-4)
    assert best.score == pytest.approx(am_of(lp, "the cat") + 2 * best.lm_score + 2 * 7, abs=1e-3)
    other = decode(word_lm, lp, lm_weight=0.0, insertion_bonus=0.0)
    assert other.text == "thencat"  # the acoustic choice, without the LM


def test_keys_outside_the_lm_in_a_fresh_context_score_unk(word_lm):
    """⇧ then T (a capital: not in the LM) at the start, then "hat", then two spaces: ⇧ and T
    open no word (<unk> each), "hat" is one word, the first space closes it (</s>), the second
    has no open word (<unk>)."""
    lp = spelled(keys("⇧That  "))
    best = decode(word_lm, lp)
    assert best.text == "⇧That  "
    lm = CharLM.load(word_lm)
    unk = lm.score("", UNK)
    # ⇧ <unk>; T: a word is not open -> <unk>; h a t; space: </s>; space: <unk>
    expected = unk + unk + word(lm, "hat") + unk
    assert best.lm_score == pytest.approx(expected, abs=1e-4)
    assert best.score == pytest.approx(am_of(lp, "⇧That  ") + 2 * expected + 2 * 7, abs=1e-3)


def test_backspace_takes_back_any_key(word_lm):
    """c z ⌫ a t, and a space deleted: "cz⌫at" scores as "cat"; "ca ⌫t" too (the space's </s>
    and bonus are taken back, "cat" goes on as one word); ⌫ with nothing typed does nothing."""
    lm = CharLM.load(word_lm)
    for typed in ("cz⌫at", "ca ⌫t", "⌫cat"):
        lp = spelled(keys(typed))
        best = decode(word_lm, lp)
        assert best.text == typed
        assert best.lm_score == pytest.approx(word(lm, "cat"), abs=1e-4)
        assert best.score == pytest.approx(am_of(lp, typed) + 2 * best.lm_score + 2 * 3, abs=1e-3)


def test_backspace_keeps_the_rival_the_lm_cannot_see(word_lm):
    """t h {x 0.5 | c 0.45} ⌫ e: both rivals are deleted, so the LM scores "the" either way and
    the more probable key, x, stays in the output."""
    frames = keys("th") + [{"x": 0.5, "c": 0.45}] + keys("⌫e")
    best = decode(word_lm, spelled(frames))
    assert best.text == "thx⌫e"


def test_decode_command_with_lm_style_emg2qwerty(word_lm, tmp_path, monkeypatch, capsys):
    frames = keys("the") + [{"n": 0.5, " ": 0.45}] + keys("cat")
    path = tmp_path / "e.npy"
    np.save(path, spelled(frames).astype(np.float32))
    args = ["keyscribe", "decode", str(path), "--domain", "emg", "--lm", word_lm]
    args += ["--lm-style", "emg2qwerty"]
    args += ["--beam-size", "50", "--top-k", "10", "--lm-weight", "2", "--insertion-bonus", "2"]
    args += ["--beam-threshold", "1e9", "--token-threshold", "1e9", "--json"]
    monkeypatch.setattr(sys, "argv", args)
    with pytest.raises(SystemExit) as done:
        main()
    assert done.value.code in (0, None)
    out = json.loads(capsys.readouterr().out)
    assert out["label_ids"] == text_to_labels("the cat")
    monkeypatch.setattr(sys, "argv", [*args, "--lm-style", "keyscribe"])
    with pytest.raises(SystemExit):
        main()
    keyscribe_style = json.loads(capsys.readouterr().out)
    # keyscribe's convention scores the space as <unk> in context and never closes the word
    assert keyscribe_style["score"] != pytest.approx(out["score"])
