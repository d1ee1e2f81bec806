"""Broken sEMG session files through every command that reads them: ``data inspect``,
``transcribe``, ``evaluate`` and ``train``. Each answers with one line naming the file and the
problem, exit status 2, no traceback (docs/robustness.md lists what the user sees)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest

from helpers.checkpoints import EMG_TINY
from helpers.cli import assert_user_error, run_cli
from helpers.sessions import T0, key, write_session

N = 4000  # samples: 2 s, two 1 s training windows


def _good(path: Path, **kw) -> Path:
    return write_session(
        path, kw.pop("n", N), kw.pop("keys", [key("a", 100), key("b", 2500)]), **kw
    )


def _edit(path: Path, mutate: Callable[[h5py.File], None], **kw) -> Path:
    _good(path, **kw)
    with h5py.File(path, "a") as f:
        mutate(f)
    return path


def _attr(name: str, value) -> Callable[[h5py.File], None]:
    return lambda f: f["emg2qwerty"].attrs.__setitem__(name, value)


def _truncated(path: Path) -> Path:
    _good(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _flipped_header(path: Path) -> Path:
    _good(path)
    data = bytearray(path.read_bytes())
    for i in range(96, 2048, 7):  # object headers and B-tree nodes live near the start
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


def _flipped_chunks(path: Path) -> Path:
    """Compressed data chunks with flipped bytes: the header opens, reading the samples fails."""
    _good(path, compression="gzip", field_order=("time", "emg_left", "emg_right"))
    with h5py.File(path, "r") as f:
        chunk = f["emg2qwerty/timeseries"].id.get_chunk_info(0)
    data = bytearray(path.read_bytes())
    for i in range(chunk.byte_offset + 16, chunk.byte_offset + chunk.size, 13):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


def _raw_timeseries(path: Path, rows: np.ndarray) -> Path:
    with h5py.File(path, "w") as f:
        g = f.create_group("emg2qwerty")
        g.create_dataset("timeseries", data=rows)
        g.attrs["keystrokes"] = "[]"
    return path


def _dtype(**fields) -> np.dtype:
    base = {
        "emg_left": (np.float32, (16,)),
        "emg_right": (np.float32, (16,)),
        "time": (np.float64, ()),
    }
    base.update(fields)
    return np.dtype([(k, t, s) if s else (k, t) for k, (t, s) in base.items()])


def _emg(mutate: Callable[[np.ndarray], None]) -> np.ndarray:
    emg = np.random.default_rng(0).normal(0, 10, (N, 2, 16)).astype(np.float32)
    mutate(emg)
    return emg


def _times(mutate: Callable[[np.ndarray], None]) -> np.ndarray:
    t = T0 + np.arange(N) / 2000.0
    mutate(t)
    return t


def _set(index, value):
    def f(a: np.ndarray) -> None:
        a[index] = value

    return f


# name -> (make(path) -> path, words the one-line message must contain)
CASES: dict[str, tuple[Callable[[Path], Path], tuple[str, ...]]] = {
    "missing file": (lambda p: p, ("not found",)),
    "directory": (
        lambda p: p.mkdir() or p,
        (),
    ),  # inspect: "is a directory"; others: no sessions in it
    "not hdf5": (lambda p: p.write_bytes(b"hello") and p, ("not a readable HDF5",)),
    "zero bytes": (lambda p: p.write_bytes(b"") or p, ("not a readable HDF5",)),
    "truncated half": (_truncated, ("not a readable HDF5",)),
    "flipped header bytes": (_flipped_header, ()),
    "flipped compressed chunks": (_flipped_chunks, ("unreadable",)),
    "wrong group name": (
        lambda p: _edit(p, lambda f: f.move("emg2qwerty", "emg")),
        ("no group 'emg2qwerty'",),
    ),
    "group is a dataset": (
        lambda p: _edit(
            p, lambda f: (f.move("emg2qwerty", "x"), f.create_dataset("emg2qwerty", data=[1]))
        ),
        ("no group 'emg2qwerty'",),
    ),
    "wrong dataset name": (
        lambda p: _edit(p, lambda f: f["emg2qwerty"].move("timeseries", "ts")),
        ("no dataset 'timeseries'",),
    ),
    "plain float dataset": (
        lambda p: _raw_timeseries(p, np.zeros((N, 33), np.float32)),
        ("not a compound dataset",),
    ),
    "2-d compound": (lambda p: _raw_timeseries(p, np.zeros((N, 2), _dtype())), ("must be 1-D",)),
    "missing emg_left": (
        lambda p: _raw_timeseries(
            p, np.zeros(N, np.dtype([("emg_right", np.float32, (16,)), ("time", np.float64)]))
        ),
        ("no field 'emg_left'",),
    ),
    "integer emg": (
        lambda p: _raw_timeseries(p, np.zeros(N, _dtype(emg_left=(np.int16, (16,))))),
        ("emg_left",),
    ),
    "8 channels": (
        lambda p: _raw_timeseries(p, np.zeros(N, _dtype(emg_right=(np.float32, (8,))))),
        ("emg_right",),
    ),
    "integer time": (
        lambda p: _raw_timeseries(p, np.zeros(N, _dtype(time=(np.int64, ())))),
        ("field 'time'",),
    ),
    "missing time": (
        lambda p: _raw_timeseries(
            p,
            np.zeros(
                N, np.dtype([("emg_left", np.float32, (16,)), ("emg_right", np.float32, (16,))])
            ),
        ),
        ("no field 'time'",),
    ),
    "no keystrokes attribute": (
        lambda p: _edit(p, lambda f: f["emg2qwerty"].attrs.__delitem__("keystrokes")),
        ("no attribute 'keystrokes'",),
    ),
    "keystrokes not JSON": (
        lambda p: _edit(p, _attr("keystrokes", "[{'key': 'a'")),
        ("'keystrokes' is not valid JSON",),
    ),
    "keystrokes not a list": (
        lambda p: _edit(p, _attr("keystrokes", '{"key": "a"}')),
        ("must be a JSON list",),
    ),
    "keystroke without start": (
        lambda p: _edit(p, _attr("keystrokes", '[{"key": "a"}]')),
        ("keystrokes[0]",),
    ),
    "keystroke start a string": (
        lambda p: _edit(p, _attr("keystrokes", '[{"key": "a", "start": "noon"}]')),
        ("keystrokes[0].start",),
    ),
    "keystroke start NaN": (
        lambda p: _edit(p, _attr("keystrokes", '[{"key": "a", "start": NaN}]')),
        ("keystrokes[0].start",),
    ),
    "keystroke key a number": (
        lambda p: _edit(p, _attr("keystrokes", '[{"key": 7, "start": 1.0}]')),
        ("keystrokes[0].key",),
    ),
    "keystrokes binary garbage": (
        lambda p: _edit(p, _attr("keystrokes", np.void(b"\xff\xfe\x00"))),
        ("keystrokes",),
    ),
    "prompts not JSON": (
        lambda p: _edit(p, _attr("prompts", "[{")),
        ("'prompts' is not valid JSON",),
    ),
    "prompts not a list": (
        lambda p: _edit(p, _attr("prompts", '"hello"')),
        ("'prompts' must be a JSON list",),
    ),
    "prompt not an object": (lambda p: _edit(p, _attr("prompts", "[1, 2]")), ("prompts[0]",)),
    "duration_mins not a number": (
        lambda p: _edit(p, _attr("duration_mins", "long")),
        ("duration_mins",),
    ),
    "NaN sample": (
        lambda p: _good(p, emg=_emg(_set((1234, 1, 5), np.nan))),
        ("non-finite EMG sample at index 1234",),
    ),
    "Inf sample": (
        lambda p: _good(p, emg=_emg(_set((3999, 0, 0), np.inf))),
        ("non-finite EMG sample at index 3999",),
    ),
    "NaN timestamp": (lambda p: _good(p, time=_times(_set(50, np.nan))), ("timestamp",)),
    "zero-length session": (lambda p: _good(p, n=0, keys=[]), ("empty session",)),
}

COMMANDS = {
    "inspect": lambda p, ckpt: ["data", "inspect", p, "--json"],
    "transcribe": lambda p, ckpt: ["transcribe", ckpt, p, "--json"],
    "evaluate": lambda p, ckpt: ["evaluate", ckpt, p, "--json"],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_session(
    case: str, command: str, tmp_path: Path, emg_ckpt: Path, monkeypatch, capsys
) -> None:
    make, problems = CASES[case]
    path = make(tmp_path / "session.hdf5")
    result = run_cli(COMMANDS[command](path, emg_ckpt), monkeypatch, capsys)
    assert result[0] == 2
    assert_user_error(result, path, *problems)


def test_bad_session_in_training_folder(
    tmp_path: Path, emg_config: Path, monkeypatch, capsys
) -> None:
    """A broken file among the training sessions stops ``train`` before the first step."""
    data = tmp_path / "data"
    data.mkdir()
    _good(data / "a.hdf5")
    _good(data / "b.hdf5", emg=_emg(_set((slice(None), 0, 0), np.nan)))  # every window has one
    (data / "metadata.csv").write_text("session,user,split\na,u,train\nb,u,train\na,u,val\n")
    args = ["train", emg_config, "--data", data, "--out", tmp_path / "run"] + [
        x for s in EMG_TINY for x in ("--set", s)
    ]
    assert_user_error(
        run_cli(args, monkeypatch, capsys), data / "b.hdf5", "non-finite EMG sample at index"
    )


def test_truncated_session_in_training_folder(
    tmp_path: Path, emg_config: Path, monkeypatch, capsys
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    _good(data / "a.hdf5")
    _truncated(data / "b.hdf5")
    (data / "metadata.csv").write_text("session,user,split\na,u,train\nb,u,val\n")
    args = ["train", emg_config, "--data", data, "--out", tmp_path / "run"] + [
        x for s in EMG_TINY for x in ("--set", s)
    ]
    assert_user_error(run_cli(args, monkeypatch, capsys), data / "b.hdf5", "not a readable HDF5")


@pytest.mark.parametrize("command", ["transcribe", "evaluate"])
def test_sub_window_session_names_the_file(
    command: str, tmp_path: Path, emg_ckpt: Path, monkeypatch, capsys
) -> None:
    """Shorter than one spectrogram frame (64 samples), or than the encoder's receptive field."""
    path = _good(tmp_path / "tiny.hdf5", n=10, keys=[key("a", 1)])
    assert_user_error(
        run_cli([command, emg_ckpt, path], monkeypatch, capsys), path, "10 samples, too short"
    )
    path = _good(tmp_path / "short.hdf5", n=70, keys=[key("a", 1)])  # 1 frame; the encoder trims 3
    assert_user_error(
        run_cli([command, emg_ckpt, path], monkeypatch, capsys),
        path,
        "too short for this model (1 spectrogram frames; its encoder needs more than 3)",
    )


