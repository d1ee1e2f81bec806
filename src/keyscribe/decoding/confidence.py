"""Confidence per character and per word from CTC posteriors, for any decoded label sequence.

A decoded sequence (greedy or beam) is force-aligned to the posteriors with CTC Viterbi; a
label's confidence is its highest posterior over the frames aligned to it (for greedy output that
is exactly the best path's run, as in ``greedy.frame_confidences``). A word's confidence is the
lowest of its characters': a word is only as sure as its least sure character.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import numpy as np


def ctc_align(
    log_probs: np.ndarray, labels: Sequence[int], blank: int
) -> list[tuple[int, int]] | None:
    """log_probs ``(time, classes)`` and labels -> per label the frame span ``[start, end)`` of the
    best CTC alignment; None when the labels need more frames than there are."""
    time = log_probs.shape[0]
    n = len(labels)
    if n == 0:
        return []
    ext = np.full(2 * n + 1, blank, dtype=np.int64)  # blank, l1, blank, l2, ..., blank
    ext[1::2] = labels
    states = len(ext)
    skip = np.zeros(states, dtype=bool)  # may jump over the blank before this state
    skip[3::2] = ext[3::2] != ext[1:-2:2]
    dp = np.full(states, -np.inf)
    dp[0] = log_probs[0, blank]
    dp[1] = log_probs[0, ext[1]]
    back = np.zeros((time, states), dtype=np.int8)  # 0: stay, 1: from s-1, 2: from s-2
    for t in range(1, time):
        from1 = np.concatenate(([-np.inf], dp[:-1]))
        from2 = np.concatenate(([-np.inf, -np.inf], dp[:-2]))
        from2[~skip] = -np.inf
        cand = np.stack([dp, from1, from2])
        choice = cand.argmax(axis=0)
        back[t] = choice
        dp = cand[choice, np.arange(states)] + log_probs[t, ext]
    end = states - 1 if dp[-1] >= dp[-2] else states - 2
    if not np.isfinite(dp[end]):
        return None
    path = np.empty(time, dtype=np.int64)
    s = end
    for t in range(time - 1, -1, -1):
        path[t] = s
        s -= int(back[t, s])
    spans: list[tuple[int, int]] = []
    for j in range(n):
        frames = np.flatnonzero(path == 2 * j + 1)
        spans.append((int(frames[0]), int(frames[-1]) + 1))
    return spans


def label_confidences(log_probs: Any, labels: Sequence[int], blank: int) -> list[float]:
    """Per label, its highest posterior over its aligned frames (0.0 for all when unalignable)."""
    lp = (
        log_probs.detach().cpu().double().numpy()
        if hasattr(log_probs, "detach")
        else np.asarray(log_probs)
    )
    spans = ctc_align(lp, labels, blank)
    if spans is None:
        return [0.0] * len(labels)
    return [
        float(np.exp(lp[a:b, label].max())) for label, (a, b) in zip(labels, spans, strict=True)
    ]


def best_path_confidences(log_probs: Any, blank: int) -> list[float]:
    """:func:`label_confidences` of the greedy (best-path) output, without the alignment: the
    best path is the Viterbi alignment of its own labels, so each label's frames are its run.
    O(time) memory, where the alignment's back-pointers take time x labels bytes (gigabytes for
    a long session)."""
    lp = log_probs.detach().cpu().numpy() if hasattr(log_probs, "detach") else np.asarray(log_probs)
    if lp.shape[0] == 0:
        return []
    best = lp.argmax(axis=1)
    starts = np.flatnonzero(np.concatenate(([True], best[1:] != best[:-1])))
    # max, then float64 (as label_confidences): the same numbers without a float64 copy of it all
    run_max = np.maximum.reduceat(lp.max(axis=1).astype(np.float64), starts)
    keep = best[starts] != blank
    return [float(v) for v in np.exp(run_max[keep])]


def word_confidences(
    text_symbols: Sequence[str], confidences: Sequence[float], separators: Collection[str]
) -> list[dict[str, Any]]:
    """Words (runs of symbols between separators) with their label span and confidence."""
    words: list[dict[str, Any]] = []
    start = None
    for i, symbol in enumerate([*text_symbols, None]):
        if symbol is None or symbol in separators:
            if start is not None:
                words.append(
                    {
                        "text": "".join(text_symbols[start:i]),
                        "start": start,
                        "end": i,
                        "confidence": round(min(confidences[start:i]), 4),
                    }
                )
            start = None
        elif start is None:
            start = i
    return words
