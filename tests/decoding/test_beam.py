import math

import numpy as np
import pytest
import torch

from keyscribe.alphabet import Alphabet
from keyscribe.decoding.beam import BeamDecoder, BeamOptions, LMSteps, flashlight_available
from keyscribe.decoding.charlm import BOS, EOS, CharLM, LMView
from keyscribe.decoding.greedy import decode_greedy
from keyscribe.emg.keys import EMG_ALPHABET, lm_view, text_to_labels

LETTERS = Alphabet(tuple("abcdefghijklmnopqrstuvwxyz "), blank=0)
BACKENDS = ["python"] + (["flashlight"] if flashlight_available() else [])


def posteriors(alphabet: Alphabet, frames: list[dict[str, float]]) -> np.ndarray:
    """One row per frame: the given symbol probabilities, the rest on the blank ("_")."""
    p = np.full((len(frames), alphabet.num_classes), 1e-6)
    for t, frame in enumerate(frames):
        for symbol, prob in frame.items():
            p[t, alphabet.blank if symbol == "_" else alphabet.index(symbol)] = prob
        p[t, alphabet.blank] += max(0.0, 1.0 - p[t].sum())
    p /= p.sum(axis=1, keepdims=True)
    return np.log(p)


def spell(alphabet: Alphabet, symbols: list[str], sure: float = 0.95) -> list[dict[str, float]]:
    """Each symbol for one frame, then a blank frame."""
    frames: list[dict[str, float]] = []
    for s in symbols:
        frames += [{s: sure}, {"_": sure}]
    return frames


def ctc_log_prob(log_probs: np.ndarray, labels, blank: int) -> float:
    lp = torch.tensor(log_probs, dtype=torch.float64)[:, None]
    loss = torch.nn.functional.ctc_loss(
        lp,
        torch.tensor([list(labels)]),
        torch.tensor([len(lp)]),
        torch.tensor([len(labels)]),
        blank=blank,
        reduction="sum",
        zero_infinity=False,
    )
    return -float(loss)


@pytest.mark.parametrize("backend", BACKENDS)
def test_beam_finds_the_prefix_greedy_misses(backend):
    # Two frames each 0.4 blank / 0.35 a / 0.25 b: the best path is "" (0.16), but
    # P("a") = 0.35^2 + 2 * 0.35 * 0.4 = 0.4025.
    lp = posteriors(LETTERS, [{"_": 0.4, "a": 0.35, "b": 0.25}] * 2)
    greedy = decode_greedy(torch.tensor(lp)[None], torch.tensor([2]), LETTERS.blank)[0]
    assert greedy == []
    options = BeamOptions(insertion_bonus=0.0, backend=backend)
    best = BeamDecoder(LETTERS, options).decode(lp)[0]
    assert best.text == "a"
    if backend == "python":  # exact prefix probability
        assert best.am_score == pytest.approx(math.log(0.4025), abs=1e-4)


