"""The pure-Python CTC prefix beam search behind ``beam.BeamDecoder`` (backend ``python``)."""

from __future__ import annotations

import gc
import math
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from operator import itemgetter
from typing import Any

import numpy as np

from keyscribe.decoding.lmsteps import LMNode, LMSteps

NEG_INF = float("-inf")
_SCORE = itemgetter(3)
_MAX_TABLES = 100_000  # LM states whose extension gains are kept (about 1 kB each)


class _Node:
    """A label prefix as a node of a trie: one node per label sequence while it is alive.

    Children are held weakly, so a prefix that left the beam and is rebuilt later gets back its
    node as long as anything (a descendant in the beam) still holds it: the same labels are never
    two beam entries. Its LM stack node, LM score and insertions live on the node, with ``static``
    (the LM and bonus part of its score), ``table`` (per class, what extending it adds to that:
    shared by every prefix in the same LM state) and ``undo`` (what a backspace adds: its own)."""

    __slots__ = (
        "parent",
        "label",
        "children",
        "lmnode",
        "lm",
        "inserted",
        "depth",
        "static",
        "table",
        "undo",
        "__weakref__",
    )

    def __init__(
        self, parent: _Node | None, label: int, lmnode: LMNode, lm: float, inserted: int
    ) -> None:
        self.parent, self.label = parent, label
        self.lmnode, self.lm, self.inserted = lmnode, lm, inserted
        self.depth = 0 if parent is None else parent.depth + 1
        self.children: dict[int, weakref.ref[_Node]] = {}
        self.static = 0.0
        self.table: dict[int, float] = {}
        self.undo = 0.0

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


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector (if on) while the search runs. The search makes no
    reference cycles (what it drops, reference counting frees), but its allocations trigger
    collections, and each full one walks every object in the process: with torch loaded, some
    hundreds of thousands, often more time than the search itself."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def candidate_classes(log_probs: np.ndarray, options: Any) -> list[list[int]]:
    """Per frame, the classes the search tries: the top-k, minus those more than
    ``token_threshold`` nats below the frame's best."""
    k = min(options.top_k, log_probs.shape[1])
    top = np.argsort(-log_probs, axis=1, kind="stable")[:, :k]
    best = log_probs.max(axis=1, keepdims=True)
    keep = np.take_along_axis(log_probs, top, axis=1) >= best - options.token_threshold
    return [row[mask].tolist() for row, mask in zip(top, keep, strict=True)]


