"""A reference formulation of the emg2qwerty ``CTCBeamDecoder``, written here to time it and
compare its output beside keyscribe's search on the same emissions and LM (``bench decode``).

What it keeps from the reference decoder, because that is what its speed and output come from:
prefixes keyed by a SHA-256 digest of their labels; a label trie and an LM trie of parent-linked
nodes (⌫ steps back up the LM trie); KenLM queried through ``kenlm.Model.BaseScore`` per
extension; the LM score and bonus folded into the prefix probabilities; every one of the top-k
labels tried per frame (no thresholds), and all candidates sorted after each frame. Keys follow
the reference's charset: a printable key is its character; space, ⏎ and ⇧ are key names
(``Key.space`` ...) that no character LM holds, so they end a word (``lm_style="emg2qwerty"``).
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any

import numpy as np

from keyscribe.emg.keys import BACKSPACE, EMG_ALPHABET

_EOW, _OOV = "</s>", "<unk>"
_KEY_NAMES = {" ": "Key.space", "⏎": "Key.enter", "⇧": "Key.shift", BACKSPACE: "Key.backspace"}


def _logsumexp(*xs: float) -> float:
    top = max(xs)
    if top == -math.inf:
        return -math.inf
    return top + math.log(sum(math.exp(x - top) for x in xs))


class _Trie:
    __slots__ = ("value", "parent")

    def __init__(self, value: Any, parent: _Trie | None = None) -> None:
        self.value, self.parent = value, parent

    def values(self) -> list[Any]:
        out, node = [], self
        while node is not None:
            out.append(node.value)
            node = node.parent
        return out[::-1]


class _State:
    __slots__ = ("label_node", "lm_node", "p_b", "p_nb", "digest")

    def __init__(self, label_node: _Trie, lm_node: _Trie | None, digest: Any) -> None:
        self.label_node, self.lm_node, self.digest = label_node, lm_node, digest
        self.p_b = self.p_nb = -math.inf

    @property
    def p_total(self) -> float:
        return _logsumexp(self.p_b, self.p_nb)

    @property
    def label(self) -> int:
        return self.label_node.value

    def decoding(self) -> list[int]:
        return self.label_node.values()[1:]


class ReferenceBeamDecoder:
    """``decode(log_probs (time, 99)) -> best labels`` as the emg2qwerty decoder computes them."""

    def __init__(
        self,
        lm_path: str | Path,
        beam_size: int = 50,
        top_k: int = 10,
        lm_weight: float = 2.0,
        insertion_bonus: float = 2.0,
    ) -> None:
        import kenlm

        self.kenlm = kenlm
        self.lm = kenlm.Model(str(lm_path))
        self.beam_size, self.top_k = beam_size, top_k
        self.lm_weight, self.bonus = lm_weight, insertion_bonus
        self.bow = kenlm.State()
        self.lm.BeginSentenceWrite(self.bow)
        self.oov_score = self.lm.score(_OOV, bos=False, eos=False)
        self.blank = EMG_ALPHABET.blank
        self.delete = EMG_ALPHABET.index(BACKSPACE)
        self.keys = [
            None
            if c == self.blank
            else _KEY_NAMES.get(EMG_ALPHABET.symbol(c), EMG_ALPHABET.symbol(c))
            for c in range(EMG_ALPHABET.num_classes)
        ]

    def _apply_lm(self, state: Any, label: int) -> tuple[Any, float]:
        key = self.keys[label]
        out = self.kenlm.State()
        if key in self.lm:
            return out, self.lm.BaseScore(state, key, out)
        if state != self.bow:  # a key outside the LM ends the open word
            return self.bow, self.lm.BaseScore(state, _EOW, out)
        return self.bow, self.oov_score

    def _next(self, prev: _State, label: int | None, cache: dict[bytes, _State]) -> _State:
        digest = prev.digest
        if label is not None:
            digest = digest.copy()
            digest.update(bytes([label]))
        key = digest.digest()
        found = cache.get(key)
        if found is not None:
            return found
        assert prev.lm_node is not None
        if label is None:
            label_node, lm_node = prev.label_node, prev.lm_node
        elif label != self.delete:
            label_node = _Trie(label, prev.label_node)
            lm_node = _Trie(self._apply_lm(prev.lm_node.value[0], label), prev.lm_node)
        else:
            label_node = _Trie(label, prev.label_node)
            lm_node = prev.lm_node if prev.lm_node.parent is None else prev.lm_node.parent
        state = cache[key] = _State(label_node, lm_node, digest)
        return state

    def _lm_score(self, prev: _State, nxt: _State) -> float:
        assert prev.lm_node is not None and nxt.lm_node is not None
        if nxt.label != self.delete:
            return self.lm_weight * nxt.lm_node.value[1] + self.bonus
        if prev.lm_node.parent is not None:
            return -self.lm_weight * prev.lm_node.value[1] - self.bonus
        return 0.0

    def decode(self, log_probs: np.ndarray) -> list[int]:
        root = _State(_Trie(self.blank), _Trie((self.bow, 0.0)), hashlib.sha256(b""))
        root.p_b = 0.0
        beam = [root]
        indices = np.argsort(-log_probs, axis=1)[:, : self.top_k]
        for t in range(len(log_probs)):
            nxt: dict[bytes, _State] = {}
            for prev in beam:
                stay = self._next(prev, None, nxt)
                for label in indices[t]:
                    p = log_probs[t, label]
                    if label == self.blank:
                        stay.p_b = _logsumexp(stay.p_b, prev.p_b + p, prev.p_nb + p)
                        continue
                    ext = self._next(prev, int(label), nxt)
                    p_lm = self._lm_score(prev, ext)
                    if label == prev.label:
                        stay.p_nb = _logsumexp(stay.p_nb, prev.p_nb + p)
                        ext.p_nb = _logsumexp(ext.p_nb, prev.p_b + p + p_lm)
                    else:
                        ext.p_nb = _logsumexp(ext.p_nb, prev.p_b + p + p_lm, prev.p_nb + p + p_lm)
            beam = sorted(nxt.values(), key=lambda s: s.p_total, reverse=True)[: self.beam_size]
        for state in beam:  # an open word ends with </s>
            assert state.lm_node is not None
            if state.lm_node.value[0] != self.bow:
                end = self.lm_weight * self.lm.BaseScore(
                    state.lm_node.value[0], _EOW, self.kenlm.State()
                )
                state.p_b += end
                state.p_nb += end
        beam.sort(key=lambda s: s.p_total, reverse=True)
        return beam[0].decoding()
