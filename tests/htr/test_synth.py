"""Synthetic handwriting lines: determinism, layout, distortions, fonts, bad arguments."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
import unicodedata
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from keyscribe.cli import app
from keyscribe.errors import DataError
from keyscribe.htr import fonts as fonts_mod
from keyscribe.htr.fonts import VENDORED_DIR, available_fonts, font_charset, font_files
from keyscribe.htr.synth import BUNDLED_TEXTS, SynthOptions, render_line, synthesize_lines


@pytest.fixture(autouse=True)
def _empty_font_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the bundled fonts, and never the network."""
    monkeypatch.setenv("KEYSCRIBE_FONT_DIR", str(tmp_path_factory.mktemp("fontcache")))


@pytest.fixture(scope="module")
def font() -> str:
    return str(sorted(font_files(VENDORED_DIR))[0])


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_same_seed_same_lines_any_workers(tmp_path: Path) -> None:
    a = synthesize_lines(tmp_path / "a", 6, seed=7, height=48, fetch=False, log=print)
    synthesize_lines(tmp_path / "b", 6, seed=7, height=48, fetch=False, workers=2)
    synthesize_lines(tmp_path / "c", 6, seed=8, height=48, fetch=False)
    files_a, files_b, files_c = (_files(tmp_path / x) for x in "abc")
    assert files_a == files_b
    assert files_a != files_c
    assert a["train"] + a["val"] == 6 and a["val"] == 1


def test_layout_sizes_and_texts(tmp_path: Path) -> None:
    out = tmp_path / "synth"
    summary = synthesize_lines(out, 12, seed=0, height=60, fetch=False)
    images = sorted((out / "train").glob("*.jpg")) + sorted((out / "val").glob("*.jpg"))
    assert len(images) == 12 == summary["lines"]
    corpus = " ".join(
        " ".join(p.read_text(encoding="utf-8").split()) for p in BUNDLED_TEXTS.values()
    )
    manifest = (out / "manifest.tsv").read_text(encoding="utf-8").splitlines()[1:]
    by_id = {row.split("\t")[0]: row.split("\t") for row in manifest}
    for image in images:
        gt = image.with_name(image.stem + ".gt.txt")
        text = gt.read_text(encoding="utf-8")
        assert text and "\n" not in text and text == text.strip()
        assert text == unicodedata.normalize("NFC", text)
        assert unicodedata.normalize("NFC", text) in unicodedata.normalize("NFC", corpus)
        with Image.open(image) as im:
            assert im.mode == "L" and im.height == 60
            # a handwritten character is ~0.2-1.5 line heights wide at this scale
            assert 4 * len(text) <= im.width <= 90 * len(text) + 60
            assert np.asarray(im).std() > 5  # ink on paper, not a blank image
        row = by_id[image.stem]
        assert row[1] == image.parent.name and row[4] == text and int(row[3]) == im.width
    info = json.loads((out / "synth.json").read_text(encoding="utf-8"))
    assert info["seed"] == 0 and len(info["fonts"]) >= 8


def test_lines_readable_by_the_folder_loader(tmp_path: Path) -> None:
    from keyscribe.htr.lines import SkipCounter, folder_lines

    synthesize_lines(
        tmp_path,
        5,
        seed=2,
        height=40,
        fetch=False,
        options=SynthOptions(height=40, val_fraction=0.0),
    )
    report = SkipCounter("fail")
    records = folder_lines(tmp_path / "train", report)
    assert len(records) == 5 and not report.skipped
    assert all(r.text for r in records)


def test_text_file_is_the_source(tmp_path: Path) -> None:
    source = tmp_path / "text.txt"
    source.write_text(
        "Bonjour à tous les élèves de la classe.\nÇa va très bien, merci !", encoding="utf-8"
    )
    out = tmp_path / "out"
    synthesize_lines(out, 4, seed=1, height=40, text=source, fetch=False)
    words = set(source.read_text(encoding="utf-8").split())
    for gt in out.rglob("*.gt.txt"):
        assert set(gt.read_text(encoding="utf-8").split()) <= words


