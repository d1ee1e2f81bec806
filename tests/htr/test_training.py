"""End to end on real lines: a tiny model overfits ten cremma-mss-20 lines (CER falls), its
checkpoint reloads, fine-tuning initialises from it, and the CLI scores and transcribes with it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from keyscribe import api
from keyscribe.cli import app
from keyscribe.domain import get_domain

TINY = {
    "domain": "htr",
    "seed": 3,
    "data": {"height": 32, "batch_size": 5, "augment": {"enabled": False}},
    "model": {
        "frontend": {
            "kind": "puigcerver",
            "channels": [8, 16, 16, 24, 24],
            "pool_widths": [2, 2, 1, 1, 1],
            "deformable_layers": [1],
            "dropout": 0.0,
        },
        "encoder": {"kind": "lstm", "hidden_size": 64, "num_layers": 1, "dropout": 0.0},
    },
    "optim": {"lr": 3.0e-3, "scheduler": "constant"},
    "trainer": {
        "max_epochs": 150,
        "early_stopping_patience": 0,
        "progress_bar": False,
        "log_every_n_steps": 1,
    },
}


@pytest.fixture(scope="module")
def trained(lines_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("overfit")
    config = root / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY), encoding="utf-8")
    overrides = [
        f"data.train={lines_dir}",
        f"data.val={lines_dir}",
        f"out_dir={root / 'run'}",
        "trainer.max_steps=160",
    ]
    cfg = api.load_config(config, overrides)
    results = api.train(cfg)
    return {"results": results, "config": config, "root": root, "overrides": overrides}


def test_cer_falls_and_checkpoint_reloads(trained: dict, lines_dir: Path) -> None:
    results = trained["results"]
    metrics = (Path(results["run_dir"]) / "logs" / "metrics.csv").read_text().splitlines()
    assert results["val_cer"] < 60.0, results  # from 100 % (blanks only) at the start
    model = api.load_model(results["best_checkpoint"])
    assert model.alphabet.blank == 0 and model.domain == "htr"
    scores = api.evaluate(results["best_checkpoint"], lines_dir)
    assert scores["lines"] == 10 and scores["cer"] == pytest.approx(results["val_cer"], abs=1e-6)
    assert len(metrics) > 2


def test_init_from_copies_weights_and_maps_the_charset(
    trained: dict, lines_dir: Path, tmp_path: Path
) -> None:
    from keyscribe import builders

    cfg = api.load_config(trained["config"], [*trained["overrides"], "data.charset_extra=XYZ"])
    alphabet = get_domain("htr").alphabet(cfg)
    model = builders.build_model(cfg, alphabet)
    info = api.initialise_from(model, alphabet, trained["results"]["best_checkpoint"])
    assert info["tensors_copied"] == info["tensors"]
    assert info["output_rows_copied"] == info["output_rows"] - 3  # X, Y and Z are new
    source = api.load_model(trained["results"]["best_checkpoint"])
    a = source.alphabet.index("M")
    b = alphabet.index("M")
    assert (model.head.weight[b] == source.model.head.weight[a]).all()


def test_cli_evaluate_json_has_cer_wer_lines(trained: dict, lines_dir: Path) -> None:
    result = CliRunner().invoke(
        app, ["evaluate", trained["results"]["best_checkpoint"], str(lines_dir), "--json"]
    )
    assert result.exit_code == 0, result.output
    scores = json.loads(result.stdout)
    for key in (
        "cer",
        "wer",
        "lines",
        "cer_insertions",
        "cer_deletions",
        "cer_substitutions",
        "cer_mean_per_item",
        "wer_mean_per_item",
    ):
        assert key in scores
    assert scores["lines"] == 10


def test_cli_transcribe_writes_text_into_a_copy_of_the_page(
    trained: dict, pages_dir: Path, tmp_path: Path
) -> None:
    from keyscribe.htr.pages import read_page

    ckpt = trained["results"]["best_checkpoint"]
    result = CliRunner().invoke(
        app,
        [
            "transcribe",
            ckpt,
            str(pages_dir / "01R_crop.page2019.xml"),
            "--xml-out",
            str(tmp_path),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    out = tmp_path / "01R_crop.page2019.keyscribe.xml"
    lines = json.loads(result.stdout)
    page = read_page(out) if (tmp_path / "01R_crop.jpg").exists() else None
    assert out.exists() and len(lines) == 3
    text = out.read_text(encoding="utf-8")
    assert all(f"<Unicode>{r['text']}</Unicode>" in text for r in lines if r["text"])
    assert page is None or len(page.lines) == 3
    line = CliRunner().invoke(
        app, ["transcribe", ckpt, str(next(Path(pages_dir).parent.glob("lines/*.jpg")))]
    )
    assert line.exit_code == 0 and "decoded:" in line.stdout


def test_trained_model_writes_valid_pages_with_words_inside_their_lines(
    trained: dict, pages_dir: Path, tmp_path: Path
) -> None:
    """The trained model (not a scripted one, see test_page_output.py) on a PAGE 2019 page: the
    output validates against the official XSD, word polygons lie inside their line's."""
    from lxml import etree
    from shapely.geometry import Polygon

    from keyscribe.htr.pages import read_page

    ckpt = trained["results"]["best_checkpoint"]
    page = pages_dir / "01R_crop.page2019.xml"
    args = ["transcribe", ckpt, str(page), "--format", "page", "--glyphs", "--out", str(tmp_path)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    xsd = Path(__file__).parents[1] / "fixtures" / "xsd" / "pagecontent-2019-07-15.xsd"
    schema = etree.XMLSchema(etree.parse(str(xsd)))
    doc = etree.parse(str(tmp_path / "01R_crop.page2019.xml"))
    assert schema.validate(doc), schema.error_log
    ns = {"p": doc.getroot().nsmap[None]}
    lines = {line.id: Polygon(line.polygon).buffer(1.0) for line in read_page(page).lines}
    words = 0
    for line in doc.findall(".//p:TextLine", ns):
        for word in line.findall("p:Word", ns):
            points = word.find("p:Coords", ns).get("points").split()
            assert lines[line.get("id")].contains(
                Polygon([tuple(map(int, p.split(","))) for p in points])
            )
            assert 0.0 <= float(word.find("p:TextEquiv", ns).get("conf")) <= 1.0
            words += 1
    assert words > 0


def test_cli_figures(trained: dict, lines_dir: Path, tmp_path: Path) -> None:
    ckpt = trained["results"]["best_checkpoint"]
    image = lines_dir / "12_dbc9b_default_l028.jpg"
    result = CliRunner().invoke(
        app, ["htr", "show-offsets", ckpt, str(image), "--out", str(tmp_path / "o.png")]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "o.png").stat().st_size > 1000 and "conv 1" in result.stdout
    result = CliRunner().invoke(
        app, ["htr", "grid", ckpt, str(lines_dir), "--out", str(tmp_path / "g.png"), "-n", "3"]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "g.png").stat().st_size > 1000
