import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from helpers.sessions import T0, key, write_session
from keyscribe.emg.session import EmgSession
from keyscribe.errors import DataError


@pytest.mark.parametrize("order", [("emg_left", "emg_right", "time"), ("time", "emg_right", "emg_left")])
@pytest.mark.parametrize("compression", [None, "gzip"])
def test_reads_any_field_order_and_compression(tmp_path: Path, order, compression) -> None:
    emg = np.arange(1000 * 32, dtype=np.float32).reshape(1000, 2, 16)
    path = write_session(tmp_path / "s.hdf5", 1000, [key("a", 10)], field_order=order, compression=compression, emg=emg)
    with EmgSession(path) as s:
        assert len(s) == 1000 and s.sample_rate_hz == 2000.0
        x, t = s.read(100, 200)
        np.testing.assert_array_equal(x, emg[100:200])  # left band first
        assert t[0] == pytest.approx(T0 + 100 / 2000)
        assert s.slice_time(T0 + 0.05, T0 + 0.1) == (100, 200)
        assert s.labels() == [0]
        assert s.session_name == "s" and s.user == "u0"


def _corrupt(tmp_path: Path, name: str, mutate) -> Path:
    path = write_session(tmp_path / f"{name}.hdf5", 500, [key("a", 10)])
    with h5py.File(path, "a") as f:
        mutate(f)
    return path


BAD_FILES = {
    "no_group": (lambda f: f.move("emg2qwerty", "other"), "no group 'emg2qwerty'"),
    "no_dataset": (lambda f: f["emg2qwerty"].move("timeseries", "ts"), "no dataset 'timeseries'"),
    "no_keystrokes": (lambda f: f["emg2qwerty"].attrs.__delitem__("keystrokes"), "no attribute 'keystrokes'"),
    "bad_json": (lambda f: f["emg2qwerty"].attrs.__setitem__("keystrokes", "[{oops"), "not valid JSON"),
    "json_not_list": (lambda f: f["emg2qwerty"].attrs.__setitem__("keystrokes", '{"a": 1}'), "must be a JSON list"),
    "keystroke_no_start": (
        lambda f: f["emg2qwerty"].attrs.__setitem__("keystrokes", json.dumps([{"key": "a"}])),
        "must be an object",
    ),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_structure_names_file_and_problem(tmp_path: Path, name: str) -> None:
    mutate, message = BAD_FILES[name]
    path = _corrupt(tmp_path, name, mutate)
    with pytest.raises(DataError, match=message) as info:
        EmgSession(path)
    assert str(path) in str(info.value)


def test_wrong_dtype_and_shape(tmp_path: Path) -> None:
    path = tmp_path / "bad.hdf5"
    dtype = np.dtype([("emg_left", np.float32, (8,)), ("emg_right", np.float32, (16,)), ("time", np.float64)])
    with h5py.File(path, "w") as f:
        f.create_group("emg2qwerty").create_dataset("timeseries", data=np.zeros(10, dtype))
        f["emg2qwerty"].attrs["keystrokes"] = "[]"
    with pytest.raises(DataError, match="emg_left"):
        EmgSession(path)
    with h5py.File(path, "w") as f:
        f.create_group("emg2qwerty").create_dataset("timeseries", data=np.zeros((10, 3)))
    with pytest.raises(DataError, match="not a compound"):
        EmgSession(path)


def test_missing_empty_and_non_hdf5(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="file not found"):
        EmgSession(tmp_path / "nope.hdf5")
    (tmp_path / "text.hdf5").write_text("hello")
    with pytest.raises(DataError, match="not a readable HDF5"):
        EmgSession(tmp_path / "text.hdf5")
    with pytest.raises(DataError, match="empty session"):
        EmgSession(write_session(tmp_path / "empty.hdf5", 0))


def test_non_finite_and_non_monotonic_found(tmp_path: Path) -> None:
    emg = np.zeros((300, 2, 16), np.float32)
    emg[123, 1, 4] = np.nan
    with EmgSession(write_session(tmp_path / "nan.hdf5", 300, emg=emg)) as s, pytest.raises(DataError, match="index 123"):
        s.check_finite()
    time = T0 + np.arange(300) / 2000
    time[50] = time[49]
    with EmgSession(write_session(tmp_path / "dup.hdf5", 300, time=time)) as s:
        assert s.check_finite() == [f"{s.path}: timestamps not increasing (duplicated) at index 50"]
