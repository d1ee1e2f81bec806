"""Every user mistake of the foundation issue: one line naming the file, exit status 2."""

import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from helpers.sessions import key, write_session
from keyscribe.cli import main


def run_cli(args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["keyscribe", *map(str, args)])
    with pytest.raises(SystemExit) as exc:
        main()
    out, err = capsys.readouterr()
    return int(exc.value.code or 0), out, err


def _mutated(tmp_path: Path, name: str, mutate) -> Path:
    path = write_session(tmp_path / f"{name}.hdf5", 400, [key("a", 10)])
    with h5py.File(path, "a") as f:
        mutate(f)
    return path


def _nan(tmp_path: Path) -> Path:
    emg = np.zeros((400, 2, 16), np.float32)
    emg[7, 0, 0] = np.inf
    return write_session(tmp_path / "inf.hdf5", 400, emg=emg)


def _wrong_shape(tmp_path: Path) -> Path:
    path = tmp_path / "shape.hdf5"
    dtype = np.dtype([("emg_left", np.float32, (16,)), ("emg_right", np.int16, (16,)), ("time", np.float64)])
    with h5py.File(path, "w") as f:
        f.create_group("emg2qwerty").create_dataset("timeseries", data=np.zeros(10, dtype))
    return path


def _not_hdf5(tmp_path: Path) -> Path:
    path = tmp_path / "notes.hdf5"
    path.write_bytes(b"\x00\x01 definitely not hdf5")
    return path


CASES = {
    "missing file": (lambda p: p / "missing.hdf5", "file not found"),
    "not hdf5": (_not_hdf5, "not a readable HDF5"),
    "missing group": (lambda p: _mutated(p, "g", lambda f: f.move("emg2qwerty", "x")), "no group"),
    "missing dataset": (lambda p: _mutated(p, "d", lambda f: f["emg2qwerty"].move("timeseries", "x")), "no dataset"),
    "missing attribute": (
        lambda p: _mutated(p, "a", lambda f: f["emg2qwerty"].attrs.__delitem__("keystrokes")),
        "no attribute 'keystrokes'",
    ),
    "wrong dtype": (_wrong_shape, "emg_right"),
    "non-finite samples": (_nan, "non-finite EMG sample at index 7"),
    "empty session": (lambda p: write_session(p / "empty.hdf5", 0), "empty session"),
    "malformed keystrokes": (
        lambda p: _mutated(p, "k", lambda f: f["emg2qwerty"].attrs.__setitem__("keystrokes", "[{]")),
        "not valid JSON",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_data_inspect_bad_input(case: str, tmp_path: Path, monkeypatch, capsys) -> None:
    make, problem = CASES[case]
    path = make(tmp_path)
    code, out, err = run_cli(["data", "inspect", path, "--json"], monkeypatch, capsys)
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    assert str(path) in lines[0] and problem in lines[0]


def test_unknown_config_key(tmp_path: Path, monkeypatch, capsys) -> None:
    config = tmp_path / "exp.yaml"
    config.write_text(f"base: {Path('configs/emg/quickstart.yaml').resolve()}\ntrainer:\n  max_epoch: 3\n")
    code, _, err = run_cli(["train", config], monkeypatch, capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert str(config) in err and "trainer.max_epoch" in err


def test_wrong_config_type(tmp_path: Path, monkeypatch, capsys) -> None:
    config = tmp_path / "exp.yaml"
    config.write_text(f"base: {Path('configs/emg/quickstart.yaml').resolve()}\n")
    code, _, err = run_cli(["model", "info", config, "--set", "data.batch_size=many"], monkeypatch, capsys)
    assert code == 2 and "data.batch_size" in err and "Traceback" not in err


def test_training_on_sub_window_session_is_clear(tmp_path: Path, monkeypatch, capsys) -> None:
    for name in ("a", "b"):
        write_session(tmp_path / f"{name}.hdf5", 3000, [key("a", 10)])
    (tmp_path / "metadata.csv").write_text("session,user,split\na,u,train\nb,u,val\n")
    code, _, err = run_cli(
        ["train", "configs/emg/quickstart.yaml", "--data", tmp_path, "--out", tmp_path / "run",
         "--set", "data.window_length=8000"],
        monkeypatch,
        capsys,
    )
    assert code == 2 and "shorter than one window" in err and "a.hdf5" in err
