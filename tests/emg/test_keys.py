import string

import pytest

from keyscribe.emg.keys import (
    EMG_ALPHABET,
    key_symbol,
    keystroke_labels,
    labels_to_text,
    text_to_labels,
    typed_result,
)


def test_reference_class_order() -> None:
    idx = EMG_ALPHABET.index
    assert EMG_ALPHABET.num_classes == 99 and EMG_ALPHABET.blank == 98
    assert [idx(c) for c in "azAZ09"] == [0, 25, 26, 51, 52, 61]
    assert [idx(c) for c in string.punctuation] == list(range(62, 94))
    assert [idx(c) for c in "⌫⏎ ⇧"] == [94, 95, 96, 97]
    assert "\u23ce" == "⏎"


@pytest.mark.parametrize(
    ("key", "symbol"),
    [
        ("a", "a"),
        ("Q", "Q"),
        ("Key.shift", "⇧"),
        ("Key.shift_r", None),
        ("Key.shift_l", None),
        ("Key.backspace", "⌫"),
        ("Key.enter", "⏎"),
        ("Key.space", " "),
        (" ", " "),
        ("Key.tab", None),
        ("Key.ctrl", None),
        ("Key.alt", None),
        ("Key.cmd", None),
        ("Key.caps_lock", None),
        ("Key.esc", None),
        ("Key.left", None),
        ("\t", None),
        ("\x01", None),
        ("\n", "⏎"),
        ("\r", "⏎"),
        ("\b", "⌫"),
        ("’", "'"),
        ("‘", "'"),
        ("“", '"'),
        ("”", '"'),
        ("—", "-"),
        ("–", "-"),
        ("é", "e"),
        ("Å", "A"),
        ("ß", None),  # unidecode gives "ss": not one character, dropped
        ("€", None),
        ("⇧", "⇧"),
        ("↑", None),  # the glyph of shift_l
        ("", None),
        ("ab", None),
    ],
)
def test_key_symbol(key: str, symbol: str | None) -> None:
    assert key_symbol(key) == symbol


def test_keystrokes_scan_in_stored_order_and_stop_after_window() -> None:
    ks = [
        {"key": "a", "start": 1.0},
        {"key": "b", "start": 2.0},
        {"key": "c", "start": 5.0},
        {"key": "d", "start": 3.0},  # out of order: never reached once 5.0 > end
    ]
    assert labels_to_text(keystroke_labels(ks)) == "abcd"
    assert labels_to_text(keystroke_labels(ks, 1.0, 3.0)) == "ab"
    assert labels_to_text(keystroke_labels(ks, 2.0, 5.0)) == "bcd"


def test_text_round_trip_and_typed_result() -> None:
    ids = text_to_labels("Hi “you”\n")
    assert labels_to_text(ids) == 'Hi "you"⏎'
    assert typed_result("⇧Hex⌫llo⏎") == "Hello\n"