class PrefixBeamSearch:
    """The search's state between frames: ``advance(log_probs)`` as often as frames come (a chunk
    at a time when streaming, with the same result as all at once), ``hypotheses()`` at the end.
    ``stable()`` gives the labels every hypothesis in the beam shares (final: every later
    hypothesis extends one of them), ``tentative()`` the best one's labels after those.

    Each label sequence is one trie node, so one beam entry: ``[node, p_blank, p_label, score,
    total]`` (log-probs of the prefix's alignments ending in a blank, in its last label, both).
    A prefix in the beam gathers its own next entry: staying (blank, repeat) and its parent's
    extension when the parent is in the beam too. A prefix not in the beam has its parent as its
    only source, so its score after this frame is known before it is built; when the beam is
    full, every kept prefix staying on a blank scores at least (the last kept score + the blank's
    log-prob), so such a prefix scoring below that cannot be among the ``beam_size`` best and is
    never built. No path into a prefix that can be kept is dropped: the result equals the search
    without the shortcut (tests/decoding/test_beam_exact.py). ``options``: a ``beam.BeamOptions``."""

    def __init__(self, blank: int, options: Any, steps: LMSteps) -> None:
        self.blank, self.options, self.steps = blank, options, steps
        self.w = options.lm_weight if steps.lm else 0.0
        self.bonus = options.insertion_bonus
        self.gains = steps.score_gains(self.w, self.bonus)
        self.undos = frozenset(steps.backspaces)
        self.tables = steps.tables(self.w, self.bonus)
        self.root = self._node(None, -1, steps.root, 0.0, 0)  # -1: no label to repeat
        self.beam: list[list[Any]] = [[self.root, 0.0, NEG_INF, 0.0, 0.0]]
        self.t = 0  # frames seen
        self.committed = self.root  # the deepest node every hypothesis descends from, reported

    def _node(
        self, parent: _Node | None, label: int, lmnode: LMNode, lm: float, inserted: int
    ) -> _Node:
        node = _Node(parent, label, lmnode, lm, inserted)
        node.static = self.w * lm + self.bonus * inserted
        tables = self.tables
        table = tables.get(lmnode.state)
        if table is None:
            if len(tables) >= _MAX_TABLES:
                tables.clear()
            table = tables[lmnode.state] = {}
        node.table = table
        if self.undos:
            d_lm, d_ins = self.steps.gain(lmnode, next(iter(self.undos)))
            node.undo = self.w * d_lm + self.bonus * d_ins
        return node

    def _child(self, node: _Node, label: int) -> _Node:
        """``node`` extended by ``label``: the live trie node, or a new one."""
        ref = node.children.get(label)
        child = None if ref is None else ref()
        if child is None:
            lmnode, lm, inserted = self.steps.step(node.lmnode, label)
            child = self._node(node, label, lmnode, node.lm + lm, node.inserted + inserted)
            node.children[label] = weakref.ref(child)
        return child

    def _gain(self, node: _Node, label: int) -> float:
        """What extending ``node`` by ``label`` adds to the LM and bonus part of its score."""
        d_lm, d_ins = self.steps.gain(node.lmnode, label)
        return self.w * d_lm + self.bonus * d_ins

    def advance(self, log_probs: np.ndarray) -> None:
        """log_probs ``(time, classes)``: the next frames."""
        with _collector_paused():
            self._advance(log_probs)

    def _advance(self, log_probs: np.ndarray) -> None:
        options, blank, gains, undos = self.options, self.blank, self.gains, self.undos
        size, threshold = options.beam_size, options.beam_threshold
        beam = self.beam
        rows = log_probs.tolist()
        lae = _logaddexp
        for row, classes in zip(rows, candidate_classes(log_probs, options), strict=True):
            p_blank = row[blank] if blank in classes else None
            if p_blank is not None and len(classes) == 1:
                # only the blank: every prefix stays, all scores move by the same amount
                for e in beam:
                    e[1] = e[4] = e[4] + p_blank
                    e[2] = NEG_INF
                    e[3] += p_blank
                continue
            tried = set(classes)
            # extensions by their score bound (class log-prob + the most LM and bonus add), best
            # first; a backspace's gain is its prefix's own (what it takes back)
            ranked = sorted(
                ((row[c] + gains[c], c) for c in classes if c != blank and c not in undos),
                reverse=True,
            )
            top = ranked[0][0] if ranked else NEG_INF
            backs = [c for c in classes if c in undos]
            back_top = max(row[c] for c in backs) if backs else NEG_INF
            full = p_blank is not None and len(beam) >= size
            cutoff = beam[-1][3] + p_blank if full else NEG_INF  # type: ignore[operator]
            nxt: list[list[Any]] = []
            where = {e[0]: e for e in beam}
            for node, p_b, p_nb, score, total in beam:
                last = node.label
                if last in tried:
                    x = row[last]
                    n_nb = p_nb + x  # the repeat collapses
                    parent = node.parent
                    pe = where.get(parent)  # type: ignore[arg-type]
                    if pe is not None:  # the parent's extension (a repeat only after a blank)
                        n_nb = lae(n_nb, (pe[1] if last == parent.label else pe[4]) + x)  # type: ignore[union-attr]
                elif p_blank is None:  # no way to stay
                    n_nb = None
                else:
                    n_nb = NEG_INF
                if n_nb is not None:
                    n_b = NEG_INF if p_blank is None else total + p_blank
                    if n_nb == NEG_INF:
                        n_total = n_b
                    elif n_b == NEG_INF:
                        n_total = n_nb
                    else:
                        n_total = lae(n_b, n_nb)
                    nxt.append([node, n_b, n_nb, n_total + node.static, n_total])
                limit = cutoff - score
                if top < limit and back_top + node.undo < limit:
                    continue  # no extension of this prefix can enter the beam
                table, fixed = node.table, node.static
                for bound, c in ranked:
                    if bound < limit:
                        break
                    gain = table.get(c)
                    if gain is None:
                        gain = table[c] = self._gain(node, c)
                    # a repeat after a blank is a new character; otherwise from either ending
                    from_prev = (p_b if c == last else total) + row[c]
                    if from_prev + fixed + gain >= cutoff:
                        child = self._child(node, c)
                        if child not in where:  # a prefix in the beam takes this itself
                            nxt.append(
                                [child, NEG_INF, from_prev, from_prev + child.static, from_prev]
                            )
                for c in backs:
                    from_prev = (p_b if c == last else total) + row[c]
                    if from_prev + fixed + node.undo >= cutoff:
                        child = self._child(node, c)
                        if child not in where:
                            nxt.append(
                                [child, NEG_INF, from_prev, from_prev + child.static, from_prev]
                            )
            nxt.sort(key=_SCORE, reverse=True)
            beam = nxt[:size]
            floor = beam[0][3] - threshold
            if beam[-1][3] < floor:
                beam = [e for e in beam if e[3] >= floor]
        self.beam, self.t = beam, self.t + len(rows)

    def hypotheses(self) -> list[tuple[tuple[int, ...], float, float, float]]:
        """[(labels, score, am, lm)] best first, ``nbest`` long, the text's end scored."""
        w, bonus = self.w, self.options.insertion_bonus
        out = []
        for node, _, _, _, am in self.beam:
            lm_total = node.lm + self.steps.finish(node.lmnode)
            out.append((node.labels(), am + w * lm_total + bonus * node.inserted, am, lm_total))
        out.sort(key=lambda h: h[1], reverse=True)
        return out[: self.options.nbest]

    def stable(self) -> list[int]:
        """The labels every hypothesis now shares that were not reported before."""
        nodes = [e[0] for e in self.beam]
        common = nodes[0]
        for node in nodes[1:]:
            while node.depth > common.depth:
                node = node.parent
            while common.depth > node.depth:
                common = common.parent
            while node is not common:
                node, common = node.parent, common.parent
        new = _path(common, self.committed)
        self.committed = common
        return new

    def tentative(self) -> list[int]:
        """The best hypothesis's labels after the stable ones (may change with the next frames)."""
        best = max(self.beam, key=_SCORE)[0]
        return _path(best, self.committed)


def _path(node: _Node, ancestor: _Node) -> list[int]:
    """Labels from ``ancestor`` (excluded) down to ``node``."""
    out = []
    while node is not ancestor and node.parent is not None:
        out.append(node.label)
        node = node.parent
    return out[::-1]


def prefix_beam_search(
    log_probs: np.ndarray, blank: int, options: Any, steps: LMSteps
) -> list[tuple[tuple[int, ...], float, float, float]]:
    """log_probs ``(time, classes)`` -> [(labels, score, am, lm)] best first, ``nbest`` long
    (``PrefixBeamSearch`` over all frames at once)."""
    search = PrefixBeamSearch(blank, options, steps)
    search.advance(log_probs)
    return search.hypotheses()
