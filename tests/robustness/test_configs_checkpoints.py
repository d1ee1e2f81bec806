"""Broken configs, checkpoints and language-model inputs: ``train``, ``model info``,
``evaluate``, ``transcribe`` and ``lm build`` answer with one line naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from helpers.checkpoints import LINES
from helpers.cli import assert_user_error, run_cli
from helpers.sessions import key, write_session


def _config(tmp_path: Path, emg_config: Path, body: str) -> Path:
    path = tmp_path / "exp.yaml"
    path.write_text(f"base: {emg_config}\n{body}", encoding="utf-8")
    return path


CONFIGS = {
    "unknown key": ("trainer:\n  max_epoch: 3\n", "trainer.max_epoch"),
    "unknown section": ("trainr:\n  max_epochs: 3\n", "trainr"),
    "wrong type": ("data:\n  batch_size: many\n", "data.batch_size"),
    "list for a number": ("optim:\n  lr: [1, 2]\n", "optim.lr"),
    "not YAML": ("trainer: {max_epochs: 3\n", ""),
    "unknown domain": ("domain: speech\n", "speech"),
}


@pytest.mark.parametrize("command", ["train", "model info"])
@pytest.mark.parametrize("case", sorted(CONFIGS))
def test_bad_config(
    case: str, command: str, tmp_path: Path, emg_config: Path, monkeypatch, capsys
) -> None:
    body, problem = CONFIGS[case]
    config = _config(tmp_path, emg_config, body)
    result = run_cli(
        [*command.split(), config, "--set", f"out_dir={tmp_path / 'run'}"], monkeypatch, capsys
    )
    assert_user_error(result, config, problem)


@pytest.mark.parametrize(
    "make, problem",
    [
        (lambda d, c: d / "missing.yaml", "not found"),
        (lambda d, c: _config(d, d / "nowhere.yaml", ""), "nowhere.yaml"),
        (lambda d, c: (d / "list.yaml").write_text("- 1\n- 2\n") and d / "list.yaml", ""),
        (lambda d, c: (d / "empty.yaml").write_text("") or d / "empty.yaml", ""),
    ],
    ids=["missing file", "missing base", "a list", "empty file"],
)
def test_bad_config_file(
    make, problem: str, tmp_path: Path, emg_config: Path, monkeypatch, capsys
) -> None:
    config = make(tmp_path, emg_config)
    code, out, err = run_cli(
        ["train", config, "--out", tmp_path / "run", "--max-steps", "1"], monkeypatch, capsys
    )
    if code == 0:  # an empty config is the defaults: only a documented outcome, never a traceback
        pytest.fail(f"trained on {config}: {err}")
    assert_user_error((code, out, err), None, problem)


def test_bad_override(tmp_path: Path, emg_config: Path, monkeypatch, capsys) -> None:
    for override, problem in (
        ("data.batch_size=many", "data.batch_size"),
        ("nokey=1", "nokey"),
        ("noequals", "noequals"),
    ):
        result = run_cli(["model", "info", emg_config, "--set", override], monkeypatch, capsys)
        assert_user_error(result, None, problem)


def test_missing_data_path(
    tmp_path: Path, emg_config: Path, htr_config: Path, monkeypatch, capsys
) -> None:
    missing = tmp_path / "no-data"
    result = run_cli(
        ["train", emg_config, "--data", missing, "--out", tmp_path / "run"], monkeypatch, capsys
    )
    assert_user_error(result, missing, "not found")
    args = [
        "train",
        htr_config,
        "--set",
        f"data.train={missing}",
        "--set",
        f"data.val={LINES}",
        "--out",
        tmp_path / "r",
    ]
    assert_user_error(run_cli(args, monkeypatch, capsys), missing, "not found")


def test_missing_evaluate_data(
    tmp_path: Path, emg_ckpt: Path, htr_ckpt: Path, monkeypatch, capsys
) -> None:
    for ckpt in (emg_ckpt, htr_ckpt):
        for command in ("evaluate", "transcribe"):
            result = run_cli([command, ckpt, tmp_path / "absent"], monkeypatch, capsys)
            assert_user_error(result, tmp_path / "absent", "not found")


def _truncated(src: Path, dst: Path) -> Path:
    dst.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    return dst


def _saved(obj, path: Path) -> Path:
    torch.save(obj, path)
    return path


def _changed_alphabet(src: Path, dst: Path) -> Path:
    """The same weights with a charset of a different size: what a mixed-up file would hold."""
    ckpt = torch.load(src, weights_only=False)
    ckpt["keyscribe"]["alphabet"].update(
        symbols=ckpt["keyscribe"]["alphabet"]["symbols"][:5], blank=5
    )
    return _saved(ckpt, dst)


def _edited(src: Path, dst: Path, change) -> Path:
    ckpt = torch.load(src, weights_only=False)
    change(ckpt["keyscribe"])
    return _saved(ckpt, dst)


def _unknown_config_key(src: Path, dst: Path) -> Path:
    ckpt = torch.load(src, weights_only=False)
    ckpt["keyscribe"]["config"]["model"]["surprise"] = 1
    return _saved(ckpt, dst)


CHECKPOINTS = {
    "missing": (lambda s, d: d, "checkpoint not found"),
    "empty file": (lambda s, d: d.write_bytes(b"") or d, "not a readable checkpoint"),
    "truncated": (_truncated, "not a readable checkpoint"),
    "random bytes": (
        lambda s, d: d.write_bytes(bytes(range(256)) * 8) and d,
        "not a readable checkpoint",
    ),
    "a directory": (lambda s, d: d.mkdir() or d, "checkpoint not found"),
    "no state_dict": (lambda s, d: _saved({"weights": 1}, d), "no state_dict"),
    "a tensor": (lambda s, d: _saved(torch.zeros(3), d), "no state_dict"),
    "unknown layout": (
        lambda s, d: _saved({"state_dict": {}}, d),
        "not a keyscribe or emg2qwerty checkpoint",
    ),
    "charset does not fit the weights": (_changed_alphabet, "weights do not fit"),
    "charset with a misplaced blank": (
        lambda s, d: _edited(s, d, lambda m: m["alphabet"].update(blank=3)),
        "damaged keyscribe metadata",
    ),
    "unknown config key inside": (_unknown_config_key, "model.surprise"),
}


@pytest.mark.parametrize("command", ["evaluate", "transcribe", "export"])
@pytest.mark.parametrize("case", sorted(CHECKPOINTS))
def test_bad_checkpoint(
    case: str, command: str, tmp_path: Path, emg_ckpt: Path, good_session: Path, monkeypatch, capsys
) -> None:
    make, problem = CHECKPOINTS[case]
    ckpt = make(emg_ckpt, tmp_path / "model.ckpt")
    onnx = tmp_path / "model.onnx"
    onnx.write_bytes(b"previous export")
    target = ["--out", onnx] if command == "export" else [good_session]
    result = run_cli([command, ckpt, *target], monkeypatch, capsys)
    assert_user_error(result, ckpt, problem)
    assert onnx.read_bytes() == b"previous export"


def test_model_info_on_bad_checkpoint(tmp_path: Path, emg_ckpt: Path, monkeypatch, capsys) -> None:
    ckpt = _truncated(emg_ckpt, tmp_path / "half.ckpt")
    assert_user_error(
        run_cli(["model", "info", ckpt], monkeypatch, capsys), ckpt, "not a readable checkpoint"
    )


def test_checkpoint_from_the_other_domain(
    tmp_path: Path, emg_ckpt: Path, htr_ckpt: Path, good_session: Path, monkeypatch, capsys
) -> None:
    """An sEMG model given handwriting lines, and an HTR model given an sEMG session."""
    for command in ("evaluate", "transcribe"):
        result = run_cli([command, emg_ckpt, LINES], monkeypatch, capsys)
        assert_user_error(result, LINES, "no metadata.csv and no .hdf5 session files")
        image = sorted(LINES.glob("*.jpg"))[0]
        if command == "transcribe":
            assert_user_error(
                run_cli([command, emg_ckpt, image], monkeypatch, capsys),
                image,
                "not a readable HDF5",
            )
        result = run_cli([command, htr_ckpt, good_session], monkeypatch, capsys)
        assert_user_error(result, good_session, "not a line source")


def test_bad_language_model(
    tmp_path: Path, emg_ckpt: Path, good_session: Path, monkeypatch, capsys
) -> None:
    for name, text in (
        ("missing.arpa", None),
        ("garbage.arpa", "hello\nworld\n"),
        ("empty.arpa", ""),
    ):
        lm = tmp_path / name
        if text is not None:
            lm.write_text(text)
        result = run_cli(
            ["transcribe", emg_ckpt, good_session, "--decoder", "beam", "--lm", lm],
            monkeypatch,
            capsys,
        )
        assert_user_error(result, lm, "")


@pytest.mark.parametrize(
    "corpus, problem",
    [
        (None, "corpus not found"),
        (b"", "the corpus has no text"),
        (b"\n\n   \n", "the corpus has no text"),
    ],
    ids=["missing", "empty", "blank lines"],
)
def test_lm_build_bad_corpus(
    corpus: bytes | None, problem: str, tmp_path: Path, monkeypatch, capsys
) -> None:
    path = tmp_path / "corpus.txt"
    if corpus is not None:
        path.write_bytes(corpus)
    out = tmp_path / "lm.arpa"
    out.write_text("previous")
    result = run_cli(["lm", "build", path, "--out", out, "--order", "3"], monkeypatch, capsys)
    assert_user_error(result, path, problem)
    assert out.read_text() == "previous"  # nothing half-written over the old model


def test_lm_build_non_utf8_corpus_is_read_with_replacement(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    path = tmp_path / "corpus.txt"
    path.write_bytes(b"caf\xe9 au lait\nthe cat sat\n")
    code, out, err = run_cli(
        ["lm", "build", path, "--out", tmp_path / "lm.arpa", "--order", "3"], monkeypatch, capsys
    )
    assert (
        code == 0
        and "Traceback" not in err
        and (tmp_path / "lm.arpa").read_text().startswith("\\data\\")
    )


def test_lm_build_bad_transcriptions(tmp_path: Path, monkeypatch, capsys) -> None:
    missing = tmp_path / "nolines"
    result = run_cli(
        ["lm", "build", "--transcriptions", missing, "--out", tmp_path / "lm.arpa"],
        monkeypatch,
        capsys,
    )
    assert_user_error(result, missing, "not found")


def test_lm_build_into_missing_folder(tmp_path: Path, monkeypatch, capsys) -> None:
    path = tmp_path / "corpus.txt"
    path.write_text("the cat sat\n")
    out = tmp_path / "not" / "here" / "lm.arpa"
    code, _, err = run_cli(["lm", "build", path, "--out", out, "--order", "2"], monkeypatch, capsys)
    assert "Traceback" not in err
    assert (code == 0 and out.exists()) or (code != 0 and str(out.parent) in err)


def test_training_data_root_with_broken_metadata(
    tmp_path: Path, emg_config: Path, monkeypatch, capsys
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    write_session(data / "a.hdf5", 4000, [key("a", 10)])
    for body, problem in (
        ("name,split\na,train\n", "missing column"),
        ("session,user,split\na,u,holdout\n", "unknown split"),
    ):
        (data / "metadata.csv").write_text(body)
        result = run_cli(
            ["train", emg_config, "--data", data, "--out", tmp_path / "run"], monkeypatch, capsys
        )
        assert_user_error(result, data / "metadata.csv", problem)
