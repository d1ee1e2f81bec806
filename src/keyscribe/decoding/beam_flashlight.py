"""The flashlight-text backend of ``BeamDecoder``: its native lexicon-free CTC decoder.

The LM is flashlight's bundled KenLM reading the LM file (ARPA or KenLM binary) when the alphabet's
view is plain, the LM convention keyscribe's, and no insertion bonus is asked for (flashlight's own ``sil_score`` is per frame, not per character).
Otherwise keyscribe's ``LMSteps`` sit behind flashlight's LM interface, so backspace, ignored keys,
sentence ends and the bonus behave exactly as in the Python search: the bonus is folded into the
LM score (``bonus / lm_weight`` per insertion). The blank doubles as flashlight's silence token so
that no real character is put at the start and end of each hypothesis.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from flashlight.lib.text.decoder import (
    LM,
    CriterionType,
    LexiconFreeDecoder,
    LexiconFreeDecoderOptions,
    LMState,
    ZeroLM,
)
from flashlight.lib.text.decoder.kenlm import KenLM
from flashlight.lib.text.dictionary import Dictionary

_MASKED = -1e30  # log-prob of classes outside a frame's candidates


class _StepsLM(LM):
    """flashlight LM interface over ``LMSteps``. flashlight merges hypotheses that share an LM
    state; each state here is its parent state's child by the label (flashlight's trie of
    states), so one state stands for one label sequence, as a prefix does in the Python search."""

    def __init__(self, steps: Any, bonus_scale: float, use_lm: bool) -> None:
        LM.__init__(self)
        self.steps, self.bonus_scale, self.use_lm = steps, bonus_scale, use_lm
        self.node_of: dict[Any, Any] = {}  # flashlight state -> lmsteps.LMNode

    def start(self, start_with_nothing: bool) -> Any:
        state = LMState()
        self.node_of[state] = self.steps.root
        return state

    def score(self, state: Any, token: int) -> tuple[Any, float]:
        child = state.child(token)
        node, lm, inserted = self.steps.step(self.node_of[state], token)
        self.node_of[child] = node
        return child, (lm if self.use_lm else 0.0) + self.bonus_scale * inserted

    def finish(self, state: Any) -> tuple[Any, float]:
        return state, self.steps.finish(self.node_of[state]) if self.use_lm else 0.0


def native_kenlm(lm_path: str | Path, tokens: Sequence[str | None]) -> Any:
    """flashlight's own KenLM for an LM whose view is plain (class i is LM token ``tokens[i]``)."""
    names = [name if name is not None else f"<class-{i}>" for i, name in enumerate(tokens)]
    return KenLM(str(lm_path), Dictionary(names))


def flashlight_search(
    log_probs: np.ndarray, steps: Any, opts: Any, kenlm: Any, blank: int
) -> list[tuple[tuple[int, ...], float, float, float]]:
    """log_probs ``(time, classes)`` -> [(labels, score, am, lm)] best first, like
    ``prefix_beam_search``; am is what is left of the score after the LM and the bonus.
    ``steps``, ``opts``: the search's ``beam.LMSteps`` and ``beam.BeamOptions`` (this module
    stays below beam.py, which imports it when flashlight runs); ``kenlm``: flashlight's KenLM (``native_kenlm``) where the LM view is plain, else None."""
    use_lm = steps.lm is not None and opts.lm_weight > 0
    bonus = opts.insertion_bonus
    if use_lm and bonus == 0 and kenlm is not None:
        lm, weight = kenlm, opts.lm_weight
    elif use_lm:
        lm, weight = _StepsLM(steps, bonus / opts.lm_weight, True), opts.lm_weight
    elif bonus != 0:
        lm, weight = _StepsLM(steps, bonus, False), 1.0
    else:
        lm, weight = ZeroLM(), 0.0
    options = LexiconFreeDecoderOptions(
        opts.beam_size, opts.top_k, opts.beam_threshold, weight, 0.0, True, CriterionType.CTC
    )
    search = LexiconFreeDecoder(options, lm, blank, blank, [])
    emissions = log_probs.astype(np.float32)
    emissions[emissions < emissions.max(axis=1, keepdims=True) - opts.token_threshold] = _MASKED
    emissions = np.ascontiguousarray(emissions)
    time, classes = emissions.shape
    results = search.decode(emissions.ctypes.data, time, classes)
    best: dict[tuple[int, ...], float] = {}
    for result in results:
        labels = tuple(c for c, _ in itertools.groupby(result.tokens) if c != blank and c >= 0)
        if result.score > best.get(labels, float("-inf")):
            best[labels] = result.score
    out = []
    w = opts.lm_weight if steps.lm is not None else 0.0
    for labels, score in sorted(best.items(), key=lambda kv: kv[1], reverse=True)[: opts.nbest]:
        _, lm_score, inserted = steps.replay(labels)
        out.append((labels, score, score - w * lm_score - bonus * inserted, lm_score))
    return out
