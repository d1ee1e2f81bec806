import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from helpers.sessions import key, write_session
from keyscribe import api, builders
from keyscribe.cli import app
from keyscribe.config import to_plain
from keyscribe.decoding.charlm import CharLM
from keyscribe.domain import get_domain

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture(scope="module")
def untrained_checkpoint(tmp_path_factory) -> Path:
    """A randomly initialised quickstart model saved as a keyscribe checkpoint."""
    torch.manual_seed(0)
    cfg = api.load_config(ROOT / "configs/emg/quickstart.yaml")
    alphabet = get_domain("emg").alphabet(cfg)
    model = builders.build_model(cfg, alphabet)
    path = tmp_path_factory.mktemp("ckpt") / "untrained.ckpt"
    state = {f"model.{k}": v for k, v in model.state_dict().items()}
    meta = {"config": to_plain(cfg), "alphabet": alphabet.to_dict(), "domain": "emg", "format": 1}
    torch.save({"state_dict": state, "keyscribe": meta}, path)
    return path


def test_lm_build_command(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the cat sat\nthe hat\n" * 20)
    out = tmp_path / "lm.arpa"
    result = runner.invoke(app, ["lm", "build", str(corpus), "--order", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "n-grams 1:" in result.output
    assert CharLM.load(out).order == 3


def test_lm_build_refuses_no_corpus(tmp_path):
    result = runner.invoke(app, ["lm", "build", "--out", str(tmp_path / "x.arpa")])
    assert result.exit_code != 0


def test_transcribe_with_beam_search_gives_confidences(untrained_checkpoint, tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the cat sat on the mat\n" * 10)
    lm = tmp_path / "lm.arpa"
    assert (
        runner.invoke(app, ["lm", "build", str(corpus), "--order", "3", "--out", str(lm)]).exit_code
        == 0
    )
    session = write_session(tmp_path / "s.hdf5", 4000, [key("a", 1000), key("b", 3000)])
    args = ["transcribe", str(untrained_checkpoint), str(session), "--json", "--decoder", "beam"]
    args += ["--lm", str(lm), "--beam-size", "4", "--nbest", "2", "--backend", "python"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["decoder"] == "beam" and len(out["nbest"]) == 2
    assert len(out["confidences"]) == len(out["label_ids"])
    assert all(0.0 <= c <= 1.0 for c in out["confidences"])
    assert isinstance(out["words"], list) and "typed_text" in out


def test_evaluate_greedy_and_missing_lm(untrained_checkpoint, tmp_path):
    session = write_session(tmp_path / "s.hdf5", 4000, [key("a", 1000)])
    result = runner.invoke(app, ["evaluate", str(untrained_checkpoint), str(session), "--json"])
    assert result.exit_code == 0, result.output
    missing = [
        "evaluate",
        str(untrained_checkpoint),
        str(session),
        "--decoder",
        "beam",
        "--lm",
        "nope.arpa",
    ]
    result = runner.invoke(app, missing)
    assert result.exit_code != 0
    assert "language model not found" in str(result.exception)


def test_lm_build_from_htr_transcriptions(tmp_path):
    from PIL import Image

    lines = tmp_path / "train"
    lines.mkdir()
    for i, text in enumerate(["dixit dominus", "domino meo"]):
        Image.new("L", (40, 10), 255).save(lines / f"l{i}.png")
        (lines / f"l{i}.gt.txt").write_text(text + "\n", encoding="utf-8")
    extra = tmp_path / "extra.txt"
    extra.write_text("sede a dextris meis\n")
    out = tmp_path / "htr.arpa"
    args = [
        "lm",
        "build",
        str(extra),
        "--transcriptions",
        str(lines),
        "--order",
        "3",
        "--out",
        str(out),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "3 lines" in result.output
    assert {"x", "m", "r"} <= CharLM.load(out).vocabulary
    # --exclude leaves transcriptions out by line id: "u" is only in l0's "dixit dominus"
    assert "u" in CharLM.load(out).vocabulary
    result = runner.invoke(app, [*args, "--exclude", "l0"])
    assert result.exit_code == 0, result.output
    assert "2 lines" in result.output
    assert "u" not in CharLM.load(out).vocabulary


def test_tune_decoder_grid(untrained_checkpoint, synth_dir, tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the cat sat on the mat\n" * 10)
    lm = tmp_path / "lm.arpa"
    assert (
        runner.invoke(app, ["lm", "build", str(corpus), "--order", "3", "--out", str(lm)]).exit_code
        == 0
    )
    out = tmp_path / "tune.json"
    args = ["tune-decoder", str(untrained_checkpoint), str(synth_dir), "--lm", str(lm)]
    args += ["--lm-weights", "0.5,1", "--bonuses", "0,1", "--beam-size", "4", "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    tuned = json.loads(out.read_text())
    assert len(tuned["grid"]) == 4 and tuned["best"] in tuned["grid"]
    assert tuned["beam_size"] == 4 and "best: --lm-weight" in result.output