def test_session_without_keystrokes(tmp_path: Path, emg_ckpt: Path, monkeypatch, capsys) -> None:
    """Allowed for inspect and transcribe (the reference is empty); evaluate has nothing to score."""
    path = _good(tmp_path / "silent.hdf5", keys=[])
    code, out, err = run_cli(["data", "inspect", path, "--json"], monkeypatch, capsys)
    assert code == 0 and json.loads(out)["label_ids"] == []
    code, out, err = run_cli(["transcribe", emg_ckpt, path, "--json"], monkeypatch, capsys)
    assert code == 0 and json.loads(out)["reference_ids"] == [] and "Traceback" not in err
    code, out, err = run_cli(["evaluate", emg_ckpt, path, "--json"], monkeypatch, capsys)
    assert code == 0 and json.loads(out)["cer_reference_length"] == 0, err


@pytest.mark.parametrize(
    "times, kind, index",
    [
        (_times(_set(slice(2000, 2010), T0)), "decreasing", 2000),
        (_times(_set(301, T0 + 300 / 2000.0)), "duplicated", 301),
    ],
)
def test_unordered_timestamps_warn(
    times, kind: str, index: int, tmp_path: Path, emg_ckpt: Path, monkeypatch, capsys
) -> None:
    """Documented skip: the reference never requires ordered timestamps (windows are labelled by
    the timestamps at their ends), so inspect warns on one line and goes on; transcribe accepts."""
    path = _good(tmp_path / "unordered.hdf5", time=times)
    code, out, err = run_cli(["data", "inspect", path, "--json"], monkeypatch, capsys)
    assert code == 0 and json.loads(out)["num_samples"] == N
    assert (
        err.strip()
        == f"keyscribe: warning: {path}: timestamps not increasing ({kind}) at index {index}"
    )
    code, out, err = run_cli(["transcribe", emg_ckpt, path, "--json"], monkeypatch, capsys)
    assert code == 0 and "Traceback" not in err


