"""A typist: turns prompt text into timed keystrokes, as a keylogger would record them.

Touch typing on QWERTY: each physical key belongs to a hand and finger; capitals and shifted
symbols hold the shift key of the other hand (logged ``Key.shift`` for the left one,
``Key.shift_r`` for the right one, which the label rules ignore); occasional typos are noticed
and corrected with backspace; each prompt ends with enter. Intervals follow a lognormal
distribution whose median depends on the typist and on whether the hand alternates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# (unshifted row, shifted row) per keyboard row.
_ROWS = [
    ("`1234567890-=", "~!@#$%^&*()_+"),
    ("qwertyuiop[]\\", "QWERTYUIOP{}|"),
    ("asdfghjkl;'", 'ASDFGHJKL:"'),
    ("zxcvbnm,./", "ZXCVBNM<>?"),
]
# Finger per column for each row (0 = left pinky .. 3 = left index, 4 = right index .. 7 = right pinky).
_FINGERS = [
    [0, 0, 1, 2, 3, 3, 4, 4, 5, 6, 7, 7, 7],
    [0, 1, 2, 3, 3, 4, 4, 5, 6, 7, 7, 7, 7],
    [0, 1, 2, 3, 3, 4, 4, 5, 6, 7, 7],
    [0, 1, 2, 3, 3, 4, 4, 5, 6, 7],
]


@dataclass(frozen=True)
class PhysicalKey:
    """Where a key sits: hand 0 = left, 1 = right; finger 0-7; row 0-4 (4 = space bar)."""

    name: str  # the unshifted character or a pynput name such as "Key.space"
    hand: int
    finger: int
    row: int
    column: int


def _build_layout() -> tuple[dict[str, PhysicalKey], dict[str, tuple[PhysicalKey, bool]]]:
    keys: dict[str, PhysicalKey] = {}
    by_char: dict[str, tuple[PhysicalKey, bool]] = {}
    for row, ((plain, shifted), fingers) in enumerate(zip(_ROWS, _FINGERS, strict=True)):
        for col, (p, s, f) in enumerate(zip(plain, shifted, fingers, strict=True)):
            key = PhysicalKey(p, 0 if f < 4 else 1, f, row, col)
            keys[p] = key
            by_char[p] = (key, False)
            by_char[s] = (key, True)
    specials = [
        PhysicalKey("Key.space", 1, 8, 4, 5),  # right thumb
        PhysicalKey("Key.backspace", 1, 7, 0, 13),
        PhysicalKey("Key.enter", 1, 7, 2, 12),
        PhysicalKey("Key.shift", 0, 0, 3, -1),
        PhysicalKey("Key.shift_r", 1, 7, 3, 11),
    ]
    for key in specials:
        keys[key.name] = key
    by_char[" "] = (keys["Key.space"], False)
    return keys, by_char


KEYS, CHAR_KEYS = _build_layout()


@dataclass(frozen=True)
class Typist:
    """Per-user typing habits."""

    median_interval_s: float = 0.19
    interval_sigma: float = 0.35
    median_hold_s: float = 0.09
    typo_rate: float = 0.02

    @classmethod
    def random(cls, rng: np.random.Generator) -> Typist:
        return cls(
            median_interval_s=float(rng.uniform(0.15, 0.26)),
            interval_sigma=float(rng.uniform(0.25, 0.45)),
            median_hold_s=float(rng.uniform(0.07, 0.12)),
            typo_rate=float(rng.uniform(0.01, 0.04)),
        )


def _neighbour(char: str, rng: np.random.Generator) -> str:
    """A key next to ``char`` on the same row (the usual typo)."""
    for plain, _ in _ROWS:
        i = plain.find(char.lower())
        if i >= 0:
            j = int(np.clip(i + rng.choice([-1, 1]), 0, len(plain) - 1))
            return plain[j]
    return char


class KeystrokeWriter:
    """Accumulates keylogger records ``{key, start, end}`` at an advancing clock."""

    def __init__(self, typist: Typist, start_t: float, rng: np.random.Generator) -> None:
        self.typist, self.t, self.rng = typist, start_t, rng
        self.records: list[dict[str, float | str]] = []
        self._last_hand = -1

    def _gap(self, hand: int) -> float:
        median = self.typist.median_interval_s * (0.8 if hand != self._last_hand else 1.1)
        return float(median * np.exp(self.rng.normal(0, self.typist.interval_sigma)))

    def _hold(self) -> float:
        return float(self.typist.median_hold_s * np.exp(self.rng.normal(0, 0.25)))

    def press(self, key: PhysicalKey, logged: str, shifted: bool = False) -> None:
        self.t += self._gap(key.hand)
        hold = self._hold()
        if shifted:  # the other hand's shift goes down first and comes up last
            shift = KEYS["Key.shift_r"] if key.hand == 0 else KEYS["Key.shift"]
            lead = float(self.rng.uniform(0.06, 0.12))
            self.records.append({"key": shift.name, "start": self.t - lead, "end": self.t + hold + 0.03})
        self.records.append({"key": logged, "start": self.t, "end": self.t + hold})
        self._last_hand = key.hand

    def type_char(self, char: str) -> None:
        if char not in CHAR_KEYS:
            return  # not on the keyboard (the text source is filtered beforehand)
        key, shifted = CHAR_KEYS[char]
        self.press(key, key.name if key.name.startswith("Key.") else char, shifted)

    def type_text(self, text: str) -> None:
        for char in text:
            if char.isalpha() and self.rng.random() < self.typist.typo_rate:
                wrong = _neighbour(char, self.rng)
                self.type_char(wrong)
                typed = 1
                if self.rng.random() < 0.3:  # the intended key follows before the typo is seen
                    self.type_char(char)
                    typed += 1
                self.t += float(self.rng.uniform(0.2, 0.5))  # the pause of noticing
                for _ in range(typed):
                    self.press(KEYS["Key.backspace"], "Key.backspace")
            self.type_char(char)

    def enter(self) -> None:
        self.press(KEYS["Key.enter"], "Key.enter")

    def pause(self, seconds: float) -> None:
        self.t += seconds