@pytest.mark.parametrize("alphabet", [LETTERS, Alphabet(("a", "b"), blank=0)])
def test_beam_without_lm_never_scores_below_greedy(alphabet):
    rng = np.random.default_rng(0)
    small = alphabet.num_classes == 3  # few enough prefixes for a search without pruning
    options = BeamOptions(
        beam_size=400 if small else 8, top_k=28, token_threshold=1e3, insertion_bonus=0.0
    )
    decoder = BeamDecoder(alphabet, BeamOptions(**{**options.__dict__, "backend": "python"}))
    for _ in range(30):
        x = rng.normal(size=(int(rng.integers(2, 8)), alphabet.num_classes)) * 2
        lp = x - np.log(np.exp(x).sum(axis=1, keepdims=True))
        greedy = decode_greedy(torch.tensor(lp)[None], torch.tensor([len(lp)]), alphabet.blank)[0]
        greedy_score = ctc_log_prob(lp, greedy, alphabet.blank) if greedy else float(lp[:, 0].sum())
        best = decoder.decode(lp)[0]
        assert ctc_log_prob(lp, best.label_ids, alphabet.blank) >= greedy_score - 1e-6
        if small:  # without pruning, the search's score is the exact CTC probability of its prefix
            exact = ctc_log_prob(lp, best.label_ids, alphabet.blank)
            assert best.am_score == pytest.approx(exact, abs=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_lm_resolves_an_ambiguity_towards_the_lm(the_lm, backend):
    frames = spell(LETTERS, list("th")) + [{"c": 0.5, "e": 0.45}, {"_": 0.95}]
    lp = posteriors(LETTERS, frames)
    greedy = decode_greedy(torch.tensor(lp)[None], torch.tensor([len(lp)]), LETTERS.blank)[0]
    assert LETTERS.decode(greedy) == "thc"
    plain = BeamDecoder(LETTERS, BeamOptions(insertion_bonus=0.0, backend=backend)).decode(lp)[0]
    assert plain.text == "thc"
    with_lm = BeamDecoder(
        LETTERS, BeamOptions(lm_weight=1.0, insertion_bonus=0.0, backend=backend), the_lm
    )
    best = with_lm.decode(lp)[0]
    assert best.text == "the"
    lm = CharLM.load(the_lm)
    expected = sum(lm.score(BOS + "the"[:i], c) for i, c in enumerate("the")) + lm.score(
        BOS + "the", EOS
    )
    assert best.lm_score == pytest.approx(expected, abs=1e-4)


def test_backspace_undoes_the_last_character_for_the_lm(the_lm):
    lm = CharLM.load(the_lm)
    steps = LMSteps(lm_view(EMG_ALPHABET), lm)
    _, typed, n_typed = steps.replay(text_to_labels("the"))
    _, corrected, n_corrected = steps.replay(text_to_labels("thx⌫e"))
    _, shifted, _ = steps.replay(text_to_labels("⇧the"))
    _, deleted_all, n_deleted = steps.replay(text_to_labels("ab⌫⌫⌫the"))  # one ⌫ too many
    assert corrected == pytest.approx(typed) and n_corrected == n_typed == 3
    assert shifted == pytest.approx(typed)
    assert deleted_all == pytest.approx(typed) and n_deleted == 3
    # ⏎ ends a sentence; ⌫ after it reopens the sentence
    _, two, _ = steps.replay(text_to_labels("a⏎b"))
    one = lm.score(BOS, "a") + lm.score(BOS + "a", EOS)
    assert two == pytest.approx(one + lm.score(BOS, "b") + lm.score(BOS + "b", EOS))
    _, reopened, _ = steps.replay(text_to_labels("a⏎⌫b"))
    assert reopened == pytest.approx(steps.replay(text_to_labels("ab"))[1])


@pytest.mark.parametrize("backend", BACKENDS)
def test_backspace_in_beam_search_keeps_the_typed_keys(the_lm, backend):
    # The keys "thx⌫e": the LM scores "the", so "x" (0.5 against "c" 0.45) survives the search.
    frames = spell(EMG_ALPHABET, list("th")) + [{"x": 0.5, "c": 0.45}, {"_": 0.95}]
    frames += spell(EMG_ALPHABET, ["⌫", "e"])
    lp = posteriors(EMG_ALPHABET, frames)
    options = BeamOptions(lm_weight=1.0, insertion_bonus=0.5, backend=backend)
    decoder = BeamDecoder(EMG_ALPHABET, options, the_lm, lm_view(EMG_ALPHABET))
    best = decoder.decode(lp)[0]
    assert best.text == "thx⌫e"
    typed = LMSteps(lm_view(EMG_ALPHABET), CharLM.load(the_lm)).replay(text_to_labels("the"))[1]
    assert best.lm_score == pytest.approx(typed, abs=1e-4)
    assert best.score == pytest.approx(best.am_score + 1.0 * best.lm_score + 0.5 * 3, abs=1e-4)


@pytest.mark.parametrize("backend", BACKENDS)
def test_nbest_is_ordered_by_score(the_lm, backend):
    frames = [
        {"c": 0.4, "e": 0.35, "a": 0.2},
        {"_": 0.6, "t": 0.3},
        {"h": 0.5, "e": 0.4},
        {"_": 0.9},
    ]
    lp = posteriors(LETTERS, frames)
    options = BeamOptions(nbest=5, lm_weight=0.5, insertion_bonus=0.5, backend=backend)
    hyps = BeamDecoder(LETTERS, options, the_lm).decode(lp)
    assert len(hyps) == 5
    scores = [h.score for h in hyps]
    assert scores == sorted(scores, reverse=True)
    assert len({h.label_ids for h in hyps}) == 5


@pytest.mark.skipif(not flashlight_available(), reason="flashlight-text not installed")
@pytest.mark.parametrize("use_lm", [False, True])
@pytest.mark.parametrize("bonus", [0.0, 1.0])
@pytest.mark.parametrize("alphabet", ["letters", "emg"])
def test_python_and_flashlight_backends_agree(the_lm, use_lm, bonus, alphabet):
    rng = np.random.default_rng(1)
    abc, view = (LETTERS, None) if alphabet == "letters" else (EMG_ALPHABET, lm_view(EMG_ALPHABET))
    symbols = list("the cat⌫") if alphabet == "emg" else list("the cat")
    for _ in range(5):
        word = [symbols[i] for i in rng.integers(0, len(symbols), size=int(rng.integers(1, 6)))]
        frames = spell(abc, word, sure=0.9)
        lp = posteriors(abc, frames)
        found = {}
        for backend in ("python", "flashlight"):
            options = BeamOptions(lm_weight=1.0, insertion_bonus=bonus, nbest=1, backend=backend)
            found[backend] = BeamDecoder(abc, options, the_lm if use_lm else None, view).decode(lp)[
                0
            ]
        a, b = found["python"], found["flashlight"]
        assert a.label_ids == b.label_ids
        assert a.lm_score == pytest.approx(b.lm_score, abs=1e-4)
        assert a.score == pytest.approx(b.score, abs=0.05)


def test_options_are_checked():
    with pytest.raises(ValueError, match="nbest"):
        BeamOptions(beam_size=2, nbest=3)
    with pytest.raises(ValueError, match="bonus_unit"):
        BeamOptions(bonus_unit="syllable")


def test_word_bonus_counts_spaces_and_sentence_ends():
    steps = LMSteps(lm_view(EMG_ALPHABET), None, bonus_unit="word")
    assert steps.replay(text_to_labels("ab cd⏎e"))[2] == 2
    assert steps.replay(text_to_labels("ab ⌫cd"))[2] == 0


def test_plain_view():
    view = LMView.plain(LETTERS)
    assert view.tokens[0] is None and view.tokens[LETTERS.index(" ")] == "<sp>"
    assert view.is_plain and not lm_view(EMG_ALPHABET).is_plain


def test_auto_falls_back_to_python_without_flashlight(monkeypatch, the_lm):
    import keyscribe.decoding.beam as beam

    monkeypatch.setattr(beam, "flashlight_available", lambda: False)
    decoder = beam.BeamDecoder(LETTERS, BeamOptions(), the_lm)
    assert decoder.backend == "python"
    with pytest.raises(ImportError, match="flashlight-text"):
        beam.BeamDecoder(LETTERS, BeamOptions(backend="flashlight"))


@pytest.mark.parametrize("collector_on", [True, False])
def test_search_leaves_the_collector_as_it_was_and_no_cycles_behind(the_lm, collector_on):
    """The python search pauses the cyclic collector while it runs, which is only sound because
    it makes no reference cycles: once the search is dropped, reference counting alone frees its
    whole trie (checked with the collector off)."""
    import gc
    import weakref

    from keyscribe.decoding.prefix_search import PrefixBeamSearch

    decoder = BeamDecoder(
        EMG_ALPHABET, BeamOptions(beam_size=8, backend="python"), the_lm, lm_view(EMG_ALPHABET)
    )
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, EMG_ALPHABET.num_classes)) * 3
    lp = x - np.logaddexp.reduce(x, axis=1, keepdims=True)
    was = gc.isenabled()
    try:
        gc.enable() if collector_on else gc.disable()
        search = PrefixBeamSearch(EMG_ALPHABET.blank, decoder.options, decoder.steps)
        for start in range(0, len(lp), 7):
            search.advance(lp[start : start + 7])
            assert gc.isenabled() == collector_on
        gc.disable()
        leaves = [weakref.ref(entry[0]) for entry in search.beam]
        root = weakref.ref(search.root)
        assert search.hypotheses() and all(ref() is not None for ref in leaves)
        del search
        assert root() is None and all(ref() is None for ref in leaves)
    finally:
        gc.enable() if was else gc.disable()
