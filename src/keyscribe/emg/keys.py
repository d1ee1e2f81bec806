"""The emg2qwerty keystroke alphabet and the reference label rules.

Class order is the benchmark's: a-z (0-25), A-Z (26-51), digits (52-61), ``string.punctuation``
(62-93), then ⌫ (94), ⏎ (95), space (96), ⇧ (97); the CTC blank is 98. Keeping this order means a
reference checkpoint's class ``i`` means the same here.

Keystrokes are normalised the way the reference does it: a pynput key name in the alphabet maps to
its glyph, a single character is first normalised (curly quotes, em dash, control characters,
then unidecode when that yields exactly one supported character), and anything else is dropped.
"""

from __future__ import annotations

import math
import string
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from unidecode import unidecode

from keyscribe.alphabet import Alphabet
from keyscribe.decoding.charlm import LMView

BACKSPACE, ENTER, SPACE, SHIFT = "⌫", "⏎", " ", "⇧"

# pynput key names that are labels, with their glyphs (reference order after the printables).
_MODIFIER_SYMBOLS: dict[str, str] = {
    "Key.backspace": BACKSPACE,
    "Key.enter": ENTER,
    "Key.space": SPACE,
    "Key.shift": SHIFT,
}
_PRINTABLE = string.ascii_letters + string.digits + string.punctuation

EMG_ALPHABET = Alphabet(
    tuple(_PRINTABLE) + tuple(_MODIFIER_SYMBOLS.values()), blank=98, name="emg2qwerty"
)

# Glyphs (and a few raw characters) standing for pynput keys; only some of those keys are labels.
_GLYPH_TO_KEY: dict[str, str] = {
    " ": "Key.space",
    "\r": "Key.enter",
    "⇥": "Key.tab",
    "⇧": "Key.shift",
    "⌃": "Key.ctrl",
    "⌘": "Key.cmd",
    "⌫": "Key.backspace",
    "⏎": "Key.enter",
    "↑": "Key.shift_l",
    "⇡": "Key.shift_r",
}
_SUBSTITUTIONS: dict[str, str] = {
    "\n": ENTER,
    "\r": ENTER,
    "\b": BACKSPACE,
    "’": "'",
    "“": '"',
    "”": '"',
    "—": "-",
}
_LABEL_KEYS = set(_PRINTABLE) | set(_MODIFIER_SYMBOLS)


def _is_known(char: str) -> bool:
    return char in _LABEL_KEYS or char in _GLYPH_TO_KEY


def normalize_text(text: str) -> str:
    """Substitute characters the keyboard cannot type with the ones it can; keep the rest.

    Unknown characters survive (they are dropped later), so this never changes a string's meaning
    beyond the reference's substitutions.
    """
    for src, dst in _SUBSTITUTIONS.items():
        text = text.replace(src, dst)
    for char in set(text):
        if _is_known(char):
            continue
        ascii_form = unidecode(char)
        if ascii_form != char and len(ascii_form) == 1 and _is_known(ascii_form):
            text = text.replace(char, ascii_form)
    return text


def key_symbol(key: str) -> str | None:
    """The alphabet symbol of one logged key (a character or a pynput name), or None if dropped."""
    if key in _LABEL_KEYS:
        return _MODIFIER_SYMBOLS.get(key, key)
    if len(key) != 1:
        return None  # unsupported pynput keys such as Key.tab, Key.shift_r, Key.ctrl
    char = normalize_text(key)
    key = _GLYPH_TO_KEY.get(char, char)
    if key in _LABEL_KEYS:
        return _MODIFIER_SYMBOLS.get(key, key)
    return None


def text_to_labels(text: str) -> list[int]:
    """Class ids of a string of characters and glyphs (unsupported characters are dropped)."""
    symbols = (key_symbol(c) for c in normalize_text(text))
    return [EMG_ALPHABET.index(s) for s in symbols if s is not None]


def labels_to_text(labels: Iterable[int]) -> str:
    """Class ids -> the typed key sequence, as glyphs (⌫ ⏎ ⇧ and plain space)."""
    return EMG_ALPHABET.decode(list(labels))


def keystroke_labels(
    keystrokes: Sequence[Mapping[str, Any]],
    start_t: float = -math.inf,
    end_t: float = math.inf,
) -> list[int]:
    """Labels of the keys pressed in [start_t, end_t] (both inclusive), by press time.

    Keystrokes are scanned in stored order and the scan stops at the first press after ``end_t``,
    exactly as the reference does (real files are sorted by press time).
    """
    labels: list[int] = []
    for keystroke in keystrokes:
        start = keystroke["start"]
        if start > end_t:
            break
        if start >= start_t:
            symbol = key_symbol(keystroke["key"])
            if symbol is not None:
                labels.append(EMG_ALPHABET.index(symbol))
    return labels


def typed_result(keys: str) -> str:
    """The text a key sequence leaves on screen: ⌫ deletes, ⏎ is a newline, ⇧ is dropped."""
    out: list[str] = []
    for char in keys:
        if char == BACKSPACE:
            if out:
                out.pop()
        elif char == ENTER:
            out.append("\n")
        elif char != SHIFT:
            out.append(char)
    return "".join(out)


def lm_view(alphabet: Alphabet = EMG_ALPHABET) -> LMView:
    """How the keystroke classes look to a character LM (as the emg2qwerty decoder treats them):
    ⌫ deletes the last character the LM saw, ⇧ is not seen (the LM reads the shifted character
    itself), ⏎ ends a sentence, space is the word-boundary token."""
    tokens = list(LMView.plain(alphabet).tokens)
    tokens[alphabet.index(SHIFT)] = None
    tokens[alphabet.index(BACKSPACE)] = None
    tokens[alphabet.index(ENTER)] = "</s>"
    return LMView(tuple(tokens), backspace=frozenset({alphabet.index(BACKSPACE)}))
