"""Shared and bundled models: safetensors export/load (no pickle), model cards, the registry of
bundled models and their names wherever a checkpoint path goes. Tiny models built here."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import pytest
import torch
import yaml

from helpers.checkpoints import HTR_TINY, LINES, save_untrained
from helpers.cli import assert_user_error, run_cli
from keyscribe import api, builders, bundled
from keyscribe.decoding.lm_build import build_arpa
from keyscribe.errors import CheckpointError
from keyscribe.model_file import read_metadata

LINE = sorted(LINES.glob("*.jpg"))[0]


def _htr_ckpt(root: Path, seed: int = 0) -> Path:
    (root / "tiny.yaml").write_text(yaml.safe_dump(HTR_TINY), encoding="utf-8")
    cfg = api.load_config(
        root / "tiny.yaml",
        [f"data.train={LINES}", f"data.val={LINES}", f"out_dir={root}", "name=tiny-htr"],
    )
    path = save_untrained(cfg, root / "tiny.ckpt")
    ckpt = torch.load(path, weights_only=False)
    gen = torch.Generator().manual_seed(seed)
    for value in ckpt["state_dict"].values():  # distinct weights per seed, far from init
        if value.is_floating_point():
            value.add_(torch.randn(value.shape, generator=gen) * 0.5)
    torch.save(ckpt, path)
    return path


def _log_probs(recognizer: api.Recognizer) -> torch.Tensor:
    sample = recognizer.dataset(LINE)[0]
    log_probs, length = recognizer.log_probs(sample)
    return log_probs[:length]


@pytest.fixture()
def registry_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A bundled-model folder holding one tiny model, ``tiny-fr``, in place of the package's."""
    folder = tmp_path / "bundle"
    folder.mkdir()
    api.export(_htr_ckpt(tmp_path), folder / "tiny-fr.safetensors", format="safetensors")
    (folder / "tiny-fr.md").write_text("# tiny-fr\n\nA card written by hand.\n", encoding="utf-8")
    build_arpa(["mon cher george", "je suis en retard"], 3, folder / "tiny.arpa")
    index = {
        "models": [
            {
                "name": "tiny-fr",
                "domain": "htr",
                "language": "fr",
                "licence": "CC BY 4.0",
                "weights": "tiny-fr.safetensors",
                "card": "tiny-fr.md",
                "lm": "tiny.arpa",
                "test_cer": {"lines": 12.5},
            }
        ]
    }
    (folder / "index.json").write_text(json.dumps(index), encoding="utf-8")
    monkeypatch.setattr(bundled, "models_dir", lambda: folder)
    return folder


def test_safetensors_round_trip_gives_the_same_outputs_without_pickle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ckpt = _htr_ckpt(tmp_path)
    out = tmp_path / "model.safetensors"
    result = api.export(ckpt, out, format="safetensors")
    assert result["parameters"] > 0 and out.stat().st_size == result["bytes"]
    expected = api.load_model(ckpt)

    def no_unpickling(*args, **kwargs):
        raise AssertionError("a .safetensors file must load without pickle")

    monkeypatch.setattr(torch, "load", no_unpickling)
    monkeypatch.setattr(pickle, "loads", no_unpickling)
    monkeypatch.setattr(pickle, "load", no_unpickling)
    loaded = api.load_model(out)
    assert torch.equal(_log_probs(loaded), _log_probs(expected))
    assert loaded.alphabet == expected.alphabet
    assert loaded.transcribe(LINE)[0]["text"] == expected.transcribe(LINE)[0]["text"]
    metadata = read_metadata(out)
    assert json.loads(metadata["keyscribe.config"])["name"] == "tiny-htr"
    assert "tiny-htr" in metadata["keyscribe.card"]