@pytest.mark.parametrize(
    "change",
    [
        {"slant_deg": (20.0, 20.0)},
        {"curve_amplitude": (0.1, 0.1)},
        {"elastic_alpha": (3.0, 3.0)},
        {"spacing": (0.1, 0.1)},
        {"pen": (2,)},
        {"blur": (1.0, 1.0)},
        {"noise": (6.0, 6.0)},
        {"ink": (110.0, 110.0)},
    ],
)
def test_each_distortion_changes_pixels(font: str, change: dict) -> None:
    still = SynthOptions(
        height=48,
        slant_deg=(0.0, 0.0),
        curve_amplitude=(0.0, 0.0),
        drift=(0.0, 0.0),
        spacing=(0.0, 0.0),
        jitter=0.0,
        pen=(0,),
        elastic_alpha=(0.0, 0.0),
        blur=(0.0, 0.0),
        noise=(0.0, 0.0),
        ink=(20.0, 20.0),
    )
    text = "Le vent se lève"
    base = np.asarray(render_line(text, font, np.random.default_rng(0), still), dtype=np.int16)
    again = np.asarray(render_line(text, font, np.random.default_rng(0), still), dtype=np.int16)
    assert np.array_equal(base, again)
    moved = np.asarray(
        render_line(text, font, np.random.default_rng(0), replace(still, **change)), dtype=np.int16
    )
    if moved.shape == base.shape:
        assert np.abs(moved - base).mean() > 0.5
    assert moved.shape[0] == base.shape[0] == 48


def test_bundled_fonts_cover_french(tmp_path: Path) -> None:
    fonts = available_fonts(fetch=False)
    assert len(fonts) >= 8
    total = sum(p.stat().st_size for p in VENDORED_DIR.rglob("*") if p.is_file())
    assert total < 2_000_000
    for path in fonts:
        assert set("àâçéèêëîïôùûüÀÉÇ«»’") <= font_charset(str(path)), path.name
        assert (path.parent / "LICENSE").is_file()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lines": 0}, "--lines must be at least 1"),
        ({"height": 8}, "--height must be between"),
        ({"workers": 0}, "--workers"),
        ({"text": Path("/nonexistent/text.txt")}, "cannot read text file"),
    ],
)
def test_bad_arguments(tmp_path: Path, kwargs: dict, message: str) -> None:
    args = {"lines": 2, "height": 40, "fetch": False} | kwargs
    with pytest.raises(DataError, match=message):
        synthesize_lines(tmp_path / "out", **args)


def test_bad_text_and_font_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n", encoding="utf-8")
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("élève".encode("latin-1"))
    with pytest.raises(DataError, match="empty"):
        synthesize_lines(tmp_path / "o", 2, height=40, text=empty, fetch=False)
    with pytest.raises(DataError, match="not UTF-8"):
        synthesize_lines(tmp_path / "o", 2, height=40, text=latin1, fetch=False)
    (tmp_path / "nofonts").mkdir()
    with pytest.raises(DataError, match="no font files"):
        synthesize_lines(tmp_path / "o", 2, height=40, fonts_dir=tmp_path / "nofonts", fetch=False)
    with pytest.raises(DataError, match="image format"):
        synthesize_lines(
            tmp_path / "o",
            2,
            height=40,
            fetch=False,
            options=SynthOptions(height=40, image_format="gif"),
        )


def test_cli_synth_and_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(
        app,
        [
            "htr",
            "synth",
            "--out",
            str(tmp_path / "s"),
            "--lines",
            "3",
            "--height",
            "32",
            "--no-fetch",
            "--format",
            "png",
        ],
    )
    assert ok.exit_code == 0, ok.output
    assert "wrote" in ok.output and len(list((tmp_path / "s").rglob("*.png"))) == 3
    bad = runner.invoke(
        app, ["htr", "synth", "--out", str(tmp_path / "t"), "--lines", "-1", "--no-fetch"]
    )
    assert bad.exit_code != 0


def _fake_tarball(woff: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in (
            ("package/files/caveat-latin-400-normal.woff", woff),
            ("package/LICENSE", b"OFL"),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_fetch_checks_integrity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    woff = (VENDORED_DIR / "caveat" / "caveat-latin-400-normal.woff").read_bytes()
    blob = _fake_tarball(woff)
    good = "sha512-" + base64.b64encode(hashlib.sha512(blob).digest()).decode()

    def serve(integrity: str):
        def _get(url: str, timeout: float) -> bytes:
            if url.endswith(".tgz"):
                return blob
            return json.dumps(
                {
                    "license": "OFL-1.1",
                    "dist": {"tarball": "https://x/caveat.tgz", "integrity": integrity},
                }
            ).encode()

        return _get

    pkg = next(p for p in fonts_mod.FONT_PACKAGES if p.name == "caveat")
    monkeypatch.setattr(fonts_mod, "_get", serve("sha512-" + base64.b64encode(b"0" * 64).decode()))
    with pytest.raises(DataError, match="integrity"):
        fonts_mod.fetch_font(pkg, tmp_path / "bad")
    monkeypatch.setattr(fonts_mod, "_get", serve(good))
    path = fonts_mod.fetch_font(pkg, tmp_path / "good")
    assert path.read_bytes() == woff and (path.parent / "LICENSE").read_bytes() == b"OFL"
