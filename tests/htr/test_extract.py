"""``keyscribe htr extract-lines``: pages cut into the line-folder layout, split by page."""

from __future__ import annotations

import csv
import shutil
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from PIL import Image

from keyscribe.cli import main
from keyscribe.htr.extract import ExtractOptions, split_pages
from keyscribe.htr.lines import read_lines
from keyscribe.htr.pages import read_page

SHARED_PAGES = Path(__file__).parents[2] / ".." / "shared" / "data" / "htr" / "pages" / "alto"


def _run(args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    monkeypatch.setattr(sys, "argv", ["keyscribe", *map(str, args)])
    with pytest.raises(SystemExit) as exc:
        main()
    out, err = capsys.readouterr()
    return int(exc.value.code or 0), out, err


def _pages(pages_dir: Path, dest: Path, copies: int) -> Path:
    """``copies`` pages (the fixture page under several names, all three formats)."""
    dest.mkdir()
    shutil.copy(pages_dir / "01R_crop.jpg", dest / "01R_crop.jpg")
    names = ["01R_crop.alto.xml", "01R_crop.page2013.xml", "01R_crop.page2019.xml"]
    for i in range(copies):
        shutil.copy(pages_dir / names[i % 3], dest / f"p{i:02d}.xml")
    return dest


def _manifest(out: Path) -> list[dict[str, str]]:
    with (out / "manifest.tsv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def test_extract_lines_writes_the_folder_layout_split_by_page(
    pages_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pages = _pages(pages_dir, tmp_path / "pages", 10)
    out = tmp_path / "lines"
    args = ["htr", "extract-lines", pages, "--out", out, "--val", "0.2", "--test", "0.2"]
    code, stdout, err = _run([*args, "--seed", "4"], monkeypatch, capsys)
    assert code == 0, err
    rows = _manifest(out)
    assert len(rows) == 10 * 3 and "wrote" in stdout
    split_of_page = defaultdict(set)
    for row in rows:
        split_of_page[row["source_page"]].add(row["split"])
        image = out / row["image"]
        assert image.parent.name == row["split"] and image.suffix == ".png"
        assert Image.open(image).size == (int(row["width"]), int(row["height"]))
        text = image.with_name(image.stem + ".gt.txt").read_text(encoding="utf-8")
        assert text == row["text"]
        line = next(x for x in read_page(row["source_page"]).lines if x.id == row["line_id"])
        assert line.text == text
    assert all(len(splits) == 1 for splits in split_of_page.values())  # no page straddles
    assert {s for splits in split_of_page.values() for s in splits} == {"train", "val", "test"}
    records = read_lines(out / "train")
    assert len(records) == sum(r["split"] == "train" for r in rows)
    code, _, err = _run([*args, "--seed", "4"], monkeypatch, capsys)
    assert code == 2 and "already holds extracted lines" in err


def test_page_split_is_seeded_and_keeps_pages_whole() -> None:
    sizes = [3, 12, 7, 1, 9, 4, 4, 10, 2, 8]
    options = ExtractOptions(val=0.1, test=0.2, seed=1)
    splits = split_pages(sizes, options)
    assert splits == split_pages(sizes, options)
    lines = {s: sum(n for n, x in zip(sizes, splits, strict=True) if x == s) for s in set(splits)}
    assert set(lines) == {"train", "val", "test"}
    assert abs(lines["test"] - 0.2 * sum(sizes)) <= max(sizes) / 2
    assert abs(lines["val"] - 0.1 * sum(sizes)) <= max(sizes) / 2
    assert split_pages(sizes, ExtractOptions(val=0.0, test=0.0)) == ["train"] * len(sizes)


def test_bad_options_and_no_pages_are_one_line_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(
        [
            "htr",
            "extract-lines",
            tmp_path,
            "--out",
            tmp_path / "o",
            "--val",
            "0.7",
            "--test",
            "0.5",
        ],
        monkeypatch,
        capsys,
    )
    assert code == 2 and "--val and --test" in err and "Traceback" not in err
    code, _, err = _run(
        ["htr", "extract-lines", f"{tmp_path}/*.xml", "--out", tmp_path / "o"], monkeypatch, capsys
    )
    assert code == 2 and "no PAGE/ALTO .xml file matches" in err


@pytest.mark.skipif(not SHARED_PAGES.is_dir(), reason="../shared/data/htr/pages not present")
def test_shared_pages_extract(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(
        [
            "htr",
            "extract-lines",
            f"{SHARED_PAGES}/*.xml",
            "--out",
            tmp_path,
            "--val",
            "0",
            "--test",
            "0.4",
        ],
        monkeypatch,
        capsys,
    )
    assert code == 0, err
    rows = _manifest(tmp_path)
    assert {r["split"] for r in rows} == {"train", "test"}
    assert {r["source_page"] for r in rows} == {str(p) for p in SHARED_PAGES.glob("*.xml")}
