"""Beam search's LM weight and insertion bonus, grid-searched on a validation split: the network
runs once per item, the search once per grid point."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from keyscribe.checkpoints import load_model
from keyscribe.config import apply_overrides, to_plain
from keyscribe.errors import DataError
from keyscribe.experiment import config_from_tree
from keyscribe.inference import GreedyDecoding
from keyscribe.metrics import EditCounts, hypothesis_tokens, reference_tokens


def tune_decoder(
    checkpoint: str | Path,
    data: str | Path,
    lm: str | Path | None = "auto",
    lm_weights: Sequence[float] = (0.5, 1.0, 2.0, 3.0),
    insertion_bonuses: Sequence[float] = (0.0, 1.0, 2.0, 3.0),
    beam_options: Any = None,
) -> dict[str, Any]:
    """Grid-search beam search's LM weight and insertion bonus on the validation split of
    ``data`` (the checkpoint's data config with ``data.root`` = data)."""
    recognizer = load_model(checkpoint).use_decoder("beam", lm, beam_options)
    cfg = config_from_tree(
        apply_overrides(to_plain(recognizer.config), [f"data.root={data}"]), data
    )
    splits = recognizer.spec.datasets(cfg, recognizer.alphabet)
    if "val" not in splits:
        raise DataError(data, "no validation split to tune on")
    dataset = splits["val"]
    exact_text = recognizer.spec.exact_text
    items = []
    for i in range(len(dataset)):
        sample = dataset[i]
        log_probs, length = recognizer.log_probs(sample)
        reference = reference_tokens(sample.text if exact_text else None, sample.targets.tolist())
        items.append((log_probs[:length], reference))

    def cer(decode: Any) -> float:
        counts = EditCounts()
        for log_probs, reference in items:
            ids = list(decode(log_probs)[0].label_ids)
            counts.add(reference, hypothesis_tokens(ids, recognizer.alphabet, exact_text))
        return round(counts.rate, 4)

    beam = recognizer.beam
    base = beam.options  # beam_options as use_decoder resolved them
    start = time.perf_counter()
    greedy = cer(GreedyDecoding(recognizer.alphabet).decode)
    grid = []
    try:
        for weight in lm_weights:
            for bonus in insertion_bonuses:
                beam.options = replace(base, lm_weight=weight, insertion_bonus=bonus, nbest=1)
                grid.append(
                    {"lm_weight": weight, "insertion_bonus": bonus, "cer": cer(beam.decode)}
                )
    finally:
        beam.options = base
    best = min(grid, key=lambda g: g["cer"])
    return {
        "checkpoint": str(checkpoint),
        "data": str(data),
        "lm": None if beam.lm_path is None else str(beam.lm_path),
        "items": len(items),
        "greedy_cer": greedy,
        "best": best,
        "grid": grid,
        "beam_size": base.beam_size,
        "seconds": round(time.perf_counter() - start, 1),
    }
