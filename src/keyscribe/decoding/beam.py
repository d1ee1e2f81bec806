"""Lexicon-free CTC prefix beam search with an optional character n-gram LM.

``BeamDecoder(alphabet, BeamOptions(...), lm="lm.arpa", view=...)`` turns one item's log-probs
``(time, classes)`` into a list of ``Hypothesis``, best first. Two backends, which agree on
clear-cut inputs (flashlight keeps blank- and label-ending paths of a prefix apart and reports
the better one, so on ambiguous frames its scores are lower, by at most log 2):

* ``python``: the prefix beam search below, exact (one entry per label sequence; only
  extensions that cannot enter the beam are skipped). It is the fallback when flashlight-text is
  not installed; with the ``kenlm`` package its LM queries run in native code.
* ``flashlight``: flashlight-text's native ``LexiconFreeDecoder`` (C++). ``auto`` picks it where
  it runs natively: its bundled KenLM reading the LM file for a plain alphabet view in
  keyscribe's LM convention with no insertion bonus, or no LM. Asked for explicitly, it also serves edits (⌫), ignored keys (⇧),
  sentence ends (⏎) and the bonus, with keyscribe's LM scorer behind flashlight's LM interface
  (a Python call per LM query: slower than the Python search).

Scoring follows the emg2qwerty decoder (itself after flashlight's): a hypothesis scores
``am + lm_weight * lm + insertion_bonus * insertions``, with ``am`` the CTC log-probability of
its label prefix (nats, summed over alignments), ``lm`` the LM's log10 probability of the text it
leaves, and insertions the keys (or words) it types. A backspace pops the LM stack
(``lmsteps``): it takes back the LM score and the bonus of the key it deletes, so ``cz⌫at``
scores like ``cat``. ``lm_style`` says how keys map to LM tokens (``lmsteps``: keyscribe's
convention, or the emg2qwerty decoder's for word-internal LMs).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from keyscribe.alphabet import Alphabet
from keyscribe.decoding.charlm import LMView
from keyscribe.decoding.lmsteps import LM_STYLES, LMSteps
from keyscribe.decoding.prefix_search import PrefixBeamSearch, prefix_beam_search
from keyscribe.decoding.scorers import load_scorer


@dataclass(frozen=True)
class BeamOptions:
    """Beam search settings (defaults: the emg2qwerty decoder's beam 50, top-10, weight 2, bonus 2)."""

    beam_size: int = 50  # hypotheses kept after each frame
    beam_threshold: float = 50.0  # drop hypotheses scoring this much (nats) below the best
    top_k: int = 10  # classes tried per frame, the most probable first (the blank included)
    token_threshold: float = 12.0  # and only those within this many nats of the frame's best class
    lm_weight: float = 2.0  # multiplies the LM's log10 probability
    insertion_bonus: float = 2.0  # added per inserted character (or word, see bonus_unit)
    # "char": per character the LM sees; "word": per space or sentence end
    bonus_unit: str = "char"
    nbest: int = 1  # hypotheses returned
    backend: str = "auto"  # "auto" (flashlight when it runs natively), "flashlight" or "python"
    lm_style: str = "auto"  # "keyscribe", "emg2qwerty", or "auto" (by the LM's vocabulary)

    def __post_init__(self) -> None:
        if self.beam_size < 1 or self.top_k < 1 or self.nbest < 1:
            raise ValueError("beam_size, top_k and nbest must be >= 1")
        if self.nbest > self.beam_size:
            raise ValueError(f"nbest ({self.nbest}) cannot exceed beam_size ({self.beam_size})")
        if self.beam_threshold <= 0 or self.token_threshold <= 0:
            raise ValueError("beam_threshold and token_threshold must be > 0")
        if self.bonus_unit not in ("char", "word"):
            raise ValueError(f"bonus_unit must be 'char' or 'word', got {self.bonus_unit!r}")
        if self.lm_style not in LM_STYLES:
            raise ValueError(f"lm_style must be one of {LM_STYLES}, got {self.lm_style!r}")
        if self.backend not in ("auto", "flashlight", "python"):
            raise ValueError(
                f"backend must be 'auto', 'flashlight' or 'python', got {self.backend!r}"
            )


@dataclass(frozen=True)
class Hypothesis:
    """One decoded label sequence with its scores (``score = am + lm_weight*lm + bonus*n``)."""

    label_ids: tuple[int, ...]  # emitted classes, edits (⌫) included
    text: str  # the labels as text (typed keys for sEMG)
    score: float
    am_score: float  # CTC log-probability of the labels, nats
    lm_score: float  # LM log10 probability of the text left (0 without an LM)


# -- the decoder ----------------------------------------------------------------------------------


def flashlight_available() -> bool:
    try:
        import flashlight.lib.text.decoder  # noqa: F401
    except ImportError:
        return False
    return True


class BeamDecoder:
    """Beam search for one alphabet, one LM (ARPA or KenLM binary path, or None) and options.

    ``view`` says how the alphabet looks to the LM (default: ``LMView.plain``); the sEMG domain
    supplies one with ⌫ as backspace, ⇧ unseen and ⏎ as a sentence end."""

    def __init__(
        self,
        alphabet: Alphabet,
        options: BeamOptions | None = None,
        lm: str | Path | None = None,
        view: LMView | None = None,
    ) -> None:
        self.alphabet = alphabet
        self.options = options or BeamOptions()
        self.view = view or LMView.plain(alphabet)
        if len(self.view.tokens) != alphabet.num_classes:
            raise ValueError(
                f"LM view has {len(self.view.tokens)} classes, alphabet {alphabet.num_classes}"
            )
        self.lm_path = None if lm is None else Path(lm)
        self.lm = load_scorer(self.lm_path) if self.lm_path is not None else None
        self.steps = LMSteps(self.view, self.lm, self.options.bonus_unit, self.options.lm_style)
        # auto: flashlight where it runs natively (KenLM on a plain view in keyscribe's
        # convention, or no LM, and no bonus); where it would call back into Python for every LM
        # query, the Python search is faster
        native = self.options.insertion_bonus == 0 and (
            self.lm is None or (self.view.is_plain and self.steps.style == "keyscribe")
        )
        use_flashlight = self.options.backend == "flashlight" or (
            self.options.backend == "auto" and native and flashlight_available()
        )
        if self.options.backend == "flashlight" and not flashlight_available():
            raise ImportError(
                "the flashlight backend needs flashlight-text: pip install flashlight-text"
            )
        self.backend = "flashlight" if use_flashlight else "python"
        self.kenlm: Any = None  # flashlight's KenLM, loaded on first use

    def decode(self, log_probs: Any) -> list[Hypothesis]:
        """log_probs ``(time, classes)`` (a Tensor or array, natural log) -> hypotheses, best first."""
        if hasattr(log_probs, "detach"):
            log_probs = log_probs.detach().cpu().numpy()
        log_probs = np.asarray(log_probs, dtype=np.float64)
        if log_probs.ndim != 2 or log_probs.shape[1] != self.alphabet.num_classes:
            raise ValueError(
                f"log_probs must be (time, {self.alphabet.num_classes}), got {log_probs.shape}"
            )
        if self.backend == "flashlight":
            from keyscribe.decoding.beam_flashlight import flashlight_search, native_kenlm

            o = self.options
            native = o.lm_weight > 0 and o.insertion_bonus == 0 and self.view.is_plain
            native = native and self.steps.style == "keyscribe"
            if self.kenlm is None and self.lm_path is not None and native:
                self.kenlm = native_kenlm(self.lm_path, self.view.tokens)
            found = flashlight_search(log_probs, self.steps, o, self.kenlm, self.alphabet.blank)
        else:
            found = prefix_beam_search(log_probs, self.alphabet.blank, self.options, self.steps)
        return [
            Hypothesis(labels, self.alphabet.decode(labels), score, am, lm)
            for labels, score, am, lm in found
        ]

    def stream(self) -> PrefixBeamSearch:
        """A search to feed frames a chunk at a time (the python search, whichever the backend:
        flashlight decodes whole sequences only)."""
        return PrefixBeamSearch(self.alphabet.blank, self.options, self.steps)