def test_a_different_model_gives_different_outputs(tmp_path: Path) -> None:
    """The round-trip check above can fail: two models with other weights disagree."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = api.load_model(_htr_ckpt(tmp_path / "a", seed=0))
    b = api.load_model(_htr_ckpt(tmp_path / "b", seed=1))
    assert not torch.equal(_log_probs(a), _log_probs(b))


def test_model_show_prints_the_card(tmp_path: Path, monkeypatch, capsys) -> None:
    ckpt = _htr_ckpt(tmp_path)
    code, out, _ = run_cli(["model", "show", ckpt], monkeypatch, capsys)
    alphabet = api.load_model(ckpt).alphabet
    assert code == 0 and out.startswith("# tiny-htr")
    assert f"{len(alphabet.symbols)} symbols + CTC blank" in out
    card = tmp_path / "card.md"
    card.write_text("# my model\n\nTrained on my letters.\n", encoding="utf-8")
    code, out, _ = run_cli(
        [
            "export",
            ckpt,
            "--format",
            "safetensors",
            "--out",
            tmp_path / "m.safetensors",
            "--card",
            card,
        ],
        monkeypatch,
        capsys,
    )
    assert code == 0 and "wrote" in out
    code, out, _ = run_cli(["model", "show", tmp_path / "m.safetensors"], monkeypatch, capsys)
    assert code == 0 and out == "# my model\n\nTrained on my letters.\n"


def test_registry_lists_bundled_models(registry_dir: Path, monkeypatch, capsys) -> None:
    models = bundled.registry()
    assert list(models) == ["tiny-fr"]
    assert models["tiny-fr"].weights == registry_dir / "tiny-fr.safetensors"
    code, out, _ = run_cli(["models"], monkeypatch, capsys)
    assert code == 0 and "tiny-fr" in out and "lines 12.50 %" in out and "CC BY 4.0" in out
    code, out, _ = run_cli(["models", "--json"], monkeypatch, capsys)
    assert json.loads(out)[0]["test_cer"] == {"lines": 12.5}
    code, out, _ = run_cli(["model", "show", "tiny-fr"], monkeypatch, capsys)
    assert code == 0 and "A card written by hand." in out


def test_bundled_names_work_where_checkpoints_go(
    registry_dir: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    by_name = api.load_model("tiny-fr")
    by_file = api.load_model(registry_dir / "tiny-fr.safetensors")
    assert torch.equal(_log_probs(by_name), _log_probs(by_file))
    code, out, _ = run_cli(["transcribe", "tiny-fr", LINE, "--json"], monkeypatch, capsys)
    assert code == 0 and json.loads(out)["text"] == by_file.transcribe(LINE)[0]["text"]
    code, out, _ = run_cli(["evaluate", "tiny-fr", LINES, "--json"], monkeypatch, capsys)
    assert code == 0 and json.loads(out)["items"] == len(list(LINES.glob("*.jpg")))
    # beam search with --lm auto takes the LM shipped with the bundled model
    assert api.load_model("tiny-fr").use_decoder("beam", "auto").beam is not None
    # init_from: a bundled name
    (tmp_path / "ft").mkdir()
    _htr_ckpt(tmp_path / "ft")  # writes the tiny config beside it
    cfg = api.load_config(
        tmp_path / "ft" / "tiny.yaml",
        [f"data.train={LINES}", f"data.val={LINES}", "init_from=tiny-fr"],
    )

    fresh = builders.build_model(cfg, by_file.alphabet)
    copied = api.initialise_from(fresh, by_file.alphabet, cfg.init_from)
    assert copied["tensors_copied"] == copied["tensors"]
    assert all(torch.equal(v, by_file.model.state_dict()[k]) for k, v in fresh.state_dict().items())


def test_a_local_file_wins_over_a_bundled_name(
    registry_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    shutil.copy(_htr_ckpt(tmp_path, seed=3), tmp_path / "tiny-fr")
    assert bundled.resolve("tiny-fr") == Path("tiny-fr")
    assert bundled.resolve("other") == Path("other")


def test_bad_model_files_are_one_line_errors(tmp_path: Path, monkeypatch, capsys) -> None:
    from safetensors.torch import save_file

    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(foreign))
    result = run_cli(["transcribe", foreign, LINE], monkeypatch, capsys)
    assert_user_error(result, foreign, "not a keyscribe model file")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not safetensors at all")
    assert_user_error(run_cli(["model", "show", junk], monkeypatch, capsys), junk, "not a readable")
    with pytest.raises(CheckpointError, match="not found"):
        api.load_model(tmp_path / "missing.safetensors")


def test_onnx_export_carries_the_charset(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    ckpt = _htr_ckpt(tmp_path)
    api.export(ckpt, tmp_path / "m.onnx")
    props = {p.key: p.value for p in onnx.load(tmp_path / "m.onnx").metadata_props}
    assert json.loads(props["keyscribe.alphabet"]) == api.load_model(ckpt).alphabet.to_dict()
