import numpy as np
import pytest
import torch

from keyscribe.decoding.confidence import ctc_align, label_confidences, word_confidences
from keyscribe.decoding.greedy import decode_greedy, frame_confidences


def test_alignment_of_a_clear_path():
    # frames: a a _ b _ b  (blank = 0, a = 1, b = 2)
    best = [1, 1, 0, 2, 0, 2]
    lp = np.log(np.full((6, 3), 0.05))
    lp[np.arange(6), best] = np.log(0.9)
    assert ctc_align(lp, [1, 2, 2], 0) == [(0, 2), (3, 4), (5, 6)]
    assert ctc_align(lp, [1, 2, 2, 1, 1, 2], 0) is None  # needs more frames than there are


def test_greedy_confidences_match_the_best_path_runs():
    rng = np.random.default_rng(0)
    for _ in range(20):
        x = torch.tensor(rng.normal(size=(12, 4)) * 3).log_softmax(-1)
        labels = decode_greedy(x[None], torch.tensor([12]), 0)[0]
        assert label_confidences(x, labels, 0) == pytest.approx(frame_confidences(x, 12, 0))


def test_word_confidence_is_the_least_sure_character():
    words = word_confidences(list("ab cd⏎e"), [0.9, 0.5, 1.0, 0.8, 0.7, 1.0, 0.6], {" ", "⏎"})
    assert [(w["text"], w["start"], w["end"], w["confidence"]) for w in words] == [
        ("ab", 0, 2, 0.5),
        ("cd", 3, 5, 0.7),
        ("e", 6, 7, 0.6),
    ]


def test_checkpointed_alignment_equals_the_whole_table() -> None:
    """Long inputs keep forward scores every `segment` frames and recompute back-pointers per
    segment (bounded memory): the alignment must not change, whatever the segment."""
    rng = np.random.default_rng(0)
    for _ in range(100):
        frames = int(rng.integers(1, 40))
        lp = np.log(rng.dirichlet(np.full(5, 0.3), size=frames))
        labels = rng.integers(1, 5, size=int(rng.integers(0, frames + 2))).tolist()
        whole = ctc_align(lp, labels, 0)
        for segment in (1, 2, 3, 7):
            assert ctc_align(lp, labels, 0, segment) == whole
    spans = ctc_align(np.log(rng.dirichlet(np.full(5, 0.3), size=30)), [1, 2, 3], 0, 4)
    assert spans is not None and all(a < b for a, b in spans)
    assert [a for a, _ in spans] == sorted(a for a, _ in spans)


def test_peak_frames_of_best_path_and_alignment_agree() -> None:
    from keyscribe.decoding.confidence import best_path_posteriors, label_posteriors

    torch.manual_seed(3)
    x = torch.randn(60, 6).log_softmax(-1)
    x[10:14, 2] += 8.0  # a clear label 2 peaking at frame 12
    x[12, 2] += 4.0
    best = x.argmax(-1).tolist()
    ids = [c for i, c in enumerate(best) if c != 0 and (i == 0 or best[i - 1] != c)]
    conf, frames = best_path_posteriors(x, 0)
    assert len(frames) == len(ids) and frames == sorted(frames)
    assert 12 in frames
    assert all(best[t] == c for t, c in zip(frames, ids, strict=True))
    aligned_conf, aligned_frames = label_posteriors(x, ids, 0)
    assert frames == aligned_frames and conf == pytest.approx(aligned_conf)
