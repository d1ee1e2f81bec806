"""Character n-gram LMs: an ARPA reader and backoff scorer, and an alphabet's view of the LM
(tokens: lm_tokens.py; the default English LM: default_lm.py).

Scores are log10 probabilities, as KenLM returns them, so an ``lm_weight`` means the same here as
in flashlight and the emg2qwerty decoder.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from keyscribe.decoding.lm_tokens import (  # noqa: F401  (the search imports them from here)
    BOS,
    EOS,
    SPACE,
    UNK,
    token_from_name,
    token_name,
)


class CharLM:
    """A backoff character n-gram model read from ARPA, scoring one token at a time.

    ``score(context, token)``: log10 P(token | context), where context is a string of internal
    tokens that starts with ``BOS`` at a sentence start. Tokens the LM has never seen score as
    ``<unk>``. Results are memoised (the beam search asks the same questions many times)."""

    def __init__(
        self, probs: dict[str, float], backoffs: dict[str, float], order: int, source: str = ""
    ) -> None:
        self.probs, self.backoffs, self.order, self.source = probs, backoffs, order, source
        self.vocabulary = frozenset(g for g in probs if len(g) == 1)
        self._cache: dict[str, float] = {}

    @classmethod
    def load(cls, path: str | Path) -> CharLM:
        """Read an ARPA file; raises ValueError naming the problem for anything else."""
        probs: dict[str, float] = {}
        backoffs: dict[str, float] = {}
        order = 0
        section = 0
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                line = line.strip()
                if not line or line.startswith("ngram "):
                    continue
                if line.startswith("\\"):
                    match = re.fullmatch(r"\\(\d+)-grams:", line)
                    section = int(match.group(1)) if match else 0
                    order = max(order, section)
                    continue
                if section == 0:
                    continue
                fields = line.split()
                if len(fields) not in (section + 1, section + 2):
                    raise ValueError(
                        f"line {number}: expected {section} tokens with log10 p [backoff]"
                    )
                tokens = [token_from_name(w) for w in fields[1 : section + 1]]
                if any(t is None for t in tokens):
                    raise ValueError(f"line {number}: not a character LM (multi-character token)")
                gram = "".join(tokens)  # type: ignore[arg-type]
                probs[gram] = float(fields[0])
                if len(fields) == section + 2:
                    backoffs[gram] = float(fields[-1])
        if order == 0 or UNK not in probs:
            raise ValueError("no n-gram sections, or no <unk> unigram: not an ARPA character LM")
        return cls(probs, backoffs, order, str(path))

    def score(self, context: str, token: str) -> float:
        if self.order > 1:
            context = context[-(self.order - 1) :]
            start = context.rfind(BOS)
            if start > 0:
                context = context[start:]
        else:
            context = ""
        key = context + token
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        if token not in self.vocabulary:
            token = UNK
        total = 0.0
        for i in range(len(context) + 1):
            p = self.probs.get(context[i:] + token)
            if p is not None:
                total += p
                break
            total += self.backoffs.get(context[i:], 0.0)
        if len(self._cache) > 2_000_000:
            self._cache.clear()
        self._cache[key] = total
        return total

    def contexts(self) -> Iterator[str]:
        """Every context the model holds a backoff weight for (for normalisation checks)."""
        yield ""
        yield from self.backoffs


@dataclass(frozen=True)
class LMView:
    """How a recognizer's classes look to a character LM; each domain supplies one.

    tokens: per class id, the ARPA token it types (``"a"``, ``"<sp>"``; ``"</s>"`` ends a sentence,
    like ⏎), or None when the LM does not see it (the blank, ⇧ shift). backspace: class ids that
    delete the last character the LM saw (⌫)."""

    tokens: tuple[str | None, ...]
    backspace: frozenset[int] = frozenset()

    @classmethod
    def plain(cls, alphabet: Any) -> LMView:
        """Each symbol types itself (a space types ``<sp>``); the blank is not seen. Multi-character
        symbols type ``<unk>``."""
        tokens: list[str | None] = []
        for label in range(alphabet.num_classes):
            if label == alphabet.blank:
                tokens.append(None)
                continue
            symbol = alphabet.symbol(label)
            if symbol.isspace():
                tokens.append(token_name(SPACE))
            else:
                tokens.append(symbol if len(symbol) == 1 else token_name(UNK))
        return cls(tuple(tokens))

    @property
    def is_plain(self) -> bool:
        """True when the LM sees each non-blank class as its own token, with no edits or sentence
        ends: what a native n-gram decoder (flashlight + KenLM) can score directly."""
        seen = [t for t in self.tokens if t is not None]
        return (
            not self.backspace
            and self.tokens.count(None) == 1
            and len(set(seen)) == len(seen)
            and token_name(EOS) not in seen
        )