def _train_args(data: Path, config: Path, out: Path) -> list:
    return ["train", config, "--data", data, "--out", out] + [
        x for s in EMG_TINY for x in ("--set", s)
    ]


def test_training_on_sub_window_session(
    tmp_path: Path, emg_config: Path, monkeypatch, capsys
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    _good(data / "a.hdf5")
    _good(data / "b.hdf5", n=1500)  # the tiny config's windows are 2000 samples
    (data / "metadata.csv").write_text("session,user,split\na,u,train\nb,u,val\n")
    result = run_cli(_train_args(data, emg_config, tmp_path / "run"), monkeypatch, capsys)
    assert_user_error(result, data / "b.hdf5", "1500 samples, shorter than one window (2000)")


@pytest.mark.parametrize("split", ["train", "val"])
def test_training_on_session_without_keystrokes(
    split: str, tmp_path: Path, emg_config: Path, monkeypatch, capsys
) -> None:
    """Decided: a train or val session with no keystrokes is a clear error (it teaches only the
    blank, and a validation CER over no characters means nothing); test sessions are allowed."""
    data = tmp_path / "data"
    data.mkdir()
    _good(data / "a.hdf5")
    _good(data / "b.hdf5", keys=[])
    other = "val" if split == "train" else "train"
    (data / "metadata.csv").write_text(f"session,user,split\nb,u,{split}\na,u,{other}\n")
    result = run_cli(_train_args(data, emg_config, tmp_path / "run"), monkeypatch, capsys)
    assert_user_error(result, data / "b.hdf5", "no keystrokes")
