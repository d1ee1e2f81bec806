"""Data folders laid out as the emg2qwerty release, the benchmark's split files, and
``keyscribe data splits``."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from helpers.checkpoints import EMG_TINY
from helpers.release import USERS, session_name, write_release
from keyscribe.cli import app
from keyscribe.emg.layout import (
    index_sessions,
    read_split_file,
    summarize_splits,
    write_split_file,
)
from keyscribe.emg.synth import write_splits
from keyscribe.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_release(tmp_path_factory.mktemp("release"))


def test_release_metadata_without_split_lists_every_session(release: Path) -> None:
    entries = index_sessions(release)
    assert len(entries) == 6 and {e.split for e in entries} == {""}
    assert {e.user for e in entries} == {str(u) for u in USERS}


def test_split_file_decides_the_splits(release: Path) -> None:
    entries = index_sessions(release, splits=release / "config/user/user0.yaml")
    held = USERS[1]
    assert [(e.path.stem, e.user, e.split) for e in entries] == [
        (session_name(held, 0), str(held), "train"),
        (session_name(held, 1), str(held), "val"),
        (session_name(held, 2), str(held), "test"),
    ]
    assert read_split_file(release / "config/user/generic.yaml").user == "generic"


def test_missing_session_names_the_split_file_and_the_folder(release: Path, tmp_path: Path) -> None:
    bad = tmp_path / "user9.yaml"
    text = (release / "config/user/user0.yaml").read_text()
    bad.write_text(text.replace(session_name(USERS[1], 2), "2021-01-01-0000000000-gone"))
    with pytest.raises(DataError) as err:
        index_sessions(release, splits=bad)
    assert str(err.value) == f"{bad}: session 2021-01-01-0000000000-gone not found in {release}"


@pytest.mark.parametrize(
    "text, problem",
    [
        ("user: x\n", "needs a 'dataset' mapping"),
        ("dataset: {train: [{user: 1}]}\n", "dataset.train[0] needs a 'session'"),
        ("dataset: {holdout: []}\n", "unknown split(s) ['holdout']"),
        ("dataset: {train: [\n", "not valid YAML"),
    ],
)
def test_bad_split_files(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(problem)):
        read_split_file(path)


def test_written_split_files_read_back_in_the_benchmark_format(tmp_path: Path) -> None:
    sessions = {"train": [("u1", "a"), ("u1", "b")], "val": [("u1", "c")], "test": [("u1", "d")]}
    write_split_file(tmp_path / "user0.yaml", "user0", sessions)
    text = (tmp_path / "user0.yaml").read_text()
    assert text.startswith("# @package _global_\nuser: user0\ndataset:\n  train:\n")
    assert read_split_file(tmp_path / "user0.yaml").sessions == sessions


def test_synth_splits_hold_out_users_as_the_benchmark(tmp_path: Path) -> None:
    rows = [
        {"session": f"user{u:02d}-session{s:02d}", "user": f"user{u:02d}", "split": split}
        for u in range(5)
        for s, split in enumerate(("train", "train", "val", "test"))
    ]
    write_splits(tmp_path, rows)  # 5 users: the last 2 held out
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "generic.yaml",
        "user0.yaml",
        "user1.yaml",
    ]
    user0 = read_split_file(tmp_path / "user0.yaml")  # the first held-out user: user03
    assert user0.sessions["test"] == [("user03", "user03-session03")]
    assert user0.sessions["val"] == [("user03", "user03-session02")]
    assert [s for _, s in user0.sessions["train"]] == ["user03-session00", "user03-session01"]
    generic = read_split_file(tmp_path / "generic.yaml")
    assert {u for u, _ in generic.sessions["train"] + generic.sessions["val"]} == {
        "user00",
        "user01",
        "user02",
    }
    assert generic.sessions["test"] == [
        ("user03", "user03-session03"),
        ("user04", "user04-session03"),
    ]


def test_synthesize_writes_the_release_layout(synth_dir: Path) -> None:
    header = (synth_dir / "metadata.csv").read_text().splitlines()[0].split(",")
    assert header[:6] == [
        "session",
        "user",
        "duration_mins",
        "num_keystrokes",
        "num_prompts",
        "quality_check_tags",
    ]
    assert sorted(p.name for p in (synth_dir / "splits").iterdir()) == ["user0.yaml"]  # one user
    by_file = index_sessions(synth_dir, splits=synth_dir / "splits/user0.yaml")
    by_column = index_sessions(synth_dir)
    assert [(e.path, e.split) for e in by_file] == [(e.path, e.split) for e in by_column]


def test_data_splits_command(release: Path) -> None:
    runner = CliRunner()
    user0 = release / "config/user/user0.yaml"
    result = runner.invoke(app, ["data", "splits", str(release), "--splits", str(user0), "--json"])
    assert result.exit_code == 0, result.output
    held = USERS[1]
    assert json.loads(result.output) == {
        "train": [session_name(held, 0)],
        "val": [session_name(held, 1)],
        "test": [session_name(held, 2)],
    }
    result = runner.invoke(app, ["data", "splits", str(release), "--splits", str(user0)])
    lines = result.output.splitlines()
    assert lines[0].split() == ["split", "sessions", "users", "hours", "keystrokes"]
    summary = summarize_splits(release, user0)
    assert lines[1].split() == [
        "train",
        "1",
        "1",
        f"{summary['train'].hours:.2f}",
        f"{summary['train'].keystrokes:,}",
    ]
    meta = {
        r.split(",")[1]: r.split(",")
        for r in (release / "metadata.csv").read_text().splitlines()[1:]
    }
    assert summary["test"].keystrokes == int(meta[session_name(held, 2)][4])


def test_data_splits_errors_are_one_line(release: Path, tmp_path: Path) -> None:
    bad = tmp_path / "user9.yaml"
    bad.write_text(
        yaml.safe_dump({"user": "user9", "dataset": {"test": [{"user": 1, "session": "nope"}]}})
    )
    for args, message in [
        (["--splits", str(bad)], f"keyscribe: error: {bad}: session nope not found in {release}"),
        ([], f"keyscribe: error: {release / 'metadata.csv'}: has no 'split' column"),
    ]:
        proc = subprocess.run(
            [
                sys.executable,
                "-c",
                "from keyscribe.cli import main; main()",
                "data",
                "splits",
                str(release),
                *args,
            ],
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 2 and proc.stderr.startswith(message), proc.stderr
        assert "Traceback" not in proc.stderr and proc.stdout == ""


TINY = [*EMG_TINY, "trainer.max_steps=2"]


def test_training_on_the_release_layout_with_a_user_split_file(
    release: Path, tmp_path: Path
) -> None:
    import keyscribe as ks

    user0 = release / "config/user/user0.yaml"
    cfg = ks.load_config(
        "configs/emg/quickstart.yaml",
        [*TINY, f"data.root={release}", f"data.splits={user0}", f"out_dir={tmp_path / 'run'}"],
    )
    results = ks.train(cfg)
    assert results["steps"] == 2 and results["test_cer"] is not None
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert saved["data"]["splits"] == str(user0)


def test_training_with_a_missing_session_stops_before_training(
    release: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "user9.yaml"
    bad.write_text(yaml.safe_dump({"dataset": {"train": [{"user": 1, "session": "gone"}]}}))
    run = tmp_path / "run"
    args = ["train", "configs/emg/quickstart.yaml", "--data", str(release), "--out", str(run)]
    for extra, message in [
        (
            ["--set", f"data.splits={bad}"],
            f"keyscribe: error: {bad}: session gone not found in {release}\n",
        ),
        ([], f"keyscribe: error: {release / 'metadata.csv'}: has no 'split' column"),
    ]:
        proc = subprocess.run(
            [sys.executable, "-c", "from keyscribe.cli import main; main()", *args, *extra],
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 2 and proc.stderr.startswith(message), proc.stderr
        assert not (run / "last.ckpt").exists() and not (run / "config.yaml").exists()
