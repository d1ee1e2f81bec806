"""The beam search against the exact CTC probability, an exhaustive search and a plain reference.

Random posteriors of three kinds (peaked, flat, mostly blank), several seeds, with the pruning
thresholds off. Where the beam never fills, every prefix is kept, so each hypothesis's am_score
must be the exact CTC log-probability of its labels and the n-best list the exhaustive top-n.
Where the beam fills, the search must equal a plain prefix beam search keyed by label sequence
(no shortcuts), hypothesis for hypothesis.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
import torch

from keyscribe.alphabet import Alphabet
from keyscribe.decoding.beam import BeamDecoder, BeamOptions, LMSteps, flashlight_available
from keyscribe.decoding.charlm import CharLM, LMView
from keyscribe.decoding.lm_build import build_arpa
from keyscribe.emg.keys import EMG_ALPHABET, lm_view

ABC = Alphabet(("a", "b", "c"), blank=0)
LETTERS = Alphabet(tuple("abcdefghijklmnopqrstuvwxyz "), blank=0)
KINDS = ("peaked", "flat", "mostly_blank")
NEG_INF = float("-inf")


def random_log_probs(kind: str, frames: int, classes: int, blank: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    scale = {"peaked": 4.0, "flat": 0.3, "mostly_blank": 2.0}[kind]
    x = rng.normal(size=(frames, classes)) * scale
    if kind == "mostly_blank":
        x[:, blank] += 5.0
    return x - np.logaddexp.reduce(x, axis=1, keepdims=True)


def exact_ctc(log_probs: np.ndarray, label_seqs: list[tuple[int, ...]], blank: int) -> np.ndarray:
    """torch's CTC log-probability of each label sequence (-inf where it cannot fit)."""
    n = len(label_seqs)
    lp = torch.tensor(log_probs, dtype=torch.float64)[:, None].expand(-1, n, -1)
    longest = max(1, max(len(s) for s in label_seqs))
    targets = torch.full((n, longest), 1 if blank == 0 else 0, dtype=torch.long)
    for i, s in enumerate(label_seqs):
        targets[i, : len(s)] = torch.tensor(s, dtype=torch.long)
    loss = torch.nn.functional.ctc_loss(
        lp,
        targets,
        torch.full((n,), len(log_probs), dtype=torch.long),
        torch.tensor([len(s) for s in label_seqs], dtype=torch.long),
        blank=blank,
        reduction="none",
        zero_infinity=False,
    )
    return -loss.numpy()


def exhaustive(
    log_probs: np.ndarray, alphabet: Alphabet, steps: LMSteps, weight: float, bonus: float
) -> list[tuple[tuple[int, ...], float, float]]:
    """Every label sequence that fits the frames: (labels, score, am), best first."""
    symbols = [c for c in range(alphabet.num_classes) if c != alphabet.blank]
    seqs = [
        s
        for n in range(len(log_probs) + 1)
        for s in itertools.product(symbols, repeat=n)
        if n + sum(a == b for a, b in itertools.pairwise(s)) <= len(log_probs)
    ]
    am = exact_ctc(log_probs, seqs, alphabet.blank)
    out = []
    for s, a in zip(seqs, am.tolist(), strict=True):
        _, lm, inserted = steps.replay(s)
        out.append((s, a + weight * lm + bonus * inserted, a))
    out.sort(key=lambda h: h[1], reverse=True)
    return out


