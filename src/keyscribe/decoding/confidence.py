"""Confidence per character and per word from CTC posteriors, for any decoded label sequence.

A decoded sequence (greedy or beam) is force-aligned to the posteriors with CTC Viterbi; a
label's confidence is its highest posterior over the frames aligned to it (for greedy output that
is exactly the best path's run, as in ``greedy.frame_confidences``). A word's confidence is the
lowest of its characters': a word is only as sure as its least sure character.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from typing import Any

import numpy as np

BACK_POINTER_BYTES = 1 << 26  # above this, the alignment keeps checkpoints instead (see ctc_align)


def ctc_align(
    log_probs: np.ndarray, labels: Sequence[int], blank: int, segment: int | None = None
) -> list[tuple[int, int]] | None:
    """log_probs ``(time, classes)`` and labels -> per label the frame span ``[start, end)`` of the
    best CTC alignment; None when the labels need more frames than there are.

    Viterbi's back-pointers take time x (2 labels + 1) bytes: gigabytes for an hour of sEMG. So
    the forward pass keeps its scores only every ``segment`` frames (default: all frames while the
    table stays under ``BACK_POINTER_BYTES``, else about sqrt(time)) and the backtrace recomputes
    one segment's back-pointers at a time: O(sqrt(time) x labels) memory for twice the compute,
    the same alignment."""
    time = log_probs.shape[0]
    n = len(labels)
    if n == 0:
        return []
    ext = np.full(2 * n + 1, blank, dtype=np.int64)  # blank, l1, blank, l2, ..., blank
    ext[1::2] = labels
    states = len(ext)
    if segment is None:
        segment = time if time * states <= BACK_POINTER_BYTES else math.isqrt(time) + 1
    no_skip = np.ones(states, dtype=bool)  # may not jump over the blank before this state
    no_skip[3::2] = ext[3::2] == ext[1:-2:2]
    no_skip[:2] = True

    def advance(dp: np.ndarray, t: int) -> tuple[np.ndarray, np.ndarray]:
        """Scores after frame t and, per state, its predecessor: 0 stay, 1 from s-1, 2 from s-2
        (on ties the first of these, as an argmax would)."""
        from1 = np.empty(states)
        from1[0], from1[1:] = -np.inf, dp[:-1]
        from2 = np.empty(states)
        from2[:2], from2[2:] = -np.inf, dp[:-2]
        from2[no_skip] = -np.inf
        choice = (from1 > dp).astype(np.int8)
        best = np.maximum(dp, from1)
        jump = from2 > best
        choice[jump] = 2
        np.copyto(best, from2, where=jump)
        best += log_probs[t, ext]
        return best, choice

    dp = np.full(states, -np.inf)
    dp[0], dp[1] = log_probs[0, blank], log_probs[0, ext[1]]
    whole = segment >= time - 1  # one segment: keep the back-pointers of the forward pass
    back = np.empty((time - 1 if whole else 0, states), dtype=np.int8)
    saved = {0: dp}  # scores after frame k * segment
    for t in range(1, time):
        dp, choice = advance(dp, t)
        if whole:
            back[t - 1] = choice
        elif t % segment == 0:
            saved[t] = dp
    end = states - 1 if dp[-1] >= dp[-2] else states - 2
    if not np.isfinite(dp[end]):
        return None
    path = np.empty(time, dtype=np.int64)  # state per frame, non-decreasing
    path[-1] = end
    for first in sorted(saved, reverse=True):  # frames (first, last] of each segment, backwards
        last = min(first + segment, time - 1)
        if not whole:
            dp, back = saved[first], np.empty((last - first, states), dtype=np.int8)
            for t in range(first + 1, last + 1):
                dp, back[t - first - 1] = advance(dp, t)
        for t in range(last, first, -1):
            path[t - 1] = path[t] - back[t - first - 1, path[t]]
    label_states = 2 * np.arange(n) + 1
    starts = np.searchsorted(path, label_states, side="left")
    ends = np.searchsorted(path, label_states, side="right")
    return [(int(a), int(b)) for a, b in zip(starts, ends, strict=True)]


def label_posteriors(
    log_probs: Any, labels: Sequence[int], blank: int
) -> tuple[list[float], list[int]]:
    """Per label, its highest posterior over its aligned frames and the frame of that peak
    (where the label shows on a timeline); confidences 0.0 and frames -1 when unalignable."""
    lp = (
        log_probs.detach().cpu().double().numpy()
        if hasattr(log_probs, "detach")
        else np.asarray(log_probs)
    )
    spans = ctc_align(lp, labels, blank)
    if spans is None:
        return [0.0] * len(labels), [-1] * len(labels)
    peaks = [a + int(lp[a:b, label].argmax()) for label, (a, b) in zip(labels, spans, strict=True)]
    return [float(np.exp(lp[t, label])) for label, t in zip(labels, peaks, strict=True)], peaks


def label_confidences(log_probs: Any, labels: Sequence[int], blank: int) -> list[float]:
    """Per label, its highest posterior over its aligned frames (0.0 for all when unalignable)."""
    return label_posteriors(log_probs, labels, blank)[0]


def best_path_posteriors(log_probs: Any, blank: int) -> tuple[list[float], list[int]]:
    """:func:`label_posteriors` of the greedy (best-path) output, without the alignment: the
    best path is the Viterbi alignment of its own labels, so each label's frames are its run.
    O(time) memory, where the alignment's back-pointers take time x labels bytes (gigabytes for
    a long session)."""
    lp = log_probs.detach().cpu().numpy() if hasattr(log_probs, "detach") else np.asarray(log_probs)
    if lp.shape[0] == 0:
        return [], []
    best = lp.argmax(axis=1)
    changes = np.concatenate(([True], best[1:] != best[:-1]))
    starts = np.flatnonzero(changes)
    # max, then float64 (as label_confidences): the same numbers without a float64 copy of it all
    frame_max = lp.max(axis=1).astype(np.float64)
    run_max = np.maximum.reduceat(frame_max, starts)
    run_of_frame = np.cumsum(changes) - 1
    peak_frames = np.flatnonzero(frame_max == run_max[run_of_frame])
    _, first = np.unique(run_of_frame[peak_frames], return_index=True)
    peaks = peak_frames[first]  # the first frame of each run that reaches its maximum
    keep = best[starts] != blank
    return [float(v) for v in np.exp(run_max[keep])], [int(t) for t in peaks[keep]]


def best_path_confidences(log_probs: Any, blank: int) -> list[float]:
    """The best path's label confidences (see :func:`best_path_posteriors`)."""
    return best_path_posteriors(log_probs, blank)[0]


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
