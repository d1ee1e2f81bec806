"""Alphabet: text symbols <-> class indices, with its own CTC blank.

Every checkpoint stores its alphabet so a model's outputs keep their meaning. The sEMG domain keeps
the emg2qwerty reference order (99 classes, blank = 98) so that reference checkpoints load;
HTR alphabets are built from training text with blank = 0, as in PyLaia.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Alphabet:
    """An ordered list of symbols plus the index of the CTC blank.

    ``symbols`` excludes the blank; class ``i`` (``i != blank``) is ``symbols[i]`` when the blank
    comes last, and ``symbols[i - 1]`` when it comes first. ``display`` optionally maps a
    symbol to the glyph shown to users (e.g. ``"Key.backspace" -> "⌫"``).
    """

    symbols: tuple[str, ...]
    blank: int
    name: str = "custom"
    _index: dict[str, int] = field(init=False, repr=False, compare=False)
    _by_class: tuple[str | None, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.blank not in (0, len(self.symbols)):
            raise ValueError(f"blank must be first or last, got {self.blank}")
        if len(set(self.symbols)) != len(self.symbols):
            raise ValueError("alphabet symbols must be unique")
        offset = 1 if self.blank == 0 else 0
        object.__setattr__(self, "_index", {s: i + offset for i, s in enumerate(self.symbols)})
        by_class: list[str | None] = list(self.symbols)
        by_class.insert(self.blank, None)
        object.__setattr__(self, "_by_class", tuple(by_class))  # class id -> symbol, None: blank

    @property
    def num_classes(self) -> int:
        """Output classes including the blank."""
        return len(self.symbols) + 1

    def __len__(self) -> int:
        return self.num_classes

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._index

    def index(self, symbol: str) -> int:
        return self._index[symbol]

    def symbol(self, label: int) -> str:
        if label == self.blank:
            raise ValueError("the blank has no symbol")
        return self.symbols[label - 1 if self.blank == 0 else label]

    def encode(self, symbols: Iterable[str]) -> list[int]:
        """Symbols -> class ids; raises KeyError naming the first unknown symbol."""
        out = []
        for s in symbols:
            if s not in self._index:
                raise KeyError(s)
            out.append(self._index[s])
        return out

    def decode(self, labels: Sequence[int]) -> str:
        """Class ids (no blanks) -> text."""
        # a table look-up per id: a whole session's labels decode in ~1 ms, not ~10
        symbols = [self._by_class[i] for i in map(int, labels)]
        if None in symbols:
            raise ValueError("the blank has no symbol")
        return "".join(symbols)  # type: ignore[arg-type]  # no None left

    def to_dict(self) -> dict[str, Any]:
        return {"symbols": list(self.symbols), "blank": self.blank, "name": self.name}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Alphabet:
        return cls(tuple(d["symbols"]), int(d["blank"]), str(d.get("name", "custom")))

    @classmethod
    def from_texts(cls, texts: Iterable[str], name: str = "htr") -> Alphabet:
        """Alphabet of every character seen in ``texts``, sorted, blank first (PyLaia style)."""
        chars: set[str] = set()
        for t in texts:
            chars.update(t)
        return cls(tuple(sorted(chars)), blank=0, name=name)