def reference_search(
    log_probs: np.ndarray, blank: int, beam_size: int, steps: LMSteps, weight: float, bonus: float
) -> list[tuple[tuple[int, ...], float, float]]:
    """A plain prefix beam search: prefixes keyed by their labels, every class tried, the
    ``beam_size`` best kept after each frame. (labels, score, am) for the whole beam, best first."""
    beam: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, NEG_INF)}
    info: dict[tuple[int, ...], tuple[Any, float, int]] = {(): (steps.root, 0.0, 0)}

    def score(labels: tuple[int, ...], am: float) -> float:
        return am + weight * info[labels][1] + bonus * info[labels][2]

    for row in log_probs.tolist():
        nxt: dict[tuple[int, ...], list[float]] = {}
        for labels, (p_b, p_nb) in beam.items():
            total = np.logaddexp(p_b, p_nb)
            stay = nxt.setdefault(labels, [NEG_INF, NEG_INF])
            stay[0] = np.logaddexp(stay[0], total + row[blank])
            last = labels[-1] if labels else None
            if last is not None:
                stay[1] = np.logaddexp(stay[1], p_nb + row[last])
            for c in range(len(row)):
                if c == blank:
                    continue
                new = (*labels, c)
                if new not in info:
                    lm_node, lm, inserted = info[labels]
                    step = steps.step(lm_node, c)
                    info[new] = (step[0], lm + step[1], inserted + step[2])
                ext = nxt.setdefault(new, [NEG_INF, NEG_INF])
                ext[1] = np.logaddexp(ext[1], (p_b if c == last else total) + row[c])
        ranked = sorted(
            nxt.items(), key=lambda kv: score(kv[0], np.logaddexp(*kv[1])), reverse=True
        )
        beam = {labels: (p[0], p[1]) for labels, p in ranked[:beam_size]}
    out = []
    for labels, (p_b, p_nb) in beam.items():
        am = float(np.logaddexp(p_b, p_nb))
        finish = steps.finish(info[labels][0])
        out.append((labels, score(labels, am) + weight * finish, am))
    out.sort(key=lambda h: h[1], reverse=True)
    return out


def unpruned(beam_size: int, classes: int, **kwargs) -> BeamOptions:
    return BeamOptions(
        beam_size=beam_size,
        beam_threshold=1e9,
        top_k=classes,
        token_threshold=1e9,
        backend=kwargs.pop("backend", "python"),
        **kwargs,
    )


