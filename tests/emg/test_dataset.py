from pathlib import Path

import pytest
import torch

from helpers.sessions import key, write_session
from keyscribe.emg.dataset import (
    WindowedSessionDataset,
    window_count,
    window_labels,
)
from keyscribe.emg.keys import labels_to_text
from keyscribe.emg.layout import index_sessions
from keyscribe.emg.session import EmgSession
from keyscribe.errors import DataError

L = 8000


def test_window_count_matches_reference_formula() -> None:
    assert window_count(8000, L, L) == 1
    assert window_count(15999, L, L) == 1
    assert window_count(16000, L, L) == 2
    assert window_count(5000, L, L) == 1  # max(N - L, 0) // stride + 1
    assert window_count(20000, L, 4000) == 4


def test_window_labels_are_inclusive_by_timestamp(tmp_path: Path) -> None:
    keystrokes = [
        key("p", -50),  # before the first sample: only in the whole-session label
        key("a", 0),  # exactly the first sample of window 0
        key("b", L - 1),  # exactly the last sample of window 0
        key("c", L - 0.5),  # between windows: after time[L-1], before time[L]
        key("d", L),  # first sample of window 1
        key("Key.shift", 2 * L - 1),  # last sample of window 1
        key("Key.shift_r", 2 * L - 1),  # never a label
        key("e", 2 * L + 10),  # past the last full window: no window has it
    ]
    path = write_session(tmp_path / "s.hdf5", 2 * L + 500, keystrokes)
    with EmgSession(path) as s:
        assert labels_to_text(s.labels()) == "pabcd⇧e"
        windows = window_labels(s, L)
    assert [labels_to_text(w) for w in windows] == ["ab", "d⇧"]


def test_padding_widens_emg_not_labels(tmp_path: Path) -> None:
    path = write_session(tmp_path / "s.hdf5", 3 * L, [key("a", 100), key("b", L + 100), key("c", L - 150)])
    ident = lambda x: x  # noqa: E731
    plain = WindowedSessionDataset(path, ident, L, padding=(0, 0))
    padded = WindowedSessionDataset(path, ident, L, padding=(1800, 200))
    assert len(plain) == len(padded) == 3
    assert padded[0].inputs.shape[0] == L + 200  # left padding cut at the session start
    assert padded[1].inputs.shape[0] == L + 2000
    assert padded[2].inputs.shape[0] == L + 1800  # right padding cut at the session end
    for i in range(3):
        assert torch.equal(plain[i].targets, padded[i].targets)
    assert labels_to_text(padded[1].targets.tolist()) == "b"


def test_short_session_is_a_clear_error(tmp_path: Path) -> None:
    path = write_session(tmp_path / "short.hdf5", 1000, [key("a", 10)])
    with pytest.raises(DataError, match="shorter than one window"):
        WindowedSessionDataset(path, lambda x: x, L)


def test_index_from_metadata_and_folders(tmp_path: Path) -> None:
    for name in ("s1", "s2"):
        write_session(tmp_path / f"{name}.hdf5", 100)
    (tmp_path / "metadata.csv").write_text("session,user,split\ns1,u1,train\ns2,u2,test\n")
    entries = index_sessions(tmp_path)
    assert [(e.path.name, e.user, e.split) for e in entries] == [("s1.hdf5", "u1", "train"), ("s2.hdf5", "u2", "test")]
    (tmp_path / "bad.csv").write_text("session,user,split\ns1,u1,holdout\n")
    with pytest.raises(DataError, match="unknown split"):
        index_sessions(tmp_path, tmp_path / "bad.csv")
    split_root = tmp_path / "splits"
    (split_root / "val").mkdir(parents=True)
    write_session(split_root / "val" / "v.hdf5", 100)
    assert [e.split for e in index_sessions(split_root)] == ["val"]
