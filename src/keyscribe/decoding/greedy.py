"""Best-path CTC decoding."""

from __future__ import annotations

import torch
from torch import Tensor


def decode_greedy(log_probs: Tensor, lengths: Tensor, blank: int) -> list[list[int]]:
    """log_probs ``(batch, time, classes)``, lengths ``(batch,)`` -> label ids per item:
    the most likely class per frame, repeats collapsed, blanks removed."""
    best = log_probs.argmax(dim=-1).cpu()  # (batch, time)
    out: list[list[int]] = []
    for seq, n in zip(best, lengths.cpu().tolist(), strict=True):
        seq = seq[: int(n)]
        if len(seq) == 0:
            out.append([])
            continue
        keep = torch.ones_like(seq, dtype=torch.bool)
        keep[1:] = seq[1:] != seq[:-1]
        seq = seq[keep]
        out.append(seq[seq != blank].tolist())
    return out


def frame_confidences(log_probs: Tensor, length: int, blank: int) -> list[float]:
    """Per emitted label, the max posterior over the frames of its run (one item, no batch):
    log_probs ``(time, classes)``."""
    probs = log_probs[:length].exp()
    best = probs.argmax(dim=-1)
    conf: list[float] = []
    prev = -1
    for t, label in enumerate(best.tolist()):
        p = float(probs[t, label])
        if label != blank and label != prev:
            conf.append(p)
        elif label != blank and label == prev and conf:
            conf[-1] = max(conf[-1], p)
        prev = label
    return conf


class IncrementalGreedy:
    """Best-path decoding of log-probs that arrive a few frames at a time (streaming): the last
    frame's label is carried, so a run split across two calls still collapses to one label and
    the concatenated output equals ``decode_greedy`` on the whole sequence."""

    def __init__(self, blank: int) -> None:
        self.blank = blank
        self.previous = -1  # label of the last frame seen; -1 before the first

    def step(self, log_probs: Tensor) -> list[int]:
        """log_probs ``(time, classes)`` -> the labels these frames complete."""
        out: list[int] = []
        for label in log_probs.argmax(dim=-1).tolist():
            if label != self.previous and label != self.blank:
                out.append(label)
            self.previous = label
        return out
