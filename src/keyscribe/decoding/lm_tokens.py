"""The tokens of keyscribe's character LMs and their ARPA spelling.

Tokens are single characters. In ARPA files they are written as themselves, except the space,
written ``<sp>`` (a visible word-boundary token: ARPA separates tokens by spaces), and the usual
``<s>``, ``</s>`` and ``<unk>``. Inside keyscribe each token is one character (control characters
stand for the specials), so an n-gram is a plain string of length n.
"""

from __future__ import annotations

import re

UNK, BOS, EOS = "\x01", "\x02", "\x03"
SPACE = " "
_NAMES = {UNK: "<unk>", BOS: "<s>", EOS: "</s>", SPACE: "<sp>"}
_FROM_NAMES = {v: k for k, v in _NAMES.items()}
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
_WHITESPACE = re.compile(r"\s+")


def token_name(token: str) -> str:
    """Internal one-character token -> its ARPA spelling."""
    return _NAMES.get(token, token)


def token_from_name(name: str) -> str | None:
    """ARPA spelling -> internal token; None for a multi-character word (not a character LM)."""
    if name in _FROM_NAMES:
        return _FROM_NAMES[name]
    return name if len(name) == 1 else None


def corpus_line(line: str) -> str:
    """One corpus line as the LM sees it: control characters dropped, whitespace runs -> one space."""
    return _WHITESPACE.sub(" ", _CONTROL.sub("", line)).strip()
