"""``keyscribe decode`` over many ``.npy`` files: greedy best paths in padded batches on a device,
beam search file by file on the CPU (as ``evaluate`` decodes), one result per file in order."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from keyscribe.alphabet import Alphabet
from keyscribe.decoding.beam import BeamDecoder, Hypothesis
from keyscribe.decoding.saved import decode_emissions, hypothesis_json, load_emissions
from keyscribe.progress import progress


def greedy_batch(
    log_probs: Sequence[np.ndarray], alphabet: Alphabet, device: torch.device
) -> list[Hypothesis]:
    """Best paths of several ``(time, classes)`` arrays at once: padded to ``(batch, time,
    classes)`` on ``device``, one argmax; labels (repeats collapsed, blanks dropped) and each best
    path's log-probability, as ``decoding.saved.greedy_hypothesis`` gives them one by one."""
    lengths = torch.tensor([len(x) for x in log_probs])
    longest = int(lengths.max()) if len(log_probs) else 0
    batch = torch.zeros(len(log_probs), longest, alphabet.num_classes, dtype=torch.float64)
    for i, x in enumerate(log_probs):
        batch[i, : len(x)] = torch.from_numpy(x)
    batch = batch.to(device)
    values, best = batch.max(dim=-1)  # (batch, time)
    inside = torch.arange(longest, device=device)[None] < lengths.to(device)[:, None]
    scores = (values * inside).sum(dim=1).cpu().tolist()
    out = []
    for seq, n, score in zip(best.cpu(), lengths.tolist(), scores, strict=True):
        seq = seq[:n]
        keep = torch.ones_like(seq, dtype=torch.bool)
        keep[1:] = seq[1:] != seq[:-1]
        labels = tuple(int(c) for c in seq[keep] if int(c) != alphabet.blank)
        out.append(Hypothesis(labels, alphabet.decode(labels), score, score, 0.0))
    return out


def decode_files(
    paths: Sequence[Path],
    alphabet: Alphabet,
    beam: BeamDecoder | None,
    device: torch.device,
    batch_size: int = 16,
    show_progress: bool = False,
) -> list[dict[str, Any]]:
    """Each file's ``{"label_ids", "text", "score", "nbest"}``, in the order given: files are read
    and checked ``batch_size`` at a time (a bad one stops the run with its name, before the
    group is decoded); greedy decodes each group in one batch on ``device``, beam search (None:
    greedy) each file on the CPU."""
    groups = [list(paths[i : i + batch_size]) for i in range(0, len(paths), batch_size)]
    results: list[dict[str, Any]] = []
    for group in progress(groups, len(groups), "files", show_progress):
        arrays = [load_emissions(p, alphabet.num_classes).log_probs for p in group]
        if beam is None:
            found = [[h] for h in greedy_batch(arrays, alphabet, device)]
        else:
            found = [decode_emissions(x, alphabet, beam) for x in arrays]
        for hyps in found:
            results.append(
                {**hypothesis_json(hyps[0]), "nbest": [hypothesis_json(h) for h in hyps]}
            )
    return results
