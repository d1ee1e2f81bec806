"""Decoding saved log-probabilities: a ``(time, classes)`` ``.npy`` from any model.

``load_emissions`` checks the file (a NumPy array of float32 or float64, rank 2, the alphabet's
class count, no NaN or +inf) and raises ``DataError`` naming the problem; rows that are scores
rather than log-probabilities are normalised (log-softmax) so that beam scores keep their meaning.
``decode_emissions`` runs greedy or beam search on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from keyscribe.alphabet import Alphabet
from keyscribe.decoding.beam import BeamDecoder, Hypothesis
from keyscribe.errors import DataError


@dataclass(frozen=True)
class Emissions:
    """Log-probabilities read from a file, ``(time, classes)`` float64, and whether they had to
    be normalised."""

    log_probs: np.ndarray
    normalised: bool


def load_emissions(path: str | Path, num_classes: int) -> Emissions:
    """Read a ``.npy`` of ``(time, num_classes)`` log-probabilities; DataError for anything else."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file not found")
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        reason = "pickled objects" if "pickle" in str(exc) else "unreadable"
        raise DataError(path, f"not a .npy array ({reason})") from None
    if not isinstance(array, np.ndarray):
        raise DataError(path, "not a .npy array (an .npz archive?)")
    if array.dtype not in (np.float32, np.float64):
        raise DataError(path, f"expected float32 or float64 log-probabilities, got {array.dtype}")
    if array.ndim != 2:
        raise DataError(
            path, f"expected (time, classes) log-probabilities, got shape {tuple(array.shape)}"
        )
    if array.shape[1] != num_classes:
        raise DataError(
            path, f"has {array.shape[1]} classes per frame, the alphabet has {num_classes}"
        )
    log_probs = array.astype(np.float64)
    if np.isnan(log_probs).any():
        row = int(np.isnan(log_probs).any(axis=1).argmax())
        raise DataError(path, f"NaN in frame {row}")
    if np.isposinf(log_probs).any():
        raise DataError(path, "+inf among the log-probabilities")
    if len(log_probs) == 0:
        return Emissions(log_probs, False)
    totals = np.logaddexp.reduce(log_probs, axis=1)
    if np.isneginf(totals).any():
        raise DataError(path, f"frame {int(np.isneginf(totals).argmax())} is -inf for every class")
    normalised = bool(np.abs(totals).max() > 1e-3)
    if normalised:
        log_probs = log_probs - totals[:, None]
    return Emissions(log_probs, normalised)


def greedy_hypothesis(log_probs: np.ndarray, alphabet: Alphabet) -> Hypothesis:
    """The best path: its labels (repeats collapsed, blanks dropped) and its log-probability."""
    best = log_probs.argmax(axis=1)
    labels = tuple(
        int(c)
        for t, c in enumerate(best.tolist())
        if c != alphabet.blank and (t == 0 or c != best[t - 1])
    )
    score = float(log_probs[np.arange(len(best)), best].sum())
    return Hypothesis(labels, alphabet.decode(labels), score, score, 0.0)


def decode_emissions(
    log_probs: np.ndarray, alphabet: Alphabet, beam: BeamDecoder | None
) -> list[Hypothesis]:
    """log_probs ``(time, classes)`` -> hypotheses, best first (one for greedy: ``beam=None``)."""
    if beam is None:
        return [greedy_hypothesis(log_probs, alphabet)]
    return beam.decode(log_probs)


def hypothesis_json(hyp: Hypothesis) -> dict[str, Any]:
    return {"label_ids": list(hyp.label_ids), "text": hyp.text, "score": hyp.score}


def saved_decoder(
    domain: str | None = None,
    alphabet_from: str | Path | None = None,
    decoder: str = "beam",
    lm: str | Path | None = None,
    options: dict[str, Any] | None = None,
) -> tuple[Alphabet, BeamDecoder | None]:
    """The alphabet saved log-probabilities follow and the beam search to run on them (None:
    greedy). The alphabet is the domain's own (sEMG's keys) or a model's (``alphabet_from``: any
    checkpoint ``load_model`` reads; HTR models need one). ``options``: ``BeamOptions`` fields; a
    None insertion bonus is 2 with an LM and 0 without."""
    from keyscribe import builders
    from keyscribe.decoding.beam import BeamOptions
    from keyscribe.domain import get_domain
    from keyscribe.errors import ConfigError

    if decoder not in ("greedy", "beam"):
        raise ConfigError(None, f"--decoder must be 'greedy' or 'beam', got {decoder!r}")
    spec = get_domain(domain) if domain is not None else None
    if alphabet_from is not None:
        from keyscribe.checkpoints import load_model

        model = load_model(alphabet_from)
        if spec is not None and spec.name != model.spec.name:
            raise ConfigError(alphabet_from, f"is a {model.spec.name} model, not {spec.name}")
        spec, alphabet = model.spec, model.alphabet
    elif spec is None:
        raise ConfigError(
            None, "give --domain, or --alphabet CKPT (a model whose classes these are)"
        )
    elif spec.fixed_alphabet is None:
        raise ConfigError(
            None, f"{spec.name} models have their own alphabets: give --alphabet CKPT"
        )
    else:
        alphabet = spec.fixed_alphabet
    if decoder == "greedy":
        return alphabet, None
    fields = {k: v for k, v in (options or {}).items() if v is not None}
    fields.setdefault("insertion_bonus", 2.0 if lm is not None else 0.0)
    try:
        beam_options = BeamOptions(**fields)
    except (TypeError, ValueError) as exc:
        raise ConfigError(None, f"beam options: {exc}") from None
    if lm is not None and lm != "default" and not Path(lm).is_file():
        raise DataError(lm, "language model not found")
    try:
        return alphabet, builders.build_beam_decoder(spec, alphabet, lm, beam_options)
    except ValueError as exc:
        raise DataError(lm, str(exc)) from None