@pytest.fixture(scope="module")
def abc_lm(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("lm") / "abc.arpa"
    build_arpa(["abcab", "cabba", "bcaab", "aabc", "cba"] * 3, 3, path, discounts=(0.5, 1.0, 1.5))
    return str(path)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("use_lm", [False, True])
def test_unfilled_beam_is_exact_and_equals_exhaustive_search(kind, use_lm, abc_lm):
    """3 symbols, 5 frames: 364 label sequences fit, the beam holds 400, so nothing is dropped."""
    weight, bonus = (1.0, 0.5) if use_lm else (0.0, 0.0)
    lm = abc_lm if use_lm else None
    options = unpruned(400, 4, lm_weight=weight, insertion_bonus=bonus, nbest=20)
    decoder = BeamDecoder(ABC, options, lm)
    for seed in range(4):
        lp = random_log_probs(kind, 5, ABC.num_classes, ABC.blank, seed)
        hyps = decoder.decode(lp)
        truth = exhaustive(lp, ABC, decoder.steps, weight, bonus)
        exact = exact_ctc(lp, [h.label_ids for h in hyps], ABC.blank)
        for h, am in zip(hyps, exact.tolist(), strict=True):
            assert h.am_score == pytest.approx(am, abs=1e-9)
        assert len({h.label_ids for h in hyps}) == len(hyps) == 20
        assert [h.label_ids for h in hyps] == [t[0] for t in truth[:20]]
        assert [h.score for h in hyps] == pytest.approx([t[1] for t in truth[:20]], abs=1e-9)


def _assert_same_as_reference(decoder: BeamDecoder, lp: np.ndarray, weight: float, bonus: float):
    hyps = decoder.decode(lp)
    ref = reference_search(
        lp, decoder.alphabet.blank, decoder.options.beam_size, decoder.steps, weight, bonus
    )
    assert len({h.label_ids for h in hyps}) == len(hyps), "a label sequence twice in the n-best"
    assert [h.label_ids for h in hyps] == [r[0] for r in ref[: len(hyps)]]
    assert [h.score for h in hyps] == pytest.approx([r[1] for r in ref[: len(hyps)]], abs=1e-9)
    assert [h.am_score for h in hyps] == pytest.approx([r[2] for r in ref[: len(hyps)]], abs=1e-9)
    # a beam that dropped prefixes can only under-count a prefix's alignments
    exact = exact_ctc(lp, [h.label_ids for h in hyps], decoder.alphabet.blank)
    assert all(h.am_score <= am + 1e-9 for h, am in zip(hyps, exact.tolist(), strict=True))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("use_lm", [False, True])
def test_filled_beam_equals_the_plain_reference_search(kind, use_lm, abc_lm):
    """3 symbols, beam 4, 8 frames: the beam fills on every frame after the second."""
    weight, bonus = (1.0, 0.5) if use_lm else (0.0, 0.0)
    options = unpruned(4, 4, lm_weight=weight, insertion_bonus=bonus, nbest=4)
    decoder = BeamDecoder(ABC, options, abc_lm if use_lm else None)
    for seed in range(12):
        lp = random_log_probs(kind, 8, ABC.num_classes, ABC.blank, seed)
        _assert_same_as_reference(decoder, lp, weight, bonus)


@pytest.mark.parametrize("use_lm", [False, True])
def test_filled_beam_on_letters_equals_the_plain_reference_search(use_lm, the_lm):
    """27 symbols, mostly blank, beam 10, 60 frames (where the pruning shortcut lost mass)."""
    weight, bonus = (1.0, 1.0) if use_lm else (0.0, 0.0)
    options = unpruned(10, LETTERS.num_classes, lm_weight=weight, insertion_bonus=bonus, nbest=10)
    decoder = BeamDecoder(LETTERS, options, the_lm if use_lm else None)
    for seed in range(4):
        lp = random_log_probs("mostly_blank", 60, LETTERS.num_classes, LETTERS.blank, seed)
        _assert_same_as_reference(decoder, lp, weight, bonus)


def test_filled_beam_with_backspaces_equals_the_plain_reference_search(the_lm):
    """sEMG keys with ⌫, ⇧ and ⏎ through the LM view; mass on a few keys."""
    keys = [EMG_ALPHABET.index(k) for k in "the⌫⇧⏎ "]
    options = unpruned(6, EMG_ALPHABET.num_classes, lm_weight=1.0, insertion_bonus=1.0, nbest=6)
    decoder = BeamDecoder(EMG_ALPHABET, options, the_lm, lm_view(EMG_ALPHABET))
    for seed in range(3):
        lp = random_log_probs(
            "mostly_blank", 24, EMG_ALPHABET.num_classes, EMG_ALPHABET.blank, seed
        )
        lp[:, keys] += 4.0
        lp -= np.logaddexp.reduce(lp, axis=1, keepdims=True)
        _assert_same_as_reference(decoder, lp, 1.0, 1.0)


@pytest.mark.skipif(not flashlight_available(), reason="flashlight-text not installed")
@pytest.mark.parametrize("kind", KINDS)
def test_flashlight_hypotheses_are_distinct_and_never_over_count(kind):
    """flashlight keeps a prefix's blank-ending and label-ending paths as two hypotheses and
    reports the better one: its am_score is at most the exact one, and equal on peaked frames
    where one of the two holds nearly all the mass."""
    options = unpruned(400, 4, insertion_bonus=0.0, nbest=20, backend="flashlight")
    decoder = BeamDecoder(ABC, options)
    for seed in range(4):
        lp = random_log_probs(kind, 5, ABC.num_classes, ABC.blank, seed)
        hyps = decoder.decode(lp)
        assert len({h.label_ids for h in hyps}) == len(hyps) > 1
        exact = exact_ctc(lp, [h.label_ids for h in hyps], ABC.blank)
        for h, am in zip(hyps, exact.tolist(), strict=True):
            assert am - np.log(2) - 1e-4 <= h.am_score <= am + 1e-4


def test_plain_view_lm_in_exact_tests_sees_each_symbol(abc_lm):
    view = LMView.plain(ABC)
    assert view.tokens == (None, "a", "b", "c")
    assert CharLM.load(abc_lm).vocabulary >= {"a", "b", "c"}
