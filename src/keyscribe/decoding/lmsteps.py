"""What each class does to a character LM during beam search, in one of two conventions.

The LM history of a hypothesis is a stack of ``LMNode``: each typed key pushes a node (the LM
state after it, the log10 score it added, the insertions it counted); a backspace pops one, which
takes back exactly what that key added, however far back it was typed.

Conventions (``lm_style``):

* ``keyscribe``: for LMs with a word-boundary token (``<sp>``): every character the LM sees is a
  token, space included; a character outside the LM's vocabulary scores as ``<unk>`` in context;
  keys the view hides (⇧) are not seen and earn no bonus; ``</s>`` (⏎) closes the sentence and
  opens a fresh ``<s>``; the text's end scores ``</s>`` unless ⏎ just closed it.
* ``emg2qwerty``: the reference decoder's, for a word-internal character LM (each word a
  sentence, no space token): a key whose character is in the LM's vocabulary is scored in
  context; any other key (space, ⏎, ⇧, capitals or digits the LM never saw) ends the word: it
  scores ``</s>`` and the next key starts from a fresh ``<s>``; if the word was already ended (or
  nothing typed), that key scores the unigram ``<unk>`` instead. Every key but ⌫ earns the bonus.
  At the end, an unfinished word scores ``</s>``.

``auto`` picks ``emg2qwerty`` when the LM has no ``<sp>`` token, else ``keyscribe``.
"""

from __future__ import annotations

from typing import Any, Protocol

from keyscribe.decoding.charlm import BOS, EOS, SPACE, UNK, LMView, token_from_name
from keyscribe.decoding.scorers import CharLMScorer

LM_STYLES = ("auto", "keyscribe", "emg2qwerty")


class Scorer(Protocol):
    """A character LM as the search queries it: states are hashable and compare by content."""

    order: int

    def start(self) -> Any: ...  # the state after <s>

    def step(self, state: Any, token: str) -> tuple[Any, float]: ...  # -> next state, log10 p

    def has(self, token: str) -> bool: ...  # in the vocabulary

    def unk(self) -> float: ...  # log10 p of the unigram <unk>

    def has_space(self) -> bool: ...  # a word-boundary token <sp> in the vocabulary


class LMNode:
    """One typed key on a hypothesis's LM stack."""

    __slots__ = ("parent", "state", "score", "inserted")

    def __init__(self, parent: LMNode | None, state: Any, score: float, inserted: int) -> None:
        self.parent, self.state, self.score, self.inserted = parent, state, score, inserted


_IGNORED, _BACKSPACE, _OOV = 0, 1, 2  # kinds of class besides a token the LM scores


def resolve_style(style: str, scorer: Scorer | None) -> str:
    if style not in LM_STYLES:
        raise ValueError(f"lm_style must be one of {LM_STYLES}, got {style!r}")
    if style != "auto":
        return style
    return "keyscribe" if scorer is None or scorer.has_space() else "emg2qwerty"


