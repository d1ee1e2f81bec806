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

import heapq
import math
import weakref
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import Any

import numpy as np

from keyscribe.alphabet import Alphabet
from keyscribe.decoding.charlm import LMView
from keyscribe.decoding.lmsteps import LM_STYLES, LMNode, LMSteps
from keyscribe.decoding.scorers import load_scorer

NEG_INF = float("-inf")
_SCORE = itemgetter(3)


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


# -- the pure-Python search -----------------------------------------------------------------------


class _Node:
    """A label prefix as a node of a trie: one node per label sequence while it is alive.

    Children are held weakly, so a prefix that left the beam and is rebuilt later gets back its
    node as long as anything (a descendant in the beam) still holds it: the same labels are never
    two beam entries. Its LM stack node, LM score and insertions live on the node."""

    __slots__ = (
        "parent",
        "label",
        "children",
        "lmnode",
        "lm",
        "inserted",
        "seen",
        "kids",
        "fixed",
        "__weakref__",
    )

    def __init__(
        self, parent: _Node | None, label: int, lmnode: LMNode, lm: float, inserted: int
    ) -> None:
        self.parent, self.label = parent, label
        self.lmnode, self.lm, self.inserted = lmnode, lm, inserted
        self.children: dict[int, weakref.ref[_Node]] = {}
        self.seen = -1  # the last frame at which a child of this prefix was in the beam
        self.kids: list[int] = []  # ... and the labels of those children
        self.fixed: dict[int, float] = {}  # label -> LM and bonus part of that child's score

    def extend(self, label: int, steps: LMSteps) -> _Node:
        lmnode, lm, inserted = steps.step(self.lmnode, label)
        node = _Node(self, label, lmnode, self.lm + lm, self.inserted + inserted)
        self.children[label] = weakref.ref(node)
        return node

    def labels(self) -> tuple[int, ...]:
        out = []
        node: _Node | None = self
        while node is not None and node.parent is not None:
            out.append(node.label)
            node = node.parent
        return tuple(reversed(out))


def _logaddexp(a: float, b: float) -> float:
    if a < b:
        a, b = b, a
    if b == NEG_INF:
        return a
    return a + math.log1p(math.exp(b - a))


def candidate_classes(log_probs: np.ndarray, options: BeamOptions) -> list[list[int]]:
    """Per frame, the classes the search tries: the top-k, minus those more than
    ``token_threshold`` nats below the frame's best."""
    k = min(options.top_k, log_probs.shape[1])
    top = np.argsort(-log_probs, axis=1, kind="stable")[:, :k]
    best = log_probs.max(axis=1, keepdims=True)
    keep = np.take_along_axis(log_probs, top, axis=1) >= best - options.token_threshold
    return [row[mask].tolist() for row, mask in zip(top, keep, strict=True)]


def prefix_beam_search(
    log_probs: np.ndarray, blank: int, options: BeamOptions, steps: LMSteps
) -> list[tuple[tuple[int, ...], float, float, float]]:
    """log_probs ``(time, classes)`` -> [(labels, score, am, lm)] best first, ``nbest`` long.

    Each label sequence is one trie node, so one beam entry. Extensions that cannot enter the beam
    are never built: when the beam is full, every kept prefix staying on a blank scores at least
    (the last kept score + the blank's log-prob), so a prefix that is not in the beam and whose
    score bound (its parent's score + the class log-prob + the most the LM and bonus can add) is
    below that cannot be among the ``beam_size`` best. A prefix already in the beam is always
    extended into, so that no path's mass is lost: the result equals the search without the
    shortcut (tests/decoding/test_beam_exact.py)."""
    w, bonus = options.lm_weight if steps.lm else 0.0, options.insertion_bonus
    gains = steps.score_gains(w, bonus)
    root = _Node(None, blank, steps.root, 0.0, 0)
    # entry: [node, p_blank, p_nonblank, score]
    beam: list[list[Any]] = [[root, 0.0, NEG_INF, 0.0]]
    rows = log_probs.tolist()
    lae = _logaddexp
    for t, (row, classes) in enumerate(
        zip(rows, candidate_classes(log_probs, options), strict=True)
    ):
        p_blank = row[blank] if blank in classes else None
        if p_blank is not None and len(classes) == 1:
            # only the blank: every prefix stays, all scores move by the same amount
            for e in beam:
                e[1], e[2], e[3] = lae(e[1], e[2]) + p_blank, NEG_INF, e[3] + p_blank
            continue
        tried = {c: row[c] for c in classes}
        # extensions by their score bound (class log-prob + the most LM and bonus add), best first
        ranked = sorted(((row[c] + gains[c], c) for c in classes if c != blank), reverse=True)
        full = len(beam) >= options.beam_size and p_blank is not None
        cutoff = beam[-1][3] + p_blank if full and p_blank is not None else NEG_INF
        for e in beam:  # which children of each parent are in the beam (never skipped)
            node = e[0]
            parent = node.parent
            if parent is not None:
                if parent.seen != t:
                    parent.seen, parent.kids = t, [node.label]
                else:
                    parent.kids.append(node.label)
        nxt: dict[_Node, list[Any]] = {}
        for node, p_b, p_nb, score in beam:
            total = lae(p_b, p_nb)
            last = node.label if node is not root else -1
            stay = nxt.get(node)
            if p_blank is not None or last in tried:
                if stay is None:
                    stay = nxt[node] = [node, NEG_INF, NEG_INF, 0.0]
                if p_blank is not None:
                    stay[1] = lae(stay[1], total + p_blank)
                if last in tried:
                    stay[2] = lae(stay[2], p_nb + tried[last])  # the repeat collapses
            limit = cutoff - score
            todo = []
            for bound, c in ranked:
                if bound < limit:
                    break
                todo.append(c)
            if node.seen == t:  # children in the beam get this parent's mass whatever the bound
                todo += [c for c in node.kids if c in tried and tried[c] + gains[c] < limit]
            kids = node.kids if node.seen == t else ()
            for c in todo:
                # a repeat after a blank is a new character; otherwise from either ending
                from_prev = (p_b if c == last else total) + tried[c]
                ref = node.children.get(c)
                child = ref() if ref is not None else None
                if child is not None:
                    ext = nxt.get(child)
                    if ext is not None:
                        ext[2] = lae(ext[2], from_prev)
                        continue
                if c not in kids:  # this parent is its only source: its score is known now
                    fixed = node.fixed.get(c)  # the LM and bonus part of the child's score
                    if fixed is None:
                        d_lm, d_ins = steps.gain(node.lmnode, c)
                        fixed = w * (node.lm + d_lm) + bonus * (node.inserted + d_ins)
                        node.fixed[c] = fixed
                    if from_prev + fixed < cutoff:
                        continue
                if child is None:
                    child = node.extend(c, steps)
                nxt[child] = [child, NEG_INF, from_prev, 0.0]
        for e in nxt.values():
            node = e[0]
            e[3] = lae(e[1], e[2]) + w * node.lm + bonus * node.inserted
        beam = heapq.nlargest(options.beam_size, nxt.values(), key=_SCORE)
        floor = beam[0][3] - options.beam_threshold
        if beam[-1][3] < floor:
            beam = [e for e in beam if e[3] >= floor]
    out = []
    for node, p_b, p_nb, _ in beam:
        am = _logaddexp(p_b, p_nb)
        lm_total = node.lm + steps.finish(node.lmnode)
        out.append((node.labels(), am + w * lm_total + bonus * node.inserted, am, lm_total))
    out.sort(key=lambda h: h[1], reverse=True)
    return out[: options.nbest]


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
