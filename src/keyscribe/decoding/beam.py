"""Lexicon-free CTC prefix beam search with an optional character n-gram LM.

``BeamDecoder(alphabet, BeamOptions(...), lm="lm.arpa", view=...)`` turns one item's log-probs
``(time, classes)`` into a list of ``Hypothesis``, best first. Two backends, which agree on
clear-cut inputs (flashlight keeps blank- and label-ending paths of a prefix apart, so on
ambiguous frames their scores differ a little):

* ``python``: the prefix beam search below (pure Python over NumPy arrays). It skips extensions
  that provably cannot enter the beam, which makes it as fast as flashlight on sEMG posteriors
  (mostly blank frames; bench/decode.py), though not on flat ones. It is the fallback when
  flashlight-text is not installed.
* ``flashlight``: flashlight-text's native ``LexiconFreeDecoder`` (C++). ``auto`` picks it where
  it runs natively: its bundled KenLM reading the ARPA file for a plain alphabet view with no
  insertion bonus, or no LM. Asked for explicitly, it also serves edits (⌫), ignored keys (⇧),
  sentence ends (⏎) and the bonus, with keyscribe's LM scorer behind flashlight's LM interface
  (a Python call per LM query: slower than the Python search).

Scoring follows the emg2qwerty decoder (itself after flashlight's): a hypothesis scores
``am + lm_weight * lm + insertion_bonus * insertions``, with ``am`` the CTC log-probability of
its label prefix (nats, summed over alignments), ``lm`` the LM's log10 probability of the text it
leaves, and insertions the characters (or words) it types. A backspace undoes the LM score and the
bonus of the character it deletes, so ``cz⌫at`` scores like ``cat`` with the LM. The LM context is
kept for the last ``order - 1 + BACKSPACE_DEPTH`` characters: deleting more than that many
characters in a row shortens the context the LM sees.
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
from keyscribe.decoding.charlm import BOS, EOS, SPACE, CharLM, LMView, token_from_name

BACKSPACE_DEPTH = 24
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

    def __post_init__(self) -> None:
        if self.beam_size < 1 or self.top_k < 1 or self.nbest < 1:
            raise ValueError("beam_size, top_k and nbest must be >= 1")
        if self.nbest > self.beam_size:
            raise ValueError(f"nbest ({self.nbest}) cannot exceed beam_size ({self.beam_size})")
        if self.beam_threshold <= 0 or self.token_threshold <= 0:
            raise ValueError("beam_threshold and token_threshold must be > 0")
        if self.bonus_unit not in ("char", "word"):
            raise ValueError(f"bonus_unit must be 'char' or 'word', got {self.bonus_unit!r}")
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


# -- the LM as the search sees it -----------------------------------------------------------------

_IGNORED, _BACKSPACE = None, "\x7f"  # kinds besides a one-character LM token


class LMSteps:
    """What each class does to the LM context: ``step(context, label)`` -> (new context, LM log10
    score added, insertions added). Contexts are strings of LM tokens starting with ``BOS``; a
    sentence end appends ``EOS + BOS``. Memoised: the search asks the same steps again and again."""

    def __init__(self, view: LMView, lm: CharLM | None, bonus_unit: str = "char") -> None:
        self.lm = lm
        self.keep = (lm.order - 1 if lm else 0) + BACKSPACE_DEPTH
        self.kinds: list[str | None] = []
        for label, name in enumerate(view.tokens):
            if label in view.backspace:
                self.kinds.append(_BACKSPACE)
            elif name is None:
                self.kinds.append(_IGNORED)
            else:
                self.kinds.append(token_from_name(name) or "\x01")
        self.word_unit = bonus_unit == "word"
        self.cache: dict[tuple[str, int], tuple[str, float, int]] = {}

    def _inserts(self, token: str) -> int:
        return 1 if not self.word_unit or token in (SPACE, EOS) else 0

    def step(self, context: str, label: int) -> tuple[str, float, int]:
        key = (context, label)
        done = self.cache.get(key)
        if done is not None:
            return done
        kind = self.kinds[label]
        if kind is _IGNORED:
            done = (context, 0.0, 0)
        elif kind == _BACKSPACE:
            if len(context) <= 1:
                done = (context, 0.0, 0)  # nothing typed yet: nothing to undo
            else:
                closed = context.endswith(EOS + BOS)
                last = EOS if closed else context[-1]
                before = context[:-2] if closed else context[:-1]
                score = self.lm.score(before, last) if self.lm else 0.0
                done = (before, -score, -self._inserts(last))
        else:
            score = self.lm.score(context, kind) if self.lm else 0.0
            typed = context + kind + (BOS if kind == EOS else "")
            done = (typed[-self.keep :], score, self._inserts(kind))
        if len(self.cache) > 1_000_000:
            self.cache.clear()
        self.cache[key] = done
        return done

    def score_gains(self, lm_weight: float, bonus: float) -> list[float]:
        """Per class, the most one step can add to a score: the bonus (LM log-probs are <= 0),
        unbounded for a backspace that undoes an LM score."""
        gains = []
        for kind in self.kinds:
            if kind == _BACKSPACE:
                gains.append(float("inf") if self.lm and lm_weight else max(0.0, -bonus))
            elif kind is _IGNORED:
                gains.append(0.0)
            else:
                gains.append(max(0.0, bonus * self._inserts(kind)))
        return gains

    def finish(self, context: str) -> float:
        """LM score of ending the text here (``</s>``), unless a sentence end just closed it."""
        if self.lm is None or (len(context) > 1 and context.endswith(EOS + BOS)):
            return 0.0
        return self.lm.score(context, EOS)

    def replay(self, labels: tuple[int, ...] | list[int]) -> tuple[str, float, int]:
        """Context, LM score (with the final ``</s>``) and insertions of a whole label sequence."""
        context, lm_score, inserted = BOS, 0.0, 0
        for label in labels:
            context, score, n = self.step(context, label)
            lm_score += score
            inserted += n
        return context, lm_score + self.finish(context), inserted


# -- the pure-Python search -----------------------------------------------------------------------


class _Node:
    """A label prefix as a node of a trie: one node per label sequence while it is alive.

    Children are held weakly, so a prefix that left the beam and is rebuilt later gets back its
    node as long as anything (a descendant in the beam) still holds it: the same labels are never
    two beam entries. The LM context, LM score and insertions of the prefix live on the node."""

    __slots__ = ("parent", "label", "children", "context", "lm", "inserted", "seen", "__weakref__")

    def __init__(
        self, parent: _Node | None, label: int, context: str, lm: float, inserted: int
    ) -> None:
        self.parent, self.label = parent, label
        self.context, self.lm, self.inserted = context, lm, inserted
        self.children: dict[int, weakref.ref[_Node]] = {}
        self.seen = -1  # the last frame at which this prefix was in the beam

    def child(self, label: int) -> _Node | None:
        ref = self.children.get(label)
        return ref() if ref is not None else None

    def extend(self, label: int, steps: LMSteps) -> _Node:
        context, lm, inserted = steps.cache.get((self.context, label)) or steps.step(
            self.context, label
        )
        node = _Node(self, label, context, self.lm + lm, self.inserted + inserted)
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
    root = _Node(None, blank, BOS, 0.0, 0)
    # entry: [node, p_blank, p_nonblank, score]
    beam: list[list[Any]] = [[root, 0.0, NEG_INF, 0.0]]
    rows = log_probs.tolist()
    for t, (row, classes) in enumerate(zip(rows, candidate_classes(log_probs, options), strict=True)):
        for entry in beam:
            entry[0].seen = t
        nxt: dict[_Node, list[Any]] = {}
        full = len(beam) >= options.beam_size and blank in classes
        cutoff = beam[-1][3] + row[blank] if full else NEG_INF
        for node, p_b, p_nb, score in beam:
            total = _logaddexp(p_b, p_nb)
            last = node.label if node is not root else -1
            stay = nxt.get(node)
            for c in classes:
                p = row[c]
                if c == blank or c == last:  # noqa: SIM109 (no tuple per test in the hot loop)
                    if stay is None:
                        stay = nxt[node] = [node, NEG_INF, NEG_INF, 0.0]
                    if c == blank:
                        stay[1] = _logaddexp(stay[1], total + p)
                        continue
                    stay[2] = _logaddexp(stay[2], p_nb + p)  # the repeat collapses
                    from_prev = p_b + p  # a repeat after a blank is a new character
                else:
                    from_prev = total + p
                child = node.child(c)
                if child is None:
                    if score + p + gains[c] < cutoff:
                        continue
                    child = node.extend(c, steps)
                else:
                    ext = nxt.get(child)
                    if ext is not None:
                        ext[2] = _logaddexp(ext[2], from_prev)
                        continue
                    if child.seen != t and score + p + gains[c] < cutoff:
                        continue
                nxt[child] = [child, NEG_INF, from_prev, 0.0]
        for e in nxt.values():
            node = e[0]
            e[3] = _logaddexp(e[1], e[2]) + w * node.lm + bonus * node.inserted
        beam = heapq.nlargest(options.beam_size, nxt.values(), key=_SCORE)
        floor = beam[0][3] - options.beam_threshold
        if beam[-1][3] < floor:
            beam = [e for e in beam if e[3] >= floor]
    out = []
    for node, p_b, p_nb, _ in beam:
        am = _logaddexp(p_b, p_nb)
        lm_total = node.lm + steps.finish(node.context)
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
    """Beam search for one alphabet, one LM (an ARPA path, or None) and one set of options.

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
        self.lm = CharLM.load(self.lm_path) if self.lm_path is not None else None
        self.steps = LMSteps(self.view, self.lm, self.options.bonus_unit)
        # auto: flashlight where it runs natively (KenLM on a plain view, or no LM, and no bonus);
        # where it would call back into Python for every LM query, the Python search is faster
        native = self.options.insertion_bonus == 0 and (self.lm is None or self.view.is_plain)
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
            if self.kenlm is None and self.lm_path is not None and native:
                self.kenlm = native_kenlm(self.lm_path, self.view.tokens)
            found = flashlight_search(log_probs, self.steps, o, self.kenlm, self.alphabet.blank)
        else:
            found = prefix_beam_search(log_probs, self.alphabet.blank, self.options, self.steps)
        return [
            Hypothesis(labels, self.alphabet.decode(labels), score, am, lm)
            for labels, score, am, lm in found
        ]
