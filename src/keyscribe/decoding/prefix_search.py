"""The pure-Python CTC prefix beam search behind ``beam.BeamDecoder`` (backend ``python``)."""

from __future__ import annotations

import math
import weakref
from operator import itemgetter
from typing import Any

import numpy as np

from keyscribe.decoding.lmsteps import LMNode, LMSteps

NEG_INF = float("-inf")
_SCORE = itemgetter(3)


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
        "depth",
        "static",
        "__weakref__",
    )

    def __init__(
        self, parent: _Node | None, label: int, lmnode: LMNode, lm: float, inserted: int
    ) -> None:
        self.parent, self.label = parent, label
        self.lmnode, self.lm, self.inserted = lmnode, lm, inserted
        self.depth = 0 if parent is None else parent.depth + 1
        self.children: dict[int, weakref.ref[_Node]] = {}
        self.seen = -1  # the last frame at which a child of this prefix was in the beam
        self.kids: list[int] = []  # ... and the labels of those children
        self.fixed: dict[int, float] = {}  # label -> LM and bonus part of that child's score
        self.static = 0.0  # the LM and bonus part of this prefix's score (set by the search)

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

    Each label sequence is one trie node, so one beam entry. Extensions that cannot enter the beam
    are never built: when the beam is full, every kept prefix staying on a blank scores at least
    (the last kept score + the blank's log-prob), so a prefix that is not in the beam and whose
    score after this frame (known before it is built: its parent is its only source) is below
    that cannot be among the ``beam_size`` best. A prefix already in the beam is always extended
    into, so that no path's mass is lost: the result equals the search without the shortcut
    (tests/decoding/test_beam_exact.py). ``options``: a ``beam.BeamOptions``."""

    def __init__(self, blank: int, options: Any, steps: LMSteps) -> None:
        self.blank, self.options, self.steps = blank, options, steps
        self.w = options.lm_weight if steps.lm else 0.0
        self.gains = steps.score_gains(self.w, options.insertion_bonus)
        self.root = _Node(None, blank, steps.root, 0.0, 0)
        # entry: [node, p_blank, p_nonblank, score]
        self.beam: list[list[Any]] = [[self.root, 0.0, NEG_INF, 0.0]]
        self.t = 0  # frames seen
        self.committed = self.root  # the deepest node every hypothesis descends from, reported

    def advance(self, log_probs: np.ndarray) -> None:
        """log_probs ``(time, classes)``: the next frames."""
        options, steps, blank, root = self.options, self.steps, self.blank, self.root
        w, bonus, gains = self.w, options.insertion_bonus, self.gains
        beam = self.beam
        rows = log_probs.tolist()
        lae = _logaddexp
        for t, (row, classes) in enumerate(
            zip(rows, candidate_classes(log_probs, options), strict=True), self.t
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
                total = p_b if p_nb == NEG_INF else p_nb if p_b == NEG_INF else lae(p_b, p_nb)
                last = node.label if node is not root else -1
                stay = nxt.get(node)
                repeat = p_nb + tried[last] if last in tried else None  # the repeat collapses
                if stay is None:
                    if p_blank is not None or repeat is not None:
                        stay = nxt[node] = [
                            node,
                            NEG_INF if p_blank is None else total + p_blank,
                            NEG_INF if repeat is None else repeat,
                            0.0,
                        ]
                else:
                    if p_blank is not None:
                        stay[1] = lae(stay[1], total + p_blank)
                    if repeat is not None:
                        stay[2] = lae(stay[2], repeat)
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
                        child.static = w * child.lm + bonus * child.inserted
                    nxt[child] = [child, NEG_INF, from_prev, 0.0]
            for e in nxt.values():
                p_b, p_nb = e[1], e[2]
                if p_nb == NEG_INF:
                    e[3] = p_b + e[0].static
                elif p_b == NEG_INF:
                    e[3] = p_nb + e[0].static
                else:
                    e[3] = lae(p_b, p_nb) + e[0].static
            beam = sorted(nxt.values(), key=_SCORE, reverse=True)[: options.beam_size]
            floor = beam[0][3] - options.beam_threshold
            if beam[-1][3] < floor:
                beam = [e for e in beam if e[3] >= floor]
        self.beam, self.t = beam, self.t + len(rows)

    def hypotheses(self) -> list[tuple[tuple[int, ...], float, float, float]]:
        """[(labels, score, am, lm)] best first, ``nbest`` long, the text's end scored."""
        w, bonus = self.w, self.options.insertion_bonus
        out = []
        for node, p_b, p_nb, _ in self.beam:
            am = _logaddexp(p_b, p_nb)
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