class LMSteps:
    """Per class, the step it makes on the LM stack: ``step(node, label)`` -> (node, log10 score
    added, insertions added). LM queries are memoised per (state, token)."""

    def __init__(
        self,
        view: LMView,
        scorer: Any,
        bonus_unit: str = "char",
        style: str = "auto",
    ) -> None:
        if scorer is not None and not hasattr(scorer, "start"):
            scorer = CharLMScorer(scorer)  # a CharLM read from ARPA
        self.lm = scorer
        self.style = resolve_style(style, scorer)
        reference = self.style == "emg2qwerty"
        self.kinds: list[int | str] = []
        for label, name in enumerate(view.tokens):
            token = None if name is None else token_from_name(name)
            if label in view.backspace:
                self.kinds.append(_BACKSPACE)
            elif reference and (token in (None, SPACE, EOS, UNK, BOS) or not self._has(token)):
                self.kinds.append(_OOV)  # ends the word (⇧, space, ⏎, keys the LM never saw)
            elif token is None:
                self.kinds.append(_IGNORED)
            else:
                self.kinds.append(token)
        self.backspaces = [label for label, kind in enumerate(self.kinds) if kind == _BACKSPACE]
        self.word_unit = bonus_unit == "word"
        self.root = LMNode(None, scorer.start() if scorer else None, 0.0, 0)
        self.cache: dict[tuple[Any, str], tuple[Any, float]] = {}
        self._tables: dict[tuple[float, float], dict[Any, dict[int, float]]] = {}

    def _has(self, token: str | None) -> bool:
        return self.lm is not None and token is not None and self.lm.has(token)

    def _inserts(self, token: str) -> int:
        return 1 if not self.word_unit or token in (SPACE, EOS) else 0

    def _query(self, state: Any, token: str) -> tuple[Any, float]:
        key = (state, token)
        done = self.cache.get(key)
        if done is None:
            if len(self.cache) > 1_000_000:
                self.cache.clear()
            assert self.lm is not None
            done = self.cache[key] = self.lm.step(state, token)
        return done

    def step(self, node: LMNode, label: int) -> tuple[LMNode, float, int]:
        kind = self.kinds[label]
        if kind == _IGNORED:
            return node, 0.0, 0
        if kind == _BACKSPACE:
            if node.parent is None:
                return node, 0.0, 0  # nothing typed yet: nothing to undo
            return node.parent, -node.score, -node.inserted
        if kind == _OOV:  # emg2qwerty: the key ends the word
            if self.lm is None:
                return LMNode(node, None, 0.0, 1), 0.0, 1
            start = self.root.state
            score = self.lm.unk() if node.state == start else self._query(node.state, EOS)[1]
            return LMNode(node, start, score, 1), score, 1
        assert isinstance(kind, str)
        inserted = self._inserts(kind)
        if self.lm is None:
            return LMNode(node, None, 0.0, inserted), 0.0, inserted
        state, score = self._query(node.state, kind)
        if kind == EOS:
            state = self.root.state  # a sentence end opens a fresh <s>
        return LMNode(node, state, score, inserted), score, inserted

    def gain(self, node: LMNode, label: int) -> tuple[float, int]:
        """What ``step`` would add (LM score, insertions), without building the new node: the
        search checks it against the beam's cutoff first."""
        kind = self.kinds[label]
        if kind == _IGNORED:
            return 0.0, 0
        if kind == _BACKSPACE:
            return (0.0, 0) if node.parent is None else (-node.score, -node.inserted)
        if kind == _OOV:
            if self.lm is None:
                return 0.0, 1
            if node.state == self.root.state:
                return self.lm.unk(), 1
            return self._query(node.state, EOS)[1], 1
        inserted = self._inserts(str(kind))
        return (0.0 if self.lm is None else self._query(node.state, kind)[1]), inserted

    def tables(self, lm_weight: float, bonus: float) -> dict[Any, dict[int, float]]:
        """LM state -> {label: weighted gain of that step}, filled by the search and kept across
        searches with the same weights (the gain of any step but a backspace depends on the LM
        state alone, and many prefixes share one)."""
        return self._tables.setdefault((lm_weight, bonus), {})

    def score_gains(self, lm_weight: float, bonus: float) -> list[float]:
        """Per class, the most one step can add to a score: the bonus (LM log-probs are <= 0),
        unbounded for a backspace that undoes an LM score."""
        gains = []
        for kind in self.kinds:
            if kind == _BACKSPACE:
                gains.append(float("inf") if self.lm and lm_weight else max(0.0, -bonus))
            elif kind == _IGNORED:
                gains.append(0.0)
            elif kind == _OOV:
                gains.append(max(0.0, bonus))
            else:
                gains.append(max(0.0, bonus * self._inserts(str(kind))))
        return gains

    def finish(self, node: LMNode) -> float:
        """LM score of ending the text here (``</s>``), except after a fresh ``<s>``: a word
        already ended (emg2qwerty) or a sentence closed by ⏎ (keyscribe; an empty text still
        scores ``<s> </s>`` there)."""
        if self.lm is None:
            return 0.0
        fresh = node.state == self.root.state
        if fresh and (self.style == "emg2qwerty" or node.parent is not None):
            return 0.0
        return self._query(node.state, EOS)[1]

    def replay(self, labels: tuple[int, ...] | list[int]) -> tuple[LMNode, float, int]:
        """LM node, LM score (with the final ``</s>``) and insertions of a whole label sequence."""
        node, lm_score, inserted = self.root, 0.0, 0
        for label in labels:
            node, score, n = self.step(node, label)
            lm_score += score
            inserted += n
        return node, lm_score + self.finish(node), inserted
