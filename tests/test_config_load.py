"""Config keys are used or refused when the file loads, with the file and the key named."""

from __future__ import annotations

from pathlib import Path

import pytest

import keyscribe
from helpers.checkpoints import EMG_TINY, save_untrained
from keyscribe.errors import ConfigError
from keyscribe.evaluation import configured_decoder


def _config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "exp.yaml"
    path.write_text(f"base: {Path('configs/emg/quickstart.yaml').resolve()}\n{body}")
    return path


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (
            "model: {frontend: {kind: spectrogram_mlp, bogus: 1}}",
            "model.frontend: unknown config key 'bogus'",
        ),
        (
            "model: {encoder: {kind: tdsconv, kernel: 3}}",
            "model.encoder (tdsconv): unknown config key 'kernel'",
        ),
        ("model: {encoder: {kind: transformerz}}", "model.encoder.kind must be one of"),
        ("decoder: {kind: beamm}", "decoder.kind must be greedy or beam"),
    ],
)
def test_bad_model_and_decoder_sections_stop_at_load(
    tmp_path: Path, body: str, problem: str
) -> None:
    path = _config(tmp_path, body)
    with pytest.raises(ConfigError) as caught:
        keyscribe.load_config(path)
    assert caught.value.path == str(path)
    assert problem in caught.value.problem


def test_a_new_frontend_kind_replaces_the_base_options(tmp_path: Path) -> None:
    base = tmp_path / "base.yaml"
    base.write_text("domain: htr\nmodel: {frontend: {kind: crnn, channels: [4, 4]}}\n")
    top = tmp_path / "top.yaml"
    top.write_text("base: base.yaml\nmodel: {frontend: {kind: puigcerver}}\n")
    cfg = keyscribe.load_config(top)
    assert cfg.model.frontend == {"kind": "puigcerver"}


def test_the_decoder_section_sets_how_a_checkpoint_decodes(tmp_path: Path) -> None:
    cfg = keyscribe.load_config(
        "configs/emg/quickstart.yaml", [*EMG_TINY, "decoder.kind=beam", "decoder.lm=none"]
    )
    recognizer = keyscribe.load_model(save_untrained(cfg, tmp_path / "m.ckpt"))
    assert configured_decoder(recognizer, None, None, None).decoding.name == "beam"
    assert configured_decoder(recognizer, "greedy", None, None).decoding.name == "greedy"
    assert recognizer.decoding.name == "greedy"  # use_decoder returns a new recognizer
